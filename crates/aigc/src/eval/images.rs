//! Generated images measured against held-out real ones in the feature space of the data set's
//! feature network ([`super::feature_cache`]): FID, KID, precision/recall, Inception Score, class
//! coverage, label accuracy and memorisation, written to `eval.json` beside the images' source.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::classifier::argmax;
use super::extractor::{FeatureExtractor, FeatureNetworkReport};
use super::feature_cache::data_extractor;
use super::features::Features;
use super::metrics::{ClassCoverage, Estimate, class_coverage, fid, inception_score, kid, precision_recall};
use super::nearest::nearest_neighbours;
use crate::data::folder::{FolderOptions, load_image_folder};
use crate::data::{DataSource, DataSplits, ImageDataset};
use crate::error::{AigcError, Result};
use crate::io::write_json;
use crate::report;
use crate::run::RunDir;
use crate::sample::{ImageGenerator, SampleLabels};

/// Memorisation: generated samples nearer to a training image than almost any held-out image is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Memorisation {
    /// 1st percentile of held-out images' distances to their nearest training image (pixels, [-1, 1]).
    pub heldout_p1_distance: f64,
    pub heldout_median_distance: f64,
    pub generated_median_distance: f64,
    /// Fraction of generated samples closer to the training set than `heldout_p1_distance`.
    pub copy_fraction: f64,
    pub generated: usize,
    pub heldout: usize,
    /// Side-by-side image of the closest generated/training pairs.
    pub closest_pairs: PathBuf,
}

/// Everything `aigc eval` measures; written as `eval.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub run: PathBuf,
    pub step: usize,
    pub feature_network: FeatureNetworkReport,
    #[serde(flatten)]
    pub comparison: SetComparison,
    /// Class coverage; absent when the data has no labels (its feature network has no classes).
    pub coverage: Option<ClassCoverage>,
    /// Conditional models: the share of samples the feature network assigns to the class they
    /// were generated for (samples cycle through the classes).
    #[serde(default)]
    pub label_accuracy: Option<f64>,
    pub memorisation: Memorisation,
}

impl EvalReport {
    pub fn summary(&self) -> String {
        let coverage = self
            .coverage
            .as_ref()
            .map(|c| format!(", classes covered {}/{} (KL {:.3})", c.covered, c.classes, c.kl_to_data))
            .unwrap_or_default();
        let accuracy = self.label_accuracy.map(|a| format!(", label accuracy {:.1}%", 100.0 * a)).unwrap_or_default();
        format!(
            "step {}: {}{coverage}{accuracy}, copies {:.2}% (held-out p1 distance {:.2})",
            self.step,
            self.comparison.summary(),
            100.0 * self.memorisation.copy_fraction,
            self.memorisation.heldout_p1_distance
        )
    }
}

/// Generated images measured against real ones in a feature space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetComparison {
    pub features: String,
    pub generated: usize,
    pub real: usize,
    pub fid: f64,
    pub kid: Estimate,
    pub precision: f64,
    pub recall: f64,
    pub precision_recall_k: usize,
    /// Samples per set in precision/recall (the smaller of the two sets).
    pub precision_recall_n: usize,
    /// Present when the extractor classifies.
    pub inception_score: Option<Estimate>,
    /// Predicted class of each generated image (when the extractor classifies).
    #[serde(skip)]
    pub predicted: Vec<usize>,
    /// What makes these numbers less trustworthy than they look (too few images).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Below this many images in either set, FID (biased upward at small n) and KID (noisy) are
/// reported with a warning: they rank only large differences.
pub const MIN_RELIABLE_IMAGES: usize = 100;

impl SetComparison {
    /// One line: every number with its sample count.
    pub fn summary(&self) -> String {
        let is = self.inception_score.map(|e| format!(", IS {}", e.show(2))).unwrap_or_default();
        let kid = match self.kid.error() {
            Some(_) => format!("{} (subsets of {})", self.kid.show(4), self.kid.n),
            None => self.kid.show(4),
        };
        let warnings: String = self.warnings.iter().map(|w| format!("; WARNING: {w}")).collect();
        format!(
            "FID {:.2} (n={} vs {} real), KID {kid}, precision {:.3}, recall {:.3} (n={}){is}{warnings}",
            self.fid, self.generated, self.real, self.precision, self.recall, self.precision_recall_n
        )
    }
}

/// FID, KID, precision/recall and (for classifiers) IS of `generated` against `real`.
pub fn compare_sets(extractor: &dyn FeatureExtractor, real: &[f32], generated: &[f32], seed: u64) -> SetComparison {
    compare_with_real_features(extractor, &extractor.features(real), generated, seed)
}

/// As [`compare_sets`], with the real images' features already computed (training-time
/// evaluation reuses them at every evaluation).
pub fn compare_with_real_features(
    extractor: &dyn FeatureExtractor,
    real_features: &Features,
    generated: &[f32],
    seed: u64,
) -> SetComparison {
    let fake_features = extractor.features(generated);
    // Precision and recall compare sets of equal size, as in the paper.
    let equal: Vec<usize> = (0..fake_features.n.min(real_features.n)).collect();
    let (precision, recall) = precision_recall(&real_features.select(&equal), &fake_features.select(&equal), 3);
    let probs = extractor.class_probabilities(generated);
    let fewest = fake_features.n.min(real_features.n);
    let warnings = if fewest < MIN_RELIABLE_IMAGES {
        let warning = format!(
            "only {} generated and {} real images: below {MIN_RELIABLE_IMAGES}, FID is biased upward and KID is noisy, so they rank only large differences",
            fake_features.n, real_features.n
        );
        tracing::warn!("{warning}");
        vec![warning]
    } else {
        Vec::new()
    };
    SetComparison {
        features: extractor.name(),
        generated: fake_features.n,
        real: real_features.n,
        fid: fid(&real_features, &fake_features),
        kid: kid(&real_features, &fake_features, 100, 1000, seed),
        precision,
        recall,
        precision_recall_k: 3,
        precision_recall_n: equal.len(),
        inception_score: probs.as_ref().map(|p| inception_score(p, 10)),
        predicted: probs.map(|p| p.rows().map(argmax).collect()).unwrap_or_default(),
        warnings,
    }
}

/// How many images to measure, and with what.
#[derive(Debug, Clone)]
pub struct ImageEvalSettings {
    /// Generated images.
    pub n: usize,
    /// Noise seed of the generated images (and KID's subsets).
    pub seed: u64,
    pub quiet: bool,
    /// Root of the feature-network cache (see [`super::feature_cache::cache_dir`]).
    pub cache: PathBuf,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn memorisation(generated: &[f32], splits: &DataSplits, out: &Path) -> Result<Memorisation> {
    let dim = splits.train.shape.len();
    let gen_nn = nearest_neighbours(generated, dim, &splits.train);
    let all: Vec<usize> = (0..splits.heldout.len()).collect();
    let held_nn = nearest_neighbours(&splits.heldout.batch_values(&all), dim, &splits.train);
    let mut held: Vec<f64> = held_nn.iter().map(|&(_, d)| d as f64).collect();
    held.sort_by(f64::total_cmp);
    let mut gen_d: Vec<f64> = gen_nn.iter().map(|&(_, d)| d as f64).collect();
    gen_d.sort_by(f64::total_cmp);
    let p1 = percentile(&held, 0.01);
    let copies = gen_nn.iter().filter(|&&(_, d)| (d as f64) < p1).count();
    // The eight closest pairs: generated on top, its nearest training image below.
    let mut order: Vec<usize> = (0..gen_nn.len()).collect();
    order.sort_by(|&a, &b| gen_nn[a].1.total_cmp(&gen_nn[b].1));
    let top: Vec<usize> = order.into_iter().take(8).collect();
    let mut values: Vec<f32> = Vec::new();
    for &i in &top {
        values.extend_from_slice(&generated[i * dim..(i + 1) * dim]);
    }
    let nearest: Vec<usize> = top.iter().map(|&i| gen_nn[i].0).collect();
    values.extend(splits.train.batch_values(&nearest));
    let captions = report::Captions::Rows(&["generated", "nearest training"]);
    report::save_captioned(&values, splits.train.shape, top.len(), captions, out)?;
    Ok(Memorisation {
        heldout_p1_distance: p1,
        heldout_median_distance: percentile(&held, 0.5),
        generated_median_distance: percentile(&gen_d, 0.5),
        copy_fraction: copies as f64 / gen_nn.len().max(1) as f64,
        generated: gen_nn.len(),
        heldout: held_nn.len(),
        closest_pairs: out.to_path_buf(),
    })
}

fn class_distribution(data: &ImageDataset, classes: usize) -> Vec<f64> {
    let mut counts = vec![0.0; classes];
    for &l in data.labels().unwrap_or(&[]) {
        if (l as usize) < classes {
            counts[l as usize] += 1.0;
        }
    }
    let total: f64 = counts.iter().sum::<f64>().max(1.0);
    counts.iter().map(|c| c / total).collect()
}

/// Evaluates `n` images of `generator` (trained on `data` at `image_size`) and writes `eval.json`
/// (and the closest pairs) into `run`.
pub fn evaluate_generator(
    generator: &dyn ImageGenerator,
    data: &str,
    image_size: u32,
    run: &RunDir,
    settings: &ImageEvalSettings,
    device: &Device,
) -> Result<EvalReport> {
    check_eval_count(settings.n, generator.shape())?;
    let splits = DataSource::parse(data).load(image_size)?;
    tracing::info!("generating {} images from the checkpoint of step {}", settings.n, generator.step());
    let started = std::time::Instant::now();
    let generated = generator.generate(settings.n, settings.seed, SampleLabels::Balanced);
    crate::sample::check_finite(&generated, run.root())?;
    tracing::info!("generated {} images in {:.1} s", settings.n, started.elapsed().as_secs_f64());
    let images = EvalImages { data_name: data, splits: &splits, generated: &generated, step: generator.step(), classes: generator.classes() };
    evaluate_images(&images, run, settings, device)
}

/// The most images one evaluation measures (KID, precision/recall and memorisation grow
/// quadratically or with the training set).
pub const MAX_EVAL_IMAGES: usize = 100_000;

fn check_eval_count(n: usize, shape: crate::data::ImageShape) -> Result<()> {
    if !(2..=MAX_EVAL_IMAGES).contains(&n) {
        return Err(AigcError::invalid("n", format!("must be between 2 and {MAX_EVAL_IMAGES}, got {n}")));
    }
    crate::sample::check_count(n, shape, "n")
}

/// What a baseline puts in the generator's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// `--n` training images (sampled without replacement): how good a perfect copier looks, and
    /// what memorisation reports for copies.
    Real,
    /// Uniform noise in [-1, 1]: how bad the worst generator looks.
    Noise,
}

impl Baseline {
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "real" => Ok(Baseline::Real),
            "noise" => Ok(Baseline::Noise),
            other => Err(AigcError::invalid("baseline", format!("expected real or noise, found {other:?}"))),
        }
    }
}

/// `aigc eval --baseline real|noise --data D --out DIR`: the measures of [`evaluate_generator`]
/// for a stand-in generator, written as `DIR/eval.json` (so `aigc report` lists it beside the
/// runs).
pub fn evaluate_baseline(
    baseline: Baseline,
    data_name: &str,
    image_size: u32,
    out: &Path,
    request: &ImageEvalSettings,
    device: &Device,
) -> Result<EvalReport> {
    let splits = DataSource::parse(data_name).load(image_size)?;
    check_eval_count(request.n, splits.train.shape)?;
    let dim = splits.train.shape.len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(request.seed);
    let generated: Vec<f32> = match baseline {
        Baseline::Real => {
            let mut order: Vec<usize> = (0..splits.train.len()).collect();
            order.shuffle(&mut rng);
            order.truncate(request.n);
            splits.train.batch_values(&order)
        }
        Baseline::Noise => (0..request.n * dim).map(|_| rng.random_range(-1.0f32..=1.0)).collect(),
    };
    std::fs::create_dir_all(out).map_err(|e| AigcError::io(out, e))?;
    let images = EvalImages { data_name, splits: &splits, generated: &generated, step: 0, classes: 0 };
    evaluate_images(&images, &RunDir::new(out), request, device)
}

/// Generated images and the data they are measured against.
struct EvalImages<'a> {
    data_name: &'a str,
    splits: &'a DataSplits,
    generated: &'a [f32],
    step: usize,
    /// Classes of a conditional generator, whose image `i` was generated for class `i mod
    /// classes` (0: unconditional).
    classes: usize,
}

/// Every measure of `aigc eval`, written to `out/eval.json` (and `out/eval-closest-pairs.png`).
fn evaluate_images(images: &EvalImages, out: &RunDir, request: &ImageEvalSettings, device: &Device) -> Result<EvalReport> {
    let splits = images.splits;
    let labelled = splits.train.labels().is_some();
    let extractor = data_extractor(images.data_name, splits, &request.cache, device, request.quiet)?;
    let network_report = extractor.report();
    let all: Vec<usize> = (0..splits.heldout.len()).collect();
    let started = std::time::Instant::now();
    let comparison = compare_sets(extractor.as_ref(), &splits.heldout.batch_values(&all), images.generated, request.seed);
    tracing::info!("measured {} generated against {} real images in {:.1} s", comparison.generated, comparison.real, started.elapsed().as_secs_f64());
    let coverage = (labelled && network_report.classes() > 0)
        .then(|| class_coverage(&comparison.predicted, &class_distribution(&splits.train, network_report.classes())));
    let classes = images.classes;
    let label_accuracy = (classes > 0 && !comparison.predicted.is_empty()).then(|| {
        let hits = comparison.predicted.iter().enumerate().filter(|&(i, &p)| p == i % classes).count();
        hits as f64 / comparison.predicted.len() as f64
    });
    let report = EvalReport {
        run: out.root().to_path_buf(),
        step: images.step,
        feature_network: network_report,
        comparison,
        coverage,
        label_accuracy,
        memorisation: memorisation(images.generated, splits, &out.closest_pairs())?,
    };
    write_json(&out.image_eval(), &report)?;
    Ok(report)
}

/// `aigc eval --real DIR --fake DIR`: what to compare and with which feature network.
#[derive(Debug, Clone)]
pub struct FoldersRequest {
    pub real: PathBuf,
    pub fake: PathBuf,
    /// [`REAL_FEATURES`] (a network trained on the real folder) or a data set whose network to use.
    pub features: String,
    /// Side the images are resized to for [`REAL_FEATURES`] (a data set's network takes its own size).
    pub image_size: u32,
    pub seed: u64,
    pub quiet: bool,
}

/// `--features real`: the feature network of the real folder itself, trained on first use: a
/// classifier when it has one subfolder per class, else a self-supervised encoder.
pub const REAL_FEATURES: &str = "real";

/// Two image folders compared in a feature space (see [`super::extractor`]).
pub fn evaluate_folders(request: &FoldersRequest, cache: &Path, device: &Device) -> Result<SetComparison> {
    let at_least_two = |dir: &Path, n: usize| if n < 2 { Err(AigcError::bad_data(dir, "needs at least 2 images")) } else { Ok(()) };
    let (extractor, real) = if request.features == REAL_FEATURES {
        let name = crate::data::absolute(&request.real.display().to_string());
        let splits = DataSource::parse(&name).load(request.image_size)?;
        let (train, heldout) = (&splits.train, &splits.heldout);
        at_least_two(&request.real, train.len() + heldout.len())?;
        let mut real = train.batch_values(&(0..train.len()).collect::<Vec<_>>());
        if heldout.len() != train.len() || heldout.pixels() != train.pixels() {
            real.extend(heldout.batch_values(&(0..heldout.len()).collect::<Vec<_>>()));
        }
        (data_extractor(&name, &splits, cache, device, request.quiet)?, real)
    } else {
        let splits = DataSource::parse(&request.features).load(28)?;
        let extractor = data_extractor(&request.features, &splits, cache, device, request.quiet)?;
        let real = load_folder(&request.real, extractor.input_shape())?;
        at_least_two(&request.real, real.len() / extractor.input_shape().len())?;
        (extractor, real)
    };
    let shape = extractor.input_shape();
    let fake = load_folder(&request.fake, shape)?;
    at_least_two(&request.fake, fake.len() / shape.len())?;
    Ok(compare_sets(extractor.as_ref(), &real, &fake, request.seed))
}

/// Every image of a folder at `shape`'s size and channels, as floats.
fn load_folder(dir: &Path, shape: crate::data::ImageShape) -> Result<Vec<f32>> {
    let images = load_image_folder(dir, FolderOptions { size: shape.height as u32, channels: Some(shape.channels) })?;
    Ok(images.batch_values(&(0..images.len()).collect::<Vec<_>>()))
}

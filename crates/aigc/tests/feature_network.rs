//! The feature network and the metrics on real images: it reaches the accuracy on the
//! embedded digits' held-out 1,000; FID/KID pass the disturbance tests of the FID paper (noise,
//! blur, removing classes); `evaluate_run` writes a complete `eval.json`. The network is trained
//! once and shared by the tests of this binary.

use std::sync::OnceLock;

use aigc::burn::tensor::Device;
use aigc::data::{DataSplits, ImageDataset, embedded};
use aigc::eval::classifier::{Classifier, ClassifierReport, ClassifierTrainConfig, extract_features, train_classifier};
use aigc::eval::feature_cache::save_feature_network;
use aigc::eval::images::ImageEvalSettings;
use aigc::eval::{Features, fid, kid};
use aigc::families::gan::{GanTrainConfig, train as train_gan};
use aigc::run::{CheckpointChoice, RunDir};
use aigc::sample::SampleLabels;
use aigc::service::eval::{EvalRequest, RunEvaluation, evaluate};
use aigc::train::TrainOptions;

/// `aigc eval --run` of an image run.
fn evaluate_run(request: &EvalRequest, device: &Device) -> aigc::eval::images::EvalReport {
    match evaluate(request, device).unwrap() {
        RunEvaluation::Images(report) => *report,
        RunEvaluation::Melodies(_) | RunEvaluation::Text(_) => panic!("an image run evaluates its images"),
    }
}

struct Shared {
    data: DataSplits,
    model: Classifier,
    report: ClassifierReport,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let data = embedded::mnist_digits().unwrap();
        let start = std::time::Instant::now();
        let run = tempfile::tempdir().unwrap();
        let (model, report) =
            train_classifier(&data.train, &data.heldout, "mnist", &ClassifierTrainConfig::new(), run.path(), &Device::flex(), true)
                .unwrap();
        // The training was a run of the shared loop: a manifest, a checkpoint per epoch (the
        // last one kept), a metrics log.
        let trained = RunDir::new(run.path());
        assert_eq!(trained.manifest().unwrap().family.as_deref(), Some(aigc::eval::classifier::FAMILY));
        assert_eq!(trained.latest_step().unwrap(), Some(10 * (9000 / 64)));
        assert!(!trained.metrics().read::<serde_json::Value>().unwrap().is_empty());
        eprintln!("held-out accuracy {:.4} in {:.1} s", report.heldout_accuracy, start.elapsed().as_secs_f64());
        Shared { data, model, report }
    })
}

fn features_of(values: &[f32]) -> Features {
    extract_features(&shared().model, values, 784, &Device::flex())
}

fn first(n: usize) -> Vec<usize> {
    (0..n).collect()
}

#[test]
fn digit_classifier_reaches_98_percent_and_its_features_separate_real_from_noise() {
    let s = shared();
    assert!(s.report.heldout_accuracy >= 0.98, "{:?}", s.report);
    assert_eq!((s.report.classes, s.report.heldout_images), (10, 1000));
    let train = features_of(&s.data.train.batch_values(&first(1000)));
    let heldout = features_of(&s.data.heldout.batch_values(&first(1000)));
    assert_eq!(train.d, 128);
    let noise: Vec<f32> = (0..1000 * 784).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let (real_vs_real, real_vs_noise) = (fid(&train, &heldout), fid(&train, &features_of(&noise)));
    eprintln!("FID train/held-out {real_vs_real:.3}, train/noise {real_vs_noise:.3}");
    assert!(real_vs_noise > 20.0 * real_vs_real, "{real_vs_real} vs {real_vs_noise}");
}

/// Deterministic "noise" in [-1, 1] (a hash of the position), so the test needs no RNG.
fn hashed(i: usize) -> f32 {
    ((i.wrapping_mul(2_654_435_761) % 10_000) as f32 / 5_000.0) - 1.0
}

fn box_blur(values: &[f32], radius: isize) -> Vec<f32> {
    let mut out = values.to_vec();
    for (img, dst) in values.chunks_exact(784).zip(out.chunks_exact_mut(784)) {
        for y in 0..28isize {
            for x in 0..28isize {
                let (mut sum, mut count) = (0.0, 0.0);
                for dy in -radius..=radius {
                    for dx in -radius..=radius {
                        let (yy, xx) = (y + dy, x + dx);
                        if (0..28).contains(&yy) && (0..28).contains(&xx) {
                            sum += img[(yy * 28 + xx) as usize];
                            count += 1.0;
                        }
                    }
                }
                dst[(y * 28 + x) as usize] = sum / count;
            }
        }
    }
    out
}

fn assert_increasing(name: &str, reference: &Features, disturbed: Vec<Features>) {
    let fids: Vec<f64> = disturbed.iter().map(|f| fid(reference, f)).collect();
    let kids: Vec<f64> = disturbed.iter().map(|f| kid(reference, f, 20, 300, 1).mean).collect();
    eprintln!("{name}: FID {fids:.2?} KID {kids:.3?}");
    assert!(fids.windows(2).all(|w| w[1] > w[0]), "{name}: FID not increasing {fids:?}");
    assert!(kids.windows(2).all(|w| w[1] > w[0]), "{name}: KID not increasing {kids:?}");
}

#[test]
fn fid_and_kid_grow_with_noise_blur_and_missing_classes() {
    let s = shared();
    let reference = features_of(&s.data.train.batch_values(&first(1000)));
    let heldout: Vec<f32> = s.data.heldout.batch_values(&first(1000));
    let noisy = |level: f32| -> Vec<f32> {
        heldout.iter().enumerate().map(|(i, v)| (v + level * hashed(i)).clamp(-1.0, 1.0)).collect()
    };
    assert_increasing("noise", &reference, [0.0, 0.25, 0.5, 1.0].iter().map(|&l| features_of(&noisy(l))).collect());
    assert_increasing("blur", &reference, [0, 1, 2, 3].iter().map(|&r| features_of(&box_blur(&heldout, r))).collect());
    // Held-out images of the first k classes only, resampled to 1000 images.
    let keep = |classes: u16| -> Vec<f32> {
        let held: &ImageDataset = &s.data.heldout;
        let idx: Vec<usize> = (0..held.len()).filter(|&i| held.label(i).unwrap() < classes).collect();
        let resampled: Vec<usize> = (0..1000).map(|i| idx[i % idx.len()]).collect();
        held.batch_values(&resampled)
    };
    assert_increasing("classes", &reference, [10, 7, 4, 1].iter().map(|&k| features_of(&keep(k))).collect());
}

#[test]
fn evaluate_run_writes_every_metric_with_its_sample_count() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    save_feature_network(&cache, "mnist", &s.data, &s.model, &s.report).unwrap();
    let run = dir.path().join("run");
    let config = GanTrainConfig::new().with_steps(Some(20)).with_batch_size(16).with_checkpoint_every(20);
    train_gan(&config, &run, &TrainOptions { resume: false, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }).unwrap();
    let request = EvalRequest { run: run.clone(), n: Some(300), checkpoint: CheckpointChoice::Latest, seed: 1, quiet: true, cache, sampler: Default::default() };
    let report = evaluate_run(&request, &Device::flex());
    eprintln!("{}", report.summary());
    let c = &report.comparison;
    assert_eq!((report.step, c.generated, c.real, c.precision_recall_n), (20, 300, 1000, 300));
    assert!(c.fid > 0.0 && c.kid.n == 300 && c.kid.std >= 0.0 && c.inception_score.is_some());
    assert!((0.0..=1.0).contains(&c.precision) && (0.0..=1.0).contains(&c.recall));
    let coverage = report.coverage.as_ref().expect("the digits are labelled");
    assert_eq!(coverage.classes, 10);
    assert_eq!(coverage.histogram.iter().sum::<usize>(), 300);
    assert_eq!(report.label_accuracy, None, "an unconditional run has no label accuracy");
    assert!((0.0..=1.0).contains(&report.memorisation.copy_fraction));
    assert!(report.memorisation.closest_pairs.is_file());
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(written["generated"].as_u64(), Some(300));
    assert!((written["fid"].as_f64().unwrap() - c.fid).abs() < 1e-9 * c.fid);
    // After only 20 steps the samples are far from real digits: FID far above real-vs-real.
    let train = features_of(&s.data.train.batch_values(&first(1000)));
    let heldout = features_of(&s.data.heldout.batch_values(&first(1000)));
    assert!(c.fid > 5.0 * fid(&train, &heldout), "{} vs real {}", c.fid, fid(&train, &heldout));
}

#[test]
fn two_image_folders_are_compared_with_a_data_sets_feature_network() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    save_feature_network(&cache, "mnist", &s.data, &s.model, &s.report).unwrap();
    let shape = s.data.train.shape;
    let heldout = dir.path().join("heldout");
    let train = dir.path().join("train");
    let noise = dir.path().join("noise");
    let save = |values: &[f32], dir: &std::path::Path| {
        for (i, png) in aigc::report::image_pngs(values, shape).iter().enumerate() {
            aigc::io::write_atomic(&dir.join(format!("{i:04}.png")), png).unwrap();
        }
    };
    save(&s.data.heldout.batch_values(&first(300)), &heldout);
    save(&s.data.train.batch_values(&first(300)), &train);
    let noise_values: Vec<f32> = (0..300 * 784).map(hashed).collect();
    save(&noise_values, &noise);
    let device = Device::flex();
    let folders = |real: &std::path::Path, fake: &std::path::Path| aigc::service::eval::FoldersRequest {
        real: real.to_path_buf(),
        fake: fake.to_path_buf(),
        features: "mnist".into(),
        image_size: 28,
        seed: 1,
        quiet: true,
    };
    let real = aigc::service::eval::evaluate_folders(&folders(&heldout, &train), &cache, &device).unwrap();
    let fake = aigc::service::eval::evaluate_folders(&folders(&heldout, &noise), &cache, &device).unwrap();
    eprintln!("folders: real/real FID {:.2}, real/noise FID {:.2}", real.fid, fake.fid);
    assert_eq!((real.generated, real.real, real.kid.n), (300, 300, 300));
    assert!(fake.fid > 20.0 * real.fid && fake.kid.mean > 10.0 * real.kid.mean.max(1e-3));
    assert!(real.recall > 0.5 && fake.recall < 0.05, "{} {}", real.recall, fake.recall);
    assert!(real.features.contains("mnist"));
    // An empty folder is named in the error.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = aigc::service::eval::evaluate_folders(&folders(&heldout, &empty), &cache, &device).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn eval_every_logs_metrics_and_keeps_the_best_checkpoint() {
    use aigc::families::gan::EvalMetrics;
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    save_feature_network(&cache, "mnist", &s.data, &s.model, &s.report).unwrap();
    let out = dir.path().join("run");
    let mut config = GanTrainConfig::new().with_steps(Some(30)).with_batch_size(16).with_eval_samples(200);
    config.eval_every = Some(10);
    let options = TrainOptions { resume: false, force: false, quiet: true, device: Device::flex(), feature_cache: Some(cache), control: None };
    train_gan(&config, &out, &options).unwrap();
    let run = RunDir::new(&out);
    let evals: Vec<EvalMetrics> = run.metrics().read().unwrap();
    assert_eq!(evals.iter().map(|m| m.step).collect::<Vec<_>>(), vec![10, 20, 30]);
    assert!(evals.iter().all(|m| m.samples == 200 && m.kid.is_finite() && m.fid > 0.0));
    let best_kid = evals.iter().map(|m| m.kid).fold(f64::INFINITY, f64::min);
    let best_step = evals.iter().find(|m| m.kid == best_kid).unwrap().step;
    let best = aigc::families::open(&out).unwrap().images(CheckpointChoice::Best, &Device::flex()).unwrap();
    assert_eq!(best.step(), best_step, "best/ holds the lowest-KID checkpoint");
    let summary = aigc::service::runs::summarize_runs(dir.path()).unwrap();
    assert_eq!(summary[0].best_metric, Some(("kid".to_string(), best_kid)));
}

/// A class-conditional GAN follows its label: after 600 steps the feature network assigns most
/// samples to the class they were generated for (measured 41%; chance 10%).
#[test]
fn conditional_gan_follows_its_label() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    save_feature_network(&cache, "mnist", &s.data, &s.model, &s.report).unwrap();
    let run = dir.path().join("run");
    let config = GanTrainConfig::new().with_steps(Some(600)).with_conditional(true).with_seed(5);
    let options = TrainOptions { resume: false, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None };
    train_gan(&config, &run, &options).unwrap();
    let request = EvalRequest { run: run.clone(), n: Some(500), checkpoint: CheckpointChoice::Latest, seed: 3, quiet: true, cache, sampler: Default::default() };
    let report = evaluate_run(&request, &Device::flex());
    let accuracy = report.label_accuracy.expect("a conditional run");
    eprintln!("conditional GAN, 600 steps: label accuracy {:.1}%", 100.0 * accuracy);
    assert!(accuracy > 0.25, "label accuracy {accuracy} (chance: 0.1)");
    // `aigc sample --class 7`: every sample asks for a 7; most are classified as one.
    let loaded = aigc::families::open(&run).unwrap().images(CheckpointChoice::Latest, &Device::flex()).unwrap();
    let sevens = loaded.generate(200, 9, SampleLabels::Class(7));
    let probs = aigc::eval::classifier::class_probabilities(&s.model, &sevens, 784, &Device::flex());
    let hits = probs.rows().filter(|p| aigc::eval::classifier::argmax(p) == 7).count();
    assert!(hits > 50, "{hits}/200 samples of class 7 look like a 7 (chance: 20)");
}

/// `aigc eval --baseline`: training images score near-perfectly (and count as copies), noise
/// scores terribly; `aigc report` lists both with a run.
#[test]
fn baselines_bracket_the_metrics_and_the_report_lists_them() {
    use aigc::service::eval::{Baseline, evaluate_baseline};
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    save_feature_network(&cache, "mnist", &s.data, &s.model, &s.report).unwrap();
    let request = |_: &std::path::Path| ImageEvalSettings { n: 300, seed: 1, quiet: true, cache: cache.clone() };
    let runs = dir.path().join("runs");
    let (real_dir, noise_dir) = (runs.join("baseline-real"), runs.join("baseline-noise"));
    let real = evaluate_baseline(Baseline::Real, "mnist", 28, &real_dir, &request(&real_dir), &Device::flex()).unwrap();
    let noise = evaluate_baseline(Baseline::Noise, "mnist", 28, &noise_dir, &request(&noise_dir), &Device::flex()).unwrap();
    assert!(real.comparison.fid * 20.0 < noise.comparison.fid, "{} vs {}", real.comparison.fid, noise.comparison.fid);
    assert_eq!(real.memorisation.copy_fraction, 1.0, "training images are copies of themselves");
    assert_eq!(noise.memorisation.copy_fraction, 0.0);
    assert!(real.coverage.as_ref().unwrap().covered == 10 && noise.coverage.as_ref().unwrap().covered <= 2);
    let listed = aigc::service::runs::evaluated_runs(&runs).unwrap();
    let table = aigc::service::runs::markdown_table(&listed);
    assert!(table.contains("| baseline-noise |") && table.contains("| baseline-real |") && table.contains("100.00%"), "{table}");
    assert!(Baseline::parse("copy").unwrap_err().to_string().starts_with("baseline: "));
}

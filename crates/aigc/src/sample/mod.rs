//! Sampling from trained models (GANs and VAEs): noise grids, one row per class for conditional
//! models, and latent interpolation strips with an animated GIF.

pub mod text;

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::data::{DataSource, ImageShape};
use crate::error::{AigcError, Result};
use crate::report;
use crate::train::config::read_toml_config;
use burn::module::Module;

use crate::models::gan::{GanGenerator, Generator};
use crate::models::vae::Vae;
use crate::models::vae::build_vae;
use crate::train::gan::{GENERATOR_EMA_FILE, GENERATOR_FILE, SampleLabels, build_gan, dataset_labels, generate_many, load_module};
use crate::train::vae::{VAE_MODEL, VaeTrainConfig};
use crate::train::{GanTrainConfig, RunDir};
use burn::tensor::Tensor;

/// What `aigc sample` writes.
#[derive(Debug, Clone)]
pub struct SampleRequest {
    pub run: PathBuf,
    pub n: usize,
    pub seed: u64,
    pub out: Option<PathBuf>,
    pub individual: Option<PathBuf>,
    pub checkpoint: CheckpointChoice,
    /// `--class K` of a conditional run (otherwise a grid with one class per row).
    pub class: Option<usize>,
    /// Latent interpolation strips instead of independent samples.
    pub interpolate: bool,
}

/// Which model family a run trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Gan,
    Vae,
}

/// Reads the family from a run's `config.toml` (VAE configs carry `model = "vae"`).
pub fn run_kind(run: &RunDir) -> Result<RunKind> {
    if !run.root().exists() {
        return Err(AigcError::Missing { path: run.root().to_path_buf(), hint: " (--run expects a run directory)".into() });
    }
    if !run.exists() {
        return Err(AigcError::bad_data(run.root(), "not a run directory: it has no config.toml"));
    }
    let path = run.config();
    let text = std::fs::read_to_string(&path).map_err(|e| AigcError::io(&path, e))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| AigcError::BadConfig { path: path.clone(), problem: format!("not valid TOML: {e}") })?;
    Ok(match table.get("model").and_then(|v| v.as_str()) {
        Some(VAE_MODEL) => RunKind::Vae,
        Some(crate::train::text::TEXT_MODEL) => {
            return Err(AigcError::bad_argument(
                "--run",
                format!("{} is a language model: use `aigc generate --run {0}` (or `aigc poem`, `aigc chat`)", run.root().display()),
            ));
        }
        _ => RunKind::Gan,
    })
}

/// Reads a VAE run's saved config.
pub fn load_vae_config(run: &RunDir) -> Result<VaeTrainConfig> {
    read_toml_config(&run.config(), &VaeTrainConfig::new())
}

/// Reads a run's saved config.
pub fn load_run_config(run: &RunDir) -> Result<GanTrainConfig> {
    if !run.root().exists() {
        return Err(AigcError::Missing { path: run.root().to_path_buf(), hint: " (--run expects a run directory)".into() });
    }
    if !run.exists() {
        return Err(AigcError::bad_data(run.root(), "not a run directory: it has no config.toml"));
    }
    read_toml_config(&run.config(), &GanTrainConfig::new())
}

/// The image shape and class count a run was trained on (from its data source, without loading
/// all the data for the embedded digits).
pub(crate) fn run_image_shape(data: &str, image_size: u32) -> Result<(ImageShape, usize)> {
    match DataSource::parse(data) {
        DataSource::Mnist | DataSource::FashionMnist => {
            let side = image_size as usize;
            Ok((ImageShape::new(1, side, side), 10))
        }
        source => {
            let train = source.load(image_size)?.train;
            Ok((train.shape, train.class_names.len()))
        }
    }
}

/// Which checkpoint of a run to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointChoice {
    Latest,
    /// The lowest-KID checkpoint kept by `--eval-every`.
    Best,
    Step(usize),
}

impl CheckpointChoice {
    /// Parses `--checkpoint latest|best|STEP`.
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "latest" => Ok(Self::Latest),
            "best" => Ok(Self::Best),
            step => step.parse().map(Self::Step).map_err(|_| {
                AigcError::bad_argument("--checkpoint", format!("expected latest, best or a step number, got {step:?}"))
            }),
        }
    }
}

impl CheckpointChoice {
    /// The chosen checkpoint of `run`: its state and directory.
    pub fn resolve(self, run: &RunDir) -> Result<(crate::train::TrainState, PathBuf)> {
        let checkpoints = run.checkpoints(usize::MAX);
        match self {
            CheckpointChoice::Step(step) => checkpoints.at_step(step),
            CheckpointChoice::Latest => {
                checkpoints.latest()?.ok_or_else(|| AigcError::bad_data(run.root(), "has no checkpoint yet (train it first)"))
            }
            CheckpointChoice::Best => run.best_checkpoint().latest()?.ok_or_else(|| {
                AigcError::bad_data(run.root(), "has no best checkpoint (train with --eval-every N to keep one)")
            }),
        }
    }
}

/// The GAN generator weights to sample with in a checkpoint: the weight-averaged ones when the
/// run kept them.
pub(crate) fn sampling_generator_file(checkpoint: &Path) -> PathBuf {
    let ema = checkpoint.join(GENERATOR_EMA_FILE);
    if ema.is_file() { ema } else { checkpoint.join(GENERATOR_FILE) }
}

/// A trained model that maps noise to images.
#[derive(Module, Debug)]
pub enum SampleModel {
    Gan(GanGenerator),
    /// A VAE samples from its prior through the decoder.
    Vae(Vae),
}

impl Generator for SampleModel {
    fn latent_dim(&self) -> usize {
        match self {
            Self::Gan(g) => g.latent_dim(),
            Self::Vae(v) => v.latent_dim(),
        }
    }

    fn classes(&self) -> usize {
        match self {
            Self::Gan(g) => g.classes(),
            Self::Vae(v) => v.classes(),
        }
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Gan(g) => g.generate(z),
            Self::Vae(v) => v.generate(z),
        }
    }
}

/// A run's trained generator (the weight-averaged one when a GAN run kept it; a VAE's decoder),
/// ready to sample.
pub struct RunGenerator {
    pub kind: RunKind,
    /// The run's data source and image size.
    pub data: String,
    pub image_size: u32,
    pub shape: ImageShape,
    pub generator: SampleModel,
    /// Step of the checkpoint it came from.
    pub step: usize,
}

impl RunGenerator {
    /// Loads the chosen checkpoint.
    pub fn load(run: &RunDir, checkpoint: CheckpointChoice, device: &Device) -> Result<Self> {
        let kind = run_kind(run)?;
        let (state, dir) = checkpoint.resolve(run)?;
        let (data, image_size, generator, shape) = match kind {
            RunKind::Gan => {
                let config = load_run_config(run)?;
                let (shape, classes) = run_image_shape(&config.data, config.image_size)?;
                device.seed(config.seed);
                let (generator, _) = build_gan(&config, shape, classes, device)?;
                let weights = sampling_generator_file(&dir);
                (config.data, config.image_size, SampleModel::Gan(load_module(generator.valid(), &weights)?), shape)
            }
            RunKind::Vae => {
                let config = load_vae_config(run)?;
                let (shape, classes) = run_image_shape(&config.data, config.image_size)?;
                let classes = if config.conditional { classes } else { 0 };
                let model = build_vae(&config.arch, shape, config.latent_dim, classes, device)?;
                let model = load_module(model.valid(), &dir.join(GENERATOR_FILE))?;
                (config.data, config.image_size, SampleModel::Vae(model), shape)
            }
        };
        Ok(Self { kind, data, image_size, shape, generator, step: state.step })
    }

    /// `n` images from noise seeded by `seed`, as `[n, image_dim]` values in [-1, 1].
    pub fn generate(&self, n: usize, seed: u64, labels: SampleLabels, device: &Device) -> Vec<f32> {
        generate_many(&self.generator, n, seed, labels, device)
    }

    /// Classes of a conditional generator (0 = unconditional).
    pub fn classes(&self) -> usize {
        self.generator.classes()
    }

    /// `rows` interpolation strips of `steps` images: between the latents of two seeded noise
    /// vectors (spherical interpolation, which keeps a Gaussian latent's norm), or for a VAE
    /// between the posterior means of two held-out images.
    pub fn interpolate(&self, rows: usize, steps: usize, seed: u64, labels: SampleLabels, device: &Device) -> Result<Vec<f32>> {
        let latent = self.generator.latent_dim();
        let (starts, ends) = match &self.generator {
            SampleModel::Vae(vae) => {
                let splits = DataSource::parse(&self.data).load(self.image_size)?;
                let n = splits.heldout.len();
                let pick = |i: usize| ((seed as usize).wrapping_mul(7919).wrapping_add(i * 104_729)) % n;
                let a: Vec<usize> = (0..rows).map(|r| pick(2 * r)).collect();
                let b: Vec<usize> = (0..rows).map(|r| pick(2 * r + 1)).collect();
                let encode = |idx: &[usize]| {
                    let labels = dataset_labels(&splits.heldout, idx, vae.classes(), device);
                    to_vec(vae.encode(splits.heldout.batch(idx, device), labels).0)
                };
                (encode(&a), encode(&b))
            }
            SampleModel::Gan(_) => {
                let z = to_vec(crate::train::gan::fixed_noise(seed, 2 * rows, latent, device));
                (z[..rows * latent].to_vec(), z[rows * latent..].to_vec())
            }
        };
        let spherical = matches!(self.generator, SampleModel::Gan(_));
        let mut z = Vec::with_capacity(rows * steps * latent);
        for r in 0..rows {
            let (a, b) = (&starts[r * latent..(r + 1) * latent], &ends[r * latent..(r + 1) * latent]);
            for s in 0..steps {
                let t = s as f32 / (steps - 1).max(1) as f32;
                z.extend(if spherical { slerp(a, b, t) } else { a.iter().zip(b).map(|(a, b)| a + t * (b - a)).collect() });
            }
        }
        let z = Tensor::from_data(burn::tensor::TensorData::new(z, [rows * steps, latent]), device);
        // Each strip keeps one class (row r: class r) for conditional models.
        let labels = match labels {
            SampleLabels::Class(k) => SampleLabels::Class(k),
            _ => SampleLabels::Rows { cols: steps },
        };
        Ok(crate::train::gan::generate_values(&self.generator, z, labels))
    }
}

fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

/// Spherical interpolation between two vectors (linear when they are nearly parallel).
fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    let cos = (a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))).clamp(-1.0, 1.0);
    let omega = cos.acos();
    if omega.abs() < 1e-4 {
        return a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect();
    }
    let (wa, wb) = (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin());
    a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect()
}

/// Generates `n` images from a run's generator; returns the grid's path.
pub fn sample_run(request: &SampleRequest, device: &Device) -> Result<PathBuf> {
    if request.n == 0 {
        return Err(AigcError::bad_argument("--n", "must be at least 1"));
    }
    let run = RunDir::new(&request.run);
    let loaded = RunGenerator::load(&run, request.checkpoint, device)?;
    let classes = loaded.classes();
    let mut n = request.n;
    let mut cols = (n as f64).sqrt().ceil() as usize;
    if classes > 0 && request.class.is_none() {
        // One row per class.
        cols = n.div_ceil(classes);
        n = cols * classes;
    }
    let labels = match request.class {
        Some(_) if classes == 0 => {
            return Err(AigcError::bad_argument("--class", format!("{} is not a conditional run", run.root().display())));
        }
        Some(k) if k >= classes => {
            return Err(AigcError::bad_argument("--class", format!("{k} is not a class of this run (0..{})", classes - 1)));
        }
        Some(k) => SampleLabels::Class(k),
        None => SampleLabels::Rows { cols },
    };
    if request.interpolate {
        const STEPS: usize = 10;
        let rows = match (classes, request.class) {
            (0, _) | (_, Some(_)) => request.n.div_ceil(STEPS).max(1),
            (classes, None) => classes,
        };
        let values = loaded.interpolate(rows, STEPS, request.seed, labels, device)?;
        let out = request.out.clone().unwrap_or_else(|| run.root().join(format!("interpolation-seed{}.png", request.seed)));
        report::save_grid(&values, loaded.shape, STEPS, &out)?;
        // The first strip, forwards and back, as an animation.
        let frames: Vec<&[f32]> = values.chunks_exact(loaded.shape.len()).take(STEPS).collect();
        let looped: Vec<&[f32]> = frames.iter().chain(frames.iter().rev().skip(1).take(STEPS - 2)).copied().collect();
        report::save_gif(&looped, loaded.shape, 4, &out.with_extension("gif"))?;
        return Ok(out);
    }
    let values = loaded.generate(n, request.seed, labels, device);
    let out = request.out.clone().unwrap_or_else(|| default_grid_path(run.root(), request.seed));
    report::save_grid(&values, loaded.shape, cols, &out)?;
    if let Some(dir) = &request.individual {
        report::save_images(&values, loaded.shape, dir)?;
    }
    Ok(out)
}

pub fn default_grid_path(run: &Path, seed: u64) -> PathBuf {
    run.join(format!("sample-seed{seed}.png"))
}

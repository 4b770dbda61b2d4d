//! Sampling from trained models: noise grids for image generators.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::data::{DataSource, ImageShape};
use crate::error::{AigcError, Result};
use crate::report;
use crate::train::config::read_toml_config;
use burn::module::Module;

use crate::models::gan::GanGenerator;
use crate::train::gan::{GENERATOR_EMA_FILE, GENERATOR_FILE, SampleLabels, build_gan, generate_many, load_module};
use crate::train::{GanTrainConfig, RunDir};

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

/// The image shape a run was trained on (from its data source, without loading all the data
/// for the embedded digits).
fn run_image_shape(config: &GanTrainConfig) -> Result<(ImageShape, usize)> {
    match DataSource::parse(&config.data) {
        DataSource::Mnist | DataSource::FashionMnist => {
            let side = config.image_size as usize;
            Ok((ImageShape::new(1, side, side), 10))
        }
        source => {
            let train = source.load(config.image_size)?.train;
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

/// A run's trained generator (the weight-averaged one when the run kept it), ready to sample.
pub struct RunGenerator {
    pub config: GanTrainConfig,
    pub shape: ImageShape,
    pub generator: GanGenerator,
    /// Step of the checkpoint it came from.
    pub step: usize,
}

impl RunGenerator {
    /// Loads the chosen checkpoint.
    pub fn load(run: &RunDir, checkpoint: CheckpointChoice, device: &Device) -> Result<Self> {
        let config = load_run_config(run)?;
        let checkpoints = run.checkpoints(usize::MAX);
        let (state, dir) = match checkpoint {
            CheckpointChoice::Step(step) => checkpoints.at_step(step)?,
            CheckpointChoice::Latest => checkpoints
                .latest()?
                .ok_or_else(|| AigcError::bad_data(run.root(), "has no checkpoint yet (train it first)"))?,
            CheckpointChoice::Best => run.best_checkpoint().latest()?.ok_or_else(|| {
                AigcError::bad_data(run.root(), "has no best checkpoint (train with --eval-every N to keep one)")
            })?,
        };
        let (shape, classes) = run_image_shape(&config)?;
        device.seed(config.seed);
        let (generator, _) = build_gan(&config, shape, classes, device)?;
        let ema = dir.join(GENERATOR_EMA_FILE);
        let weights = if ema.is_file() { ema } else { dir.join(GENERATOR_FILE) };
        let generator = load_module(generator.valid(), &weights)?;
        Ok(Self { config, shape, generator, step: state.step })
    }

    /// `n` images from noise seeded by `seed`, as `[n, image_dim]` values in [-1, 1].
    pub fn generate(&self, n: usize, seed: u64, labels: SampleLabels, device: &Device) -> Vec<f32> {
        generate_many(&self.generator, n, seed, labels, device)
    }

    /// Classes of a conditional generator (0 = unconditional).
    pub fn classes(&self) -> usize {
        crate::models::gan::Generator::classes(&self.generator)
    }
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

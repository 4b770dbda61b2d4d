//! Sampling from trained models: noise grids for image generators.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::data::{DataSource, ImageShape};
use crate::error::{AigcError, Result};
use crate::report;
use crate::train::config::read_toml_config;
use burn::module::Module;

use crate::models::gan::MlpGenerator;
use crate::train::gan::{GENERATOR_EMA_FILE, GENERATOR_FILE, build_mlp_gan, generate_many, load_module};
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
fn run_image_shape(config: &GanTrainConfig) -> Result<ImageShape> {
    match DataSource::parse(&config.data) {
        DataSource::Mnist | DataSource::FashionMnist => Ok(ImageShape::new(1, 28, 28)),
        source => Ok(source.load(config.image_size)?.train.shape),
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
    pub generator: MlpGenerator,
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
        let shape = run_image_shape(&config)?;
        device.seed(config.seed);
        let (generator, _) = build_mlp_gan(&config, shape, device);
        let ema = dir.join(GENERATOR_EMA_FILE);
        let weights = if ema.is_file() { ema } else { dir.join(GENERATOR_FILE) };
        let generator = load_module(generator.valid(), &weights)?;
        Ok(Self { config, shape, generator, step: state.step })
    }

    /// `n` images from noise seeded by `seed`, as `[n, image_dim]` values in [-1, 1].
    pub fn generate(&self, n: usize, seed: u64, device: &Device) -> Vec<f32> {
        generate_many(&self.generator, n, seed, device)
    }
}

/// Generates `n` images from a run's generator; returns the grid's path.
pub fn sample_run(request: &SampleRequest, device: &Device) -> Result<PathBuf> {
    if request.n == 0 {
        return Err(AigcError::bad_argument("--n", "must be at least 1"));
    }
    let run = RunDir::new(&request.run);
    let loaded = RunGenerator::load(&run, request.checkpoint, device)?;
    let values = loaded.generate(request.n, request.seed, device);
    let out = request.out.clone().unwrap_or_else(|| default_grid_path(run.root(), request.seed));
    let cols = (request.n as f64).sqrt().ceil() as usize;
    report::save_grid(&values, loaded.shape, cols, &out)?;
    if let Some(dir) = &request.individual {
        report::save_images(&values, loaded.shape, dir)?;
    }
    Ok(out)
}

pub fn default_grid_path(run: &Path, seed: u64) -> PathBuf {
    run.join(format!("sample-seed{seed}.png"))
}

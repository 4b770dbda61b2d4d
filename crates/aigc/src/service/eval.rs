//! Evaluating a run by what it offers: an image run's samples against held-out images, a melody
//! run's likelihoods and composed tunes; and the stand-ins and folder comparisons that put those
//! numbers in context.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::error::{AigcError, Result};
use crate::eval::images::{EvalReport, ImageEvalSettings, evaluate_generator};
use crate::eval::melody::MusicEval;
use crate::families::{self, Capability};
use crate::run::{CheckpointChoice, RunDir};
use crate::sample::SamplerSettings;

pub use crate::eval::images::{Baseline, FoldersRequest, REAL_FEATURES, SetComparison, evaluate_baseline, evaluate_folders};

/// Bars of each tune a melody evaluation composes.
pub const EVAL_BARS: usize = 16;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    pub run: PathBuf,
    /// Generated images (default 5,000) or composed tunes (default 30).
    pub n: Option<usize>,
    /// Image runs: which checkpoint (melody runs are measured at their best one).
    pub checkpoint: CheckpointChoice,
    pub seed: u64,
    pub quiet: bool,
    /// Root of the feature-network cache.
    pub cache: PathBuf,
    /// How a diffusion run's sampler draws (other runs reject every setting).
    pub sampler: SamplerSettings,
}

/// A run's evaluation (written into the run as `eval.json` or `eval-music.json`).
pub enum RunEvaluation {
    Images(Box<EvalReport>),
    Melodies(Box<MusicEval>),
}

/// Evaluates a run that draws images or composes melodies.
pub fn evaluate(request: &EvalRequest, device: &Device) -> Result<RunEvaluation> {
    let run = families::open(&request.run)?;
    let info = run.info().clone();
    if info.capabilities.contains(&Capability::Images) {
        let mut generator = run.images(request.checkpoint, device)?;
        generator.configure(&SamplerSettings { progress: !request.quiet, ..request.sampler.clone() })?;
        let settings = ImageEvalSettings { n: request.n.unwrap_or(5000), seed: request.seed, quiet: request.quiet, cache: request.cache.clone() };
        let image_size = info.image_size.unwrap_or(generator.shape().height as u32);
        let report = evaluate_generator(generator.as_ref(), &info.data, image_size, &RunDir::new(&request.run), &settings, device)?;
        return Ok(RunEvaluation::Images(Box::new(report)));
    }
    if info.capabilities.contains(&Capability::Melodies) {
        let melodies = run.melodies(CheckpointChoice::Best, device)?;
        return Ok(RunEvaluation::Melodies(Box::new(melodies.evaluate(request.n.unwrap_or(30), EVAL_BARS, request.seed)?)));
    }
    Err(AigcError::Unsupported {
        run: info.path.clone(),
        family: format!("{} ({})", info.family, info.arch),
        wanted: "be evaluated yet (image and melody runs can)".into(),
        offers: "generate text".into(),
    })
}

/// The folder a baseline's `eval.json` goes in by default.
pub fn baseline_dir(kind: &str) -> PathBuf {
    Path::new("runs").join(format!("baseline-{kind}"))
}

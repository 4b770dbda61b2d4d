//! Evaluating a run by what it offers: an image run's samples against held-out images, a melody
//! run's likelihoods and composed tunes, a text run's samples against held-out text; and the stand-ins and folder comparisons that put those
//! numbers in context.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use std::ops::ControlFlow;

use crate::data::text::TextCorpus;
use crate::error::{AigcError, Result};
use crate::eval::text::{self as text_eval, TextEvalReport, TextUnit};
use crate::sample::text::{SamplingConfig, TextModel};
use crate::service::text::{GenerateRequest, generate};
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
    /// Generated images (default 5,000), composed tunes (default 30) or text samples (default
    /// 20 of 500 characters).
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

/// Characters of each text sample (and held-out piece) a text evaluation measures.
pub const EVAL_CHARS: usize = 500;

/// A run's evaluation (written into the run as `eval.json`, `eval-music.json` or
/// `eval-text.json`).
pub enum RunEvaluation {
    Images(Box<EvalReport>),
    Melodies(Box<MusicEval>),
    Text(Box<TextEvalReport>),
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
    if info.capabilities.contains(&Capability::Text) {
        let model = run.text(request.checkpoint, device)?;
        let report = evaluate_text(&request.run, &model, request.n.unwrap_or(20), request.seed)?;
        crate::io::write_json(&RunDir::new(&request.run).text_eval(), &report)?;
        return Ok(RunEvaluation::Text(Box::new(report)));
    }
    Err(AigcError::Unsupported {
        run: info.path.clone(),
        family: format!("{} ({})", info.family, info.arch),
        wanted: "be evaluated".into(),
        offers: "export its weights".into(),
    })
}

/// `n` samples of [`EVAL_CHARS`] characters from a newline (seeds `seed`, `seed + 1`, …, at
/// temperature 1), measured beside held-out text of the same length.
pub fn evaluate_text(run: &Path, model: &TextModel, n: usize, seed: u64) -> Result<TextEvalReport> {
    if n == 0 || n > 1000 {
        return Err(AigcError::invalid("n", format!("a text evaluation takes 1 to 1000 samples, got {n}")));
    }
    let corpus = TextCorpus::load(&model.data)?;
    let unit = TextUnit::of(&corpus.train);
    let training = text_eval::ngram_set(&unit.split(&corpus.train), text_eval::COPY_N);
    let sampling = SamplingConfig::default();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let request = GenerateRequest { prompt: "\n".into(), max_tokens: 4 * EVAL_CHARS, sampling, seed: seed + i as u64 };
        let mut chars = 0;
        let generated = generate(model, &request, |piece| {
            chars += piece.chars().count();
            if chars >= EVAL_CHARS { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })?;
        samples.push(generated.text.chars().take(EVAL_CHARS).collect::<String>());
    }
    let held_out = text_eval::pieces(&corpus.validation, n, EVAL_CHARS);
    let evals = RunDir::new(run).metrics().read::<crate::families::lm::TextEval>()?;
    let last = evals.last();
    Ok(TextEvalReport {
        run: run.to_path_buf(),
        data: model.data.clone(),
        tokenizer: model.tokenizer.kind().name().into(),
        samples: n,
        chars_per_sample: EVAL_CHARS,
        seed,
        temperature: sampling.temperature,
        unit,
        generated: text_eval::measure(&samples, unit, &training),
        held_out: text_eval::measure(&held_out, unit, &training),
        val_bpc: last.map(|e| (e.step, e.val_bpc)),
        unigram_bpc: last.and_then(|e| e.unigram_bpc),
        example: samples[0].clone(),
    })
}

/// The folder a baseline's `eval.json` goes in by default.
pub fn baseline_dir(kind: &str) -> PathBuf {
    Path::new("runs").join(format!("baseline-{kind}"))
}

//! The one training loop. A family implements [`Trainer`] (one optimisation step, its record
//! files, and hooks for sample grids, evaluations and the end of the run); [`fit`] owns
//! everything else: resuming from a checkpoint, the cadence of logs, grids, evaluations and
//! checkpoints, timing, the divergence guard, the progress bar, atomic checkpoints, `best/` and
//! `metrics.jsonl`. (burn's `Learner` cannot drive two optimizers or resume exactly; this copies
//! its seam, not its code.)

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::progress::progress_bar;
use crate::error::{AigcError, Result};
use crate::run::{Checkpoints, Manifest, RunDir, TrainState};

/// How often the loop does what (in optimisation steps; everything also happens at the last
/// step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Steps between lines of `metrics.jsonl`.
    pub log_every: usize,
    /// Steps between [`Trainer::snapshot`] calls (sample grids); `None`: never.
    pub sample_every: Option<usize>,
    /// Steps between [`Trainer::evaluate`] calls; `None`: never.
    pub eval_every: Option<usize>,
    pub checkpoint_every: usize,
    /// Checkpoints kept on disk.
    pub keep_checkpoints: usize,
}

/// The data cursor and noise position a checkpoint saves besides the step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Mini-batches drawn so far.
    pub batches_seen: usize,
    /// Word position of the trainer's ChaCha noise stream.
    pub rng_word_pos: u128,
}

/// A logged training step: a line of `metrics.jsonl`.
pub trait StepMetrics: Serialize {
    /// The losses that must stay finite (the divergence guard), by name.
    fn losses(&self) -> Vec<(&'static str, f64)>;
    /// The progress bar's message.
    fn message(&self) -> String;
    /// Records the training time so far and the step rate since the previous log line.
    fn set_timing(&mut self, elapsed_s: f64, steps_per_s: f64);
}

/// An evaluation during training: a line of `metrics.jsonl`, what to print, and the score that
/// picks `best/` (lower is better).
pub struct Evaluation<E> {
    pub record: E,
    pub line: Option<String>,
    pub score: Option<f64>,
}

/// One model family's training job. `step` is 0-based: the step about to be taken.
pub trait Trainer {
    type Metrics: StepMetrics;
    type Eval: Serialize;

    /// Optimisation steps of the whole run.
    fn total_steps(&self) -> usize;
    fn cadence(&self) -> Cadence;
    /// The metrics key of [`Evaluation::score`], so a resumed run continues from the best score
    /// it has logged.
    fn score_key(&self) -> Option<&'static str> {
        None
    }
    /// One optimisation step; its metrics when `measure` (a log line is due; without it the
    /// step need not read any value back from the device).
    fn step(&mut self, step: usize, measure: bool) -> Option<Self::Metrics>;
    fn cursor(&self) -> Cursor;
    /// Writes the record files of a checkpoint into `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
    /// Restores everything a checkpoint holds.
    fn load(&mut self, dir: &Path, state: &TrainState) -> Result<()>;
    /// After the manifest is written, before the first step of this job (`step` is where it
    /// starts: 0 for a fresh run).
    fn begin(&mut self, _run: &RunDir, _step: usize) -> Result<()> {
        Ok(())
    }
    /// At every `sample_every` steps and the last (and at step 0 of a fresh run): sample grids.
    fn snapshot(&mut self, _run: &RunDir, _step: usize) -> Result<()> {
        Ok(())
    }
    /// At every `eval_every` steps and the last.
    fn evaluate(&mut self, _step: usize) -> Result<Option<Evaluation<Self::Eval>>> {
        Ok(None)
    }
    /// After the last step: final grids, plots, exported weights.
    fn finish(&mut self, _run: &RunDir) -> Result<()> {
        Ok(())
    }
}

/// How a training job runs (not part of the run's identity).
#[derive(Debug, Clone, Default)]
pub struct FitOptions {
    /// No progress bar (and no evaluation lines).
    pub quiet: bool,
    /// Progress for, and stop requests from, another thread.
    pub control: Option<std::sync::Arc<crate::job::JobControl>>,
}

/// What a training job did.
#[derive(Debug, Clone)]
pub struct TrainOutcome<M, E> {
    pub run: RunDir,
    /// Steps completed (over all resumes).
    pub steps: usize,
    /// Training seconds (over all resumes).
    pub elapsed_s: f64,
    /// The last logged step and evaluation of this job.
    pub last_metrics: Option<M>,
    pub last_eval: Option<E>,
    /// The best evaluation score of the run.
    pub best_score: Option<f64>,
}

/// Trains `trainer` into `run`: from `resume_from` (a checkpoint of this run) or from scratch,
/// writing the manifest first.
pub fn fit<T: Trainer>(
    trainer: &mut T,
    run: &RunDir,
    manifest: &Manifest,
    resume_from: Option<(TrainState, PathBuf)>,
    options: FitOptions,
) -> Result<TrainOutcome<T::Metrics, T::Eval>> {
    let _lock = run.lock()?;
    let cadence = trainer.cadence();
    let checkpoints = run.checkpoints(cadence.keep_checkpoints);
    let metrics = run.metrics();
    let mut state = TrainState::default();
    match resume_from {
        Some((saved, dir)) => {
            trainer.load(&dir, &saved)?;
            tracing::info!(step = saved.step, checkpoint = %dir.display(), "resuming");
            state = saved;
        }
        None => tracing::debug!(run = %run.root().display(), "starting"),
    }
    // The log matches the weights: nothing after the checkpoint (a fresh start over a run that
    // never checkpointed keeps nothing).
    metrics.truncate_after(state.step)?;
    run.start(manifest)?;
    trainer.begin(run, state.step)?;
    if state.step == 0 && cadence.sample_every.is_some() {
        trainer.snapshot(run, 0)?;
    }
    let mut best = match trainer.score_key() {
        Some(key) => logged_minimum(&metrics.read::<serde_json::Value>()?, key),
        None => None,
    };
    let total = trainer.total_steps();
    let due = |every: usize, step: usize| step % every == 0 || step == total;
    let bar = progress_bar(total as u64, state.step.min(total) as u64, options.quiet, "steps");
    let started = Instant::now();
    let base_elapsed = state.elapsed_s;
    let elapsed = || base_elapsed + started.elapsed().as_secs_f64();
    let mut last_log = (Instant::now(), state.step);
    let (mut last_metrics, mut last_eval) = (None, None);
    let save = |state: &mut TrainState, trainer: &T, checkpoints: &Checkpoints| {
        state.elapsed_s = elapsed();
        let cursor = trainer.cursor();
        (state.batches_seen, state.rng_word_pos) = (cursor.batches_seen, cursor.rng_word_pos);
        checkpoints.save(state, |dir| trainer.save(dir))
    };
    let control = options.control.clone();
    let record = |step: usize| {
        if let Some(c) = &control {
            c.record(step, total);
        }
    };
    record(state.step);
    let mut saved_at = state.step;
    while state.step < total {
        if control.as_ref().is_some_and(|c| c.stop_requested()) {
            if state.step > saved_at {
                save(&mut state, trainer, &checkpoints)?;
            }
            bar.finish_and_clear();
            return Err(AigcError::Stopped { step: state.step });
        }
        let step = state.step + 1;
        let measure = due(cadence.log_every, step);
        let logged = trainer.step(state.step, measure);
        state.step = step;
        if let Some(mut logged) = logged {
            let rate = (step - last_log.1) as f64 / last_log.0.elapsed().as_secs_f64().max(1e-9);
            last_log = (Instant::now(), step);
            logged.set_timing(elapsed(), rate);
            if let Some((loss, value)) = logged.losses().into_iter().find(|(_, v)| !v.is_finite()) {
                return Err(AigcError::Diverged { step, loss: loss.into(), value });
            }
            metrics.append(&logged)?;
            bar.set_message(logged.message());
            last_metrics = Some(logged);
        }
        bar.set_position(step as u64);
        record(step);
        if cadence.sample_every.is_some_and(|every| due(every, step)) {
            trainer.snapshot(run, step)?;
        }
        if cadence.eval_every.is_some_and(|every| due(every, step))
            && let Some(evaluation) = trainer.evaluate(step)?
        {
            metrics.append(&evaluation.record)?;
            if let Some(line) = &evaluation.line {
                bar.println(line);
            }
            if let Some(score) = evaluation.score
                && best.is_none_or(|b| score < b)
            {
                best = Some(score);
                save(&mut state, trainer, &run.best_checkpoint())?;
            }
            last_eval = Some(evaluation.record);
        }
        if due(cadence.checkpoint_every, step) {
            save(&mut state, trainer, &checkpoints)?;
            saved_at = step;
        }
    }
    bar.finish_and_clear();
    trainer.finish(run)?;
    Ok(TrainOutcome { run: run.clone(), steps: state.step, elapsed_s: elapsed(), last_metrics, last_eval, best_score: best })
}

/// The smallest value of `key` in the logged records.
fn logged_minimum(records: &[serde_json::Value], key: &str) -> Option<f64> {
    records.iter().filter_map(|r| r.get(key).and_then(|v| v.as_f64())).min_by(f64::total_cmp)
}

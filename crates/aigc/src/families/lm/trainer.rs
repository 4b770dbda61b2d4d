//! The language-model trainer on the shared loop (nanoGPT's `train.py`): random windows of the
//! training tokens, next-token cross-entropy, AdamW with a linear warm-up and cosine decay of the
//! learning rate, gradient clipping, and train/validation loss (nats, and bits per token) every
//! `eval_every` steps; the lowest validation loss picks `best/`. Text and melody runs both train
//! here, over their own tokens.

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::TextTrainConfig;
use super::network::LanguageModel;
use super::tokens::{TokenStream, cross_entropy};
use crate::error::{AigcError, Result};
use crate::run::record::{self, MODEL, OPTIMIZER};
use crate::run::rng::NoiseRng;
use crate::run::{RunDir, TrainState};
use crate::train::{Cadence, Cursor, Evaluation, StepMetrics, Trainer, map_as_leaf, memory, trainable_params};

/// nanoGPT's parameter groups: AdamW's decoupled weight decay `p ← p·(1 − lr·wd)` on parameters
/// of two or more dimensions (linear weights, embeddings), none on biases and LayerNorm gains and
/// offsets. Applied just before the Adam update, as PyTorch's AdamW does.
struct MatrixDecay {
    factor: f64,
}

impl ModuleMapper for MatrixDecay {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D < 2 {
            return param;
        }
        let factor = self.factor;
        map_as_leaf(param, |t| t.mul_scalar(factor))
    }
}

/// A logged training step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextMetrics {
    pub step: usize,
    /// Training batch loss, nats per token.
    pub loss: f64,
    pub lr: f64,
    pub tokens_per_s: f64,
    pub elapsed_s: f64,
    /// Tokens in a batch (for the rate; not logged).
    #[serde(skip)]
    pub tokens_per_step: usize,
}

impl StepMetrics for TextMetrics {
    fn losses(&self) -> Vec<(&'static str, f64)> {
        vec![("loss", self.loss)]
    }

    fn message(&self) -> String {
        format!("loss {:.3} ({:.0} tok/s)", self.loss, self.tokens_per_s)
    }

    fn set_timing(&mut self, elapsed_s: f64, steps_per_s: f64) {
        self.elapsed_s = elapsed_s;
        self.tokens_per_s = steps_per_s * self.tokens_per_step as f64;
    }
}

/// Train and validation loss estimates at a step: nats per token, and bits per character of
/// text, so character and BPE runs compare on the same text (melodies: bits per token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEval {
    pub step: usize,
    /// Nats per token.
    pub train_loss: f64,
    pub val_loss: f64,
    /// Held-out bits per character (per token for melodies).
    pub val_bpc: f64,
    /// Held-out bits per token (runs before BPE did not log it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_bits_per_token: Option<f64>,
    /// The baseline: held-out bits per character under the training tokens' unigram frequencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unigram_bpc: Option<f64>,
    pub tokens: usize,
}

/// The fewest held-out tokens a loss is measured on (a tune's header and a note).
const MIN_VALIDATION_TOKENS: usize = 6;

/// The tokens a language model trains on.
pub struct LmData {
    pub train: TokenStream,
    pub validation: TokenStream,
    pub vocab_len: usize,
    /// What a token is, for the log (`char`, `token`).
    pub unit: &'static str,
    /// The vocabulary (or tokenizer) as the run saves it, and the file it goes to.
    pub vocab_json: String,
    pub vocab_file: &'static str,
    /// Characters of held-out text per held-out token (1 for characters and melodies): turns
    /// nats per token into bits per character.
    pub chars_per_token: f64,
    /// Held-out bits per character under the unigram frequencies of the training tokens.
    pub unigram_bpc: Option<f64>,
    /// The family whose model this is (`text`, `music`), for the export's sidecar.
    pub family: &'static str,
}

/// A language model with its optimizer, token streams and batch sampler.
pub struct LmTrainer {
    pub config: TextTrainConfig,
    pub model: LanguageModel,
    optim: ModuleOptimizer,
    rng: NoiseRng,
    batches_seen: usize,
    data: LmData,
    /// An autodiff device.
    device: Device,
}

impl LmTrainer {
    /// A fresh trainer on `data`; `device` without autodiff (training adds it). The training
    /// split must hold more than a window of tokens; a validation split shorter than that (one
    /// held-out tune of a small collection) is measured in windows of its own length.
    pub fn new(config: TextTrainConfig, data: LmData, device: &Device) -> Result<Self> {
        if data.train.tokens.len() <= config.block_size + 1 {
            return Err(AigcError::invalid(
                "block_size",
                format!("{}: the training data has {} tokens, fewer than a window of {} + 1", config.data, data.train.tokens.len(), config.block_size),
            ));
        }
        if data.validation.tokens.len() < MIN_VALIDATION_TOKENS {
            return Err(AigcError::invalid(
                "data",
                format!("{}: the held-out data has {} tokens; at least {MIN_VALIDATION_TOKENS} are needed to measure a loss", config.data, data.validation.tokens.len()),
            ));
        }
        let width = if config.arch.cell().is_some() { "hidden" } else { "n_embd" };
        let fields = "`n_embd`, `hidden`, `n_layer`, `block_size` or `batch_size`";
        let footprint = config.footprint(data.vocab_len);
        let field = if footprint.params * 4 > footprint.activations * 2 { width } else { "batch_size" };
        memory::check(footprint, memory::available_bytes(), field, fields)?;
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let model = config.build_model(data.vocab_len, &device);
        Ok(Self { optim: config.optimizer(), rng: NoiseRng::new(config.seed), config, model, batches_seen: 0, data, device })
    }

    /// The window a split's loss is measured in: the training window, or all of a shorter split.
    fn eval_window(&self, stream: &TokenStream) -> usize {
        self.config.block_size.min(stream.tokens.len() - 2)
    }

    /// Mean loss over `eval_batches` windows drawn with a fixed seed (the same windows at every
    /// evaluation, so curves compare like with like).
    pub fn estimate_loss(&self, stream: &TokenStream, salt: u64) -> f64 {
        let model = self.model.valid();
        let device = self.device.clone().inner();
        let mut rng = NoiseRng::new(self.config.seed ^ salt);
        let mut total = 0.0;
        for _ in 0..self.config.eval_batches {
            let (x, y) = stream.batch(self.config.batch_size, self.eval_window(stream), &mut rng, &device);
            total += cross_entropy(model.forward(x), y).into_scalar::<f32>() as f64;
        }
        total / self.config.eval_batches as f64
    }
}

impl Trainer for LmTrainer {
    type Metrics = TextMetrics;
    type Eval = TextEval;

    fn total_steps(&self) -> usize {
        self.config.steps
    }

    fn cadence(&self) -> Cadence {
        let c = &self.config;
        Cadence {
            log_every: c.log_every,
            sample_every: None,
            eval_every: Some(c.eval_every),
            checkpoint_every: c.checkpoint_every,
            keep_checkpoints: c.keep_checkpoints,
        }
    }

    fn score_key(&self) -> Option<&'static str> {
        Some("val_loss")
    }

    /// One AdamW step.
    fn step(&mut self, step: usize, measure: bool) -> Option<TextMetrics> {
        let (x, y) = self.data.train.batch(self.config.batch_size, self.config.block_size, &mut self.rng, &self.device);
        let loss = cross_entropy(self.model.forward(x), y);
        let value = measure.then(|| loss.clone().into_scalar::<f32>() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let lr = self.config.learning_rate(step);
        let decayed = self.model.clone().map(&mut MatrixDecay { factor: 1.0 - lr * self.config.weight_decay });
        self.model = self.optim.step(lr, decayed, grads);
        self.batches_seen += 1;
        value.map(|loss| TextMetrics {
            step: step + 1,
            loss,
            lr,
            tokens_per_s: 0.0,
            elapsed_s: 0.0,
            tokens_per_step: self.config.batch_size * self.config.block_size,
        })
    }

    fn cursor(&self) -> Cursor {
        Cursor { batches_seen: self.batches_seen, rng_word_pos: self.rng.word_pos() }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        record::save_module(&self.model, dir, MODEL)?;
        record::save_optimizer(&self.optim, dir, OPTIMIZER)
    }

    fn load(&mut self, dir: &Path, state: &TrainState) -> Result<()> {
        self.model = record::load_module(self.model.clone(), &dir.join(MODEL))?;
        self.optim = self.config.optimizer().load_record(record::load_optimizer(&dir.join(OPTIMIZER))?);
        self.rng = NoiseRng::at(self.config.seed, state.rng_word_pos);
        self.batches_seen = state.batches_seen;
        Ok(())
    }

    /// Writes the vocabulary and says what is being trained.
    fn begin(&mut self, run: &RunDir, _step: usize) -> Result<()> {
        crate::io::write_atomic(&run.root().join(self.data.vocab_file), self.data.vocab_json.as_bytes())?;
        let unit = self.data.unit;
        tracing::info!(
            "{} with {} parameters, vocabulary of {} {unit}s; {} training and {} validation {unit}s",
            self.config.arch,
            trainable_params(&self.model),
            self.data.vocab_len,
            self.data.train.tokens.len(),
            self.data.validation.tokens.len()
        );
        if let Some(baseline) = self.data.unigram_bpc {
            tracing::info!("{:.2} characters per token; the unigram baseline: {baseline:.3} bits/char", self.data.chars_per_token);
        }
        if self.eval_window(&self.data.validation) < self.config.block_size {
            tracing::info!("the held-out data is shorter than the {}-{unit} window: its loss is measured in windows of {}", self.config.block_size, self.eval_window(&self.data.validation));
        }
        Ok(())
    }

    /// Exports the final weights in PyTorch's layout.
    fn finish(&mut self, run: &RunDir) -> Result<()> {
        let vocab = serde_json::from_str(&self.data.vocab_json).map_err(|e| AigcError::output(run.root().join(self.data.vocab_file), e))?;
        self.model.torch_export(self.data.family, &self.config.data, vocab)?.write(run.root())?;
        Ok(())
    }

    fn evaluate(&mut self, step: usize) -> Result<Option<Evaluation<TextEval>>> {
        let val_loss = self.estimate_loss(&self.data.validation, 0x5A11);
        let bits_per_token = val_loss / std::f64::consts::LN_2;
        let eval = TextEval {
            step,
            train_loss: self.estimate_loss(&self.data.train, 0x7EA1),
            val_loss,
            val_bpc: bits_per_token / self.data.chars_per_token,
            val_bits_per_token: Some(bits_per_token),
            unigram_bpc: self.data.unigram_bpc,
            tokens: self.config.eval_batches * self.config.batch_size * self.config.block_size,
        };
        let unit = self.data.unit;
        let line = if unit == "char" || unit == "token" {
            format!("step {step}: train loss {:.4}, val loss {:.4} ({:.3} bits/{unit})", eval.train_loss, eval.val_loss, eval.val_bpc)
        } else {
            format!("step {step}: train loss {:.4}, val loss {:.4} ({bits_per_token:.3} bits/{unit}, {:.3} bits/char)", eval.train_loss, eval.val_loss, eval.val_bpc)
        };
        Ok(Some(Evaluation { score: Some(eval.val_loss), line: Some(line), record: eval }))
    }
}

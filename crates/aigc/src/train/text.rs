//! The language-model training loop (nanoGPT's `train.py`): random windows of the training text,
//! next-token cross-entropy, AdamW with a linear warm-up and cosine decay of the learning rate,
//! gradient clipping, and train/validation loss (nats and bits per character) every
//! `eval_every` steps; the checkpoint with the lowest validation loss is kept in `best/`.

use std::path::Path;
use std::time::Instant;

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, ModuleMapper, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::checkpoint::TrainState;
use super::config::to_toml;
use super::gan::{TrainOptions, load_module, load_optim, map_as_leaf};
use super::progress::progress_bar;
use super::rng::NoiseRng;
use super::run::RunDir;
use crate::data::text::{CharVocab, TextCorpus};
use crate::error::{AigcError, Result};
use crate::models::lm::{GptConfig, LanguageModel, RnnLmConfig};

/// The value of `model` in a language model run's `config.toml`.
pub const TEXT_MODEL: &str = "text";
/// The value of `model` in a melody model run's `config.toml` (same trainer, music tokens).
pub const MUSIC_MODEL: &str = "music";
pub const VOCAB_FILE: &str = "vocab.json";
const MODEL_FILE: &str = "model.bpk";
const OPTIM_FILE: &str = "optim.bpk";

/// Everything that defines a language-model run. The defaults are nanoGPT's CPU configuration
/// for character-level Shakespeare (4 layers, 4 heads, 128 dims, context 64, batch 12, 2,000
/// steps, dropout 0, AdamW lr 1e-3 → 1e-4 cosine with 100 warm-up steps, β₂ 0.99, weight decay
/// 0.1, clipping 1.0).
#[derive(Config, Debug, PartialEq)]
pub struct TextTrainConfig {
    #[config(default = "String::from(\"text\")")]
    pub model: String,
    /// `gpt`, `lstm` or `gru`.
    #[config(default = "String::from(\"gpt\")")]
    pub arch: String,
    #[config(default = "String::from(\"shakespeare\")")]
    pub data: String,
    /// Context window (GPT) / training sequence length (recurrent networks).
    #[config(default = 64)]
    pub block_size: usize,
    #[config(default = 4)]
    pub n_layer: usize,
    #[config(default = 4)]
    pub n_head: usize,
    #[config(default = 128)]
    pub n_embd: usize,
    /// Hidden units of an LSTM/GRU layer.
    #[config(default = 512)]
    pub hidden: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
    #[config(default = true)]
    pub tie_weights: bool,
    #[config(default = 2000)]
    pub steps: usize,
    #[config(default = 12)]
    pub batch_size: usize,
    /// Peak learning rate, reached after `warmup_steps`, then cosine-decayed to `min_lr` at the
    /// last step.
    #[config(default = 1e-3)]
    pub lr: f64,
    #[config(default = 1e-4)]
    pub min_lr: f64,
    #[config(default = 100)]
    pub warmup_steps: usize,
    /// Step at which the cosine reaches `min_lr` (default: `steps`; nanoGPT's `lr_decay_iters`).
    pub lr_decay_steps: Option<usize>,
    #[config(default = 0.1)]
    pub weight_decay: f64,
    #[config(default = 0.9)]
    pub beta1: f64,
    #[config(default = 0.99)]
    pub beta2: f64,
    /// Largest gradient L2 norm per parameter tensor (0 = off).
    #[config(default = 1.0)]
    pub grad_clip: f64,
    #[config(default = 250)]
    pub eval_every: usize,
    /// Batches averaged for each train/validation loss estimate.
    #[config(default = 20)]
    pub eval_batches: usize,
    #[config(default = 10)]
    pub log_every: usize,
    #[config(default = 500)]
    pub checkpoint_every: usize,
    #[config(default = 3)]
    pub keep_checkpoints: usize,
    #[config(default = 1337)]
    pub seed: u64,
    /// Music runs: train on each tune in all twelve keys (−5 to +6 semitones).
    #[config(default = true)]
    pub transpose: bool,
    /// Music runs with `arch = "markov"`: tokens of context plus one.
    #[config(default = 5)]
    pub markov_order: usize,
}

impl TextTrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, problem: String| Err(AigcError::bad_argument(flag, problem));
        if self.model != TEXT_MODEL && self.model != MUSIC_MODEL {
            return bad("model", "a language-model config has model = \"text\" or \"music\"".into());
        }
        let music = self.model == MUSIC_MODEL;
        if !["gpt", "lstm", "gru"].contains(&self.arch.as_str()) && !(music && self.arch == "markov") {
            let expected = if music { "gpt, lstm, gru or markov" } else { "gpt, lstm or gru" };
            return bad("--arch", format!("unknown {} architecture {:?}, expected {expected}", self.model, self.arch));
        }
        if self.markov_order == 0 || self.markov_order > 32 {
            return bad("--order", format!("must be between 1 and 32, got {}", self.markov_order));
        }
        for (flag, v) in [
            ("--block-size", self.block_size),
            ("--n-layer", self.n_layer),
            ("--n-head", self.n_head),
            ("--n-embd", self.n_embd),
            ("--hidden", self.hidden),
            ("--steps", self.steps),
            ("--batch-size", self.batch_size),
            ("eval_every", self.eval_every),
            ("eval_batches", self.eval_batches),
            ("log_every", self.log_every),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            if v == 0 {
                return bad(flag, "must be at least 1".into());
            }
        }
        if self.arch == "gpt" && self.n_embd % self.n_head != 0 {
            return bad("--n-embd", format!("{} is not divisible by --n-head {}", self.n_embd, self.n_head));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) || !(self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return bad("--lr", format!("need 0 < lr and 0 ≤ min_lr ≤ lr, got lr {} min_lr {}", self.lr, self.min_lr));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("--dropout", format!("must be in [0, 1), got {}", self.dropout));
        }
        Ok(())
    }

    /// nanoGPT's schedule: linear warm-up to `lr`, cosine decay to `min_lr` at `lr_decay_steps`
    /// (the last step by default), then constant.
    pub fn learning_rate(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / (self.warmup_steps + 1) as f64;
        }
        let span = self.lr_decay_steps.unwrap_or(self.steps).saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        self.min_lr + 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) * (self.lr - self.min_lr)
    }

    pub fn build_model(&self, vocab_size: usize, device: &Device) -> LanguageModel {
        if self.arch != "gpt" {
            return LanguageModel::Rnn(
                RnnLmConfig::new(vocab_size)
                    .with_cell(self.arch.clone())
                    .with_n_embd(self.n_embd)
                    .with_hidden(self.hidden)
                    .with_n_layer(self.n_layer)
                    .with_dropout(self.dropout)
                    .with_tie_weights(self.tie_weights)
                    .with_block_size(self.block_size)
                    .init(device),
            );
        }
        LanguageModel::Gpt(
            GptConfig::new(vocab_size)
                .with_block_size(self.block_size)
                .with_n_layer(self.n_layer)
                .with_n_head(self.n_head)
                .with_n_embd(self.n_embd)
                .with_dropout(self.dropout)
                .with_tie_weights(self.tie_weights)
                .init(device),
        )
    }

    fn optimizer(&self) -> ModuleOptimizer {
        // PyTorch's AdamW epsilon 1e-8 (burn: 1e-5). The weight decay is applied separately, to
        // matrices only ([`MatrixDecay`]); burn's AdamW would decay every parameter.
        let config = AdamWConfig::new()
            .with_beta_1(self.beta1 as f32)
            .with_beta_2(self.beta2 as f32)
            .with_epsilon(1e-8)
            .with_weight_decay(0.0);
        let config = if self.grad_clip > 0.0 {
            config.with_grad_clipping(Some(GradientClippingConfig::Norm(self.grad_clip as f32)))
        } else {
            config
        };
        config.init()
    }
}

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
}

/// Train and validation loss estimates at a step (nats and bits per character).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEval {
    pub step: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_bpc: f64,
    pub tokens: usize,
}

/// Token ids of a corpus split, with random-window batching.
pub struct TokenStream {
    pub tokens: Vec<u32>,
    /// Music: where each tune starts in `tokens` (ascending) and its header (`<tune> K M`). A
    /// window that starts inside a tune then begins with that header, so the model always
    /// knows the key and meter it continues in. Empty for text.
    pub headers: Vec<(usize, [u32; 3])>,
}

impl TokenStream {
    pub fn plain(tokens: Vec<u32>) -> Self {
        Self { tokens, headers: Vec::new() }
    }

    /// The concatenation of `sequences`, each starting with a 3-token header.
    pub fn with_headers(sequences: &[Vec<u32>]) -> Self {
        let mut tokens = Vec::new();
        let mut headers = Vec::new();
        for s in sequences.iter().filter(|s| s.len() >= 3) {
            headers.push((tokens.len(), [s[0], s[1], s[2]]));
            tokens.extend_from_slice(s);
        }
        Self { tokens, headers }
    }

    /// The `len + 1` tokens of the window drawn at offset `o`.
    fn window(&self, o: usize, len: usize) -> Vec<u32> {
        let i = self.headers.partition_point(|(start, _)| *start <= o);
        match i.checked_sub(1).map(|i| self.headers[i]) {
            Some((start, header)) if len > 3 => {
                if o < start + 3 {
                    self.tokens[start..start + len + 1].to_vec()
                } else {
                    header.iter().copied().chain(self.tokens[o..o + len - 2].iter().copied()).collect()
                }
            }
            _ => self.tokens[o..o + len + 1].to_vec(),
        }
    }

    /// `batch` windows of `len + 1` tokens at the offsets drawn from `rng`: inputs and targets.
    pub fn batch(&self, batch: usize, len: usize, rng: &mut NoiseRng, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let span = self.tokens.len() - len;
        let windows: Vec<Vec<u32>> =
            rng.uniform(batch).iter().map(|u| self.window(((*u as f64 * span as f64) as usize).min(span - 1), len)).collect();
        let side = |shift: usize| {
            let ids: Vec<i64> = windows.iter().flat_map(|w| w[shift..shift + len].iter().map(|&t| t as i64)).collect();
            Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, len]), device)
        };
        (side(0), side(1))
    }
}

/// Mean next-token cross-entropy (nats) of `logits` `[B, T, V]` against `targets` `[B, T]`.
pub fn cross_entropy(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
    let [b, t, v] = logits.dims();
    CrossEntropyLossConfig::new().init(&logits.device()).forward(logits.reshape([b * t, v]), targets.reshape([b * t]))
}

/// A language model with its optimizer and batch sampler.
pub struct TextTrainer {
    pub config: TextTrainConfig,
    pub model: LanguageModel,
    optim: ModuleOptimizer,
    rng: NoiseRng,
    pub state: TrainState,
    device: Device,
}

impl TextTrainer {
    pub fn new(config: TextTrainConfig, model: LanguageModel, device: Device) -> Self {
        Self {
            optim: config.optimizer(),
            rng: NoiseRng::new(config.seed),
            config,
            model,
            state: TrainState { step: 0, batches_seen: 0, rng_word_pos: 0, elapsed_s: 0.0 },
            device,
        }
    }

    /// One AdamW step; returns the batch loss when `measure`.
    pub fn step(&mut self, train: &TokenStream, measure: bool) -> Option<f64> {
        let (x, y) = train.batch(self.config.batch_size, self.config.block_size, &mut self.rng, &self.device);
        let loss = cross_entropy(self.model.forward(x), y);
        let value = measure.then(|| loss.clone().into_scalar::<f32>() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let lr = self.config.learning_rate(self.state.step);
        let decayed = self.model.clone().map(&mut MatrixDecay { factor: 1.0 - lr * self.config.weight_decay });
        self.model = self.optim.step(lr, decayed, grads);
        self.state.step += 1;
        self.state.batches_seen += 1;
        self.state.rng_word_pos = self.rng.word_pos();
        value
    }

    /// Mean loss over `eval_batches` windows drawn with a fixed seed (the same windows at every
    /// evaluation, so curves compare like with like).
    pub fn estimate_loss(&self, stream: &TokenStream, salt: u64) -> f64 {
        let model = self.model.valid();
        let device = self.device.clone().inner();
        let mut rng = NoiseRng::new(self.config.seed ^ salt);
        let mut total = 0.0;
        for _ in 0..self.config.eval_batches {
            let (x, y) = stream.batch(self.config.batch_size, self.config.block_size, &mut rng, &device);
            total += cross_entropy(model.forward(x), y).into_scalar::<f32>() as f64;
        }
        total / self.config.eval_batches as f64
    }

    pub fn save_checkpoint_to(&self, checkpoints: &super::checkpoint::Checkpoints) -> Result<std::path::PathBuf> {
        checkpoints.save(&self.state, |dir| {
            let err = |file: &str, e: burn::store::RecordError| AigcError::output(dir.join(file), e);
            self.model.clone().into_record().save(dir.join(MODEL_FILE)).map_err(|e| err(MODEL_FILE, e))?;
            self.optim.save(dir.join(OPTIM_FILE)).map_err(|e| err(OPTIM_FILE, e))
        })
    }

    pub fn load_checkpoint(&mut self, state: TrainState, dir: &Path) -> Result<()> {
        self.model = load_module(self.model.clone(), &dir.join(MODEL_FILE))?;
        self.optim = self.config.optimizer().load_record(load_optim(&dir.join(OPTIM_FILE))?);
        self.rng = NoiseRng::at(self.config.seed, state.rng_word_pos);
        self.state = state;
        Ok(())
    }
}

/// The configuration of a language-model run whose `model` is `kind` (`text` or `music`).
pub fn read_lm_config(run: &Path, kind: &str) -> Result<TextTrainConfig> {
    let dir = RunDir::new(run);
    if !dir.exists() {
        return Err(AigcError::Missing { path: run.into(), hint: " (--run expects a run directory with a config.toml)".into() });
    }
    let config: TextTrainConfig = super::config::read_toml_config(&dir.config(), &TextTrainConfig::new())?;
    if config.model != kind {
        return Err(AigcError::bad_data(dir.config(), format!("not a {kind} run (model is {:?})", config.model)));
    }
    Ok(config)
}

/// The network of a language-model run (its newest checkpoint, or `best/` when `best`) on
/// `device` (without autodiff).
pub fn load_lm_weights(run: &Path, config: &TextTrainConfig, vocab_len: usize, best: bool, device: &Device) -> Result<LanguageModel> {
    let dir = RunDir::new(run);
    let checkpoints = if best { dir.best_checkpoint() } else { dir.checkpoints(config.keep_checkpoints) };
    let (_, checkpoint) = checkpoints
        .latest()?
        .ok_or_else(|| AigcError::Missing { path: checkpoints.dir().into(), hint: " (no checkpoint yet: train first)".into() })?;
    load_module(config.build_model(vocab_len, device), &checkpoint.join(MODEL_FILE))
}

/// Loads the model of a finished or running text run (its newest checkpoint, or `best/` when
/// `best`), with its vocabulary, on `device` (without autodiff).
pub fn load_text_run(run: &Path, best: bool, device: &Device) -> Result<(TextTrainConfig, CharVocab, LanguageModel)> {
    let config = read_lm_config(run, TEXT_MODEL)?;
    let vocab = CharVocab::load(&run.join(VOCAB_FILE))?;
    let model = load_lm_weights(run, &config, vocab.len(), best, device)?;
    Ok((config, vocab, model))
}

/// What a finished text run reports.
pub struct TextOutcome {
    pub run: RunDir,
    pub steps: usize,
    pub last_eval: Option<TextEval>,
    pub best_val_loss: Option<f64>,
    pub elapsed_s: f64,
}

/// Trains a language model into run directory `out`.
pub fn train_text(config: &TextTrainConfig, out: &Path, options: &TrainOptions) -> Result<TextOutcome> {
    config.validate()?;
    let corpus = TextCorpus::load(&config.data)?;
    let run = RunDir::new(out);
    let checkpoints = run.checkpoints(config.keep_checkpoints);
    let latest = checkpoints.resume_point(options.resume, out)?;
    let vocab = match &latest {
        Some(_) => CharVocab::load(&out.join(VOCAB_FILE))?,
        None => corpus.vocab(),
    };
    let train = TokenStream::plain(vocab.encode_lossy(&corpus.train));
    let validation = TokenStream::plain(vocab.encode_lossy(&corpus.validation));
    let data = LmData { train, validation, vocab_len: vocab.len(), unit: "char" };
    train_lm(config, out, options, data, latest, &|dir| vocab.save(&dir.join(VOCAB_FILE)))
}

/// Token streams for [`train_lm`].
pub struct LmData {
    pub train: TokenStream,
    pub validation: TokenStream,
    pub vocab_len: usize,
    /// What a token is, for the log ("char", "token").
    pub unit: &'static str,
}

/// The training loop shared by text and music runs, from the (possibly resumed) checkpoint
/// `latest`; `save_vocab` writes the vocabulary into the run directory.
pub fn train_lm(
    config: &TextTrainConfig,
    out: &Path,
    options: &TrainOptions,
    data: LmData,
    latest: Option<(TrainState, std::path::PathBuf)>,
    save_vocab: &dyn Fn(&Path) -> Result<()>,
) -> Result<TextOutcome> {
    let LmData { train, validation, vocab_len, unit } = data;
    let run = RunDir::new(out);
    let checkpoints = run.checkpoints(config.keep_checkpoints);
    for (name, stream) in [("training", &train), ("validation", &validation)] {
        if stream.tokens.len() <= config.block_size + 1 {
            return Err(AigcError::bad_argument(
                "--block-size",
                format!("{}: the {name} data has {} tokens, fewer than a window of {} + 1", config.data, stream.tokens.len(), config.block_size),
            ));
        }
    }
    let device = options.device.clone().autodiff();
    device.seed(config.seed);
    let mut trainer = TextTrainer::new(config.clone(), config.build_model(vocab_len, &device), device);
    if let Some((state, dir)) = latest {
        trainer.load_checkpoint(state, &dir)?;
        run.metrics().truncate_after(trainer.state.step)?;
        tracing::info!(step = trainer.state.step, checkpoint = %dir.display(), "resuming");
    }
    run.start(&to_toml(config))?;
    save_vocab(out)?;
    tracing::info!(
        "{} with {} parameters, vocabulary of {vocab_len} {unit}s; {} training and {} validation {unit}s",
        config.arch,
        crate::models::trainable_params(&trainer.model),
        train.tokens.len(),
        validation.tokens.len()
    );

    let metrics = run.metrics();
    let mut best = metrics.read::<TextEval>()?.iter().map(|e| e.val_loss).fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.min(v))));
    let mut last_eval = None;
    let total = config.steps;
    let bar = progress_bar(total as u64, trainer.state.step.min(total) as u64, options.quiet, "steps");
    let started = Instant::now();
    let base_elapsed = trainer.state.elapsed_s;
    let tokens_per_step = (config.batch_size * config.block_size) as f64;
    let mut window_start = (Instant::now(), trainer.state.step);
    while trainer.state.step < total {
        let next = trainer.state.step + 1;
        let measure = next % config.log_every == 0 || next == total;
        if let Some(loss) = trainer.step(&train, measure) {
            if !loss.is_finite() {
                return Err(AigcError::bad_argument("--lr", format!("training diverged at step {next} (loss {loss}); try a smaller learning rate")));
            }
            let rate = tokens_per_step * (next - window_start.1) as f64 / window_start.0.elapsed().as_secs_f64().max(1e-9);
            window_start = (Instant::now(), next);
            let elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
            metrics.append(&TextMetrics { step: next, loss, lr: config.learning_rate(next - 1), tokens_per_s: rate, elapsed_s })?;
            bar.set_message(format!("loss {loss:.3} ({:.0} tok/s)", rate));
        }
        bar.set_position(trainer.state.step as u64);
        let step = trainer.state.step;
        if step % config.eval_every == 0 || step == total {
            let val_loss = trainer.estimate_loss(&validation, 0x5A11);
            let eval = TextEval {
                step,
                train_loss: trainer.estimate_loss(&train, 0x7EA1),
                val_loss,
                val_bpc: val_loss / std::f64::consts::LN_2,
                tokens: config.eval_batches * config.batch_size * config.block_size,
            };
            metrics.append(&eval)?;
            let line = format!("step {step}: train loss {:.4}, val loss {:.4} ({:.3} bits/{unit})", eval.train_loss, eval.val_loss, eval.val_bpc);
            super::progress::println_above(&bar, options.quiet, line);
            if best.is_none_or(|b| eval.val_loss < b) {
                best = Some(eval.val_loss);
                trainer.state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
                trainer.save_checkpoint_to(&run.best_checkpoint())?;
            }
            last_eval = Some(eval);
        }
        if step % config.checkpoint_every == 0 || step == total {
            trainer.state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
            trainer.save_checkpoint_to(&checkpoints)?;
        }
    }
    bar.finish_and_clear();
    Ok(TextOutcome { run, steps: trainer.state.step, last_eval, best_val_loss: best, elapsed_s: base_elapsed + started.elapsed().as_secs_f64() })
}

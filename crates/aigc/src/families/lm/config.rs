//! The language-model training config (text and melody models), saved in every run's manifest.

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::Device;

use super::network::LanguageModel;
use super::{GptConfig, RnnCell, RnnLmConfig};
use crate::data::tokenizer::{TokenizerKind, check_vocab_size};
use crate::error::{AigcError, Result};

crate::named_choice! {
    /// A language model's network.
    pub enum LmArch ("architecture") {
        /// nanoGPT's transformer.
        Gpt = "gpt",
        Lstm = "lstm",
        Gru = "gru",
    }
}

impl LmArch {
    /// The cell of a recurrent network (`None`: the transformer).
    pub fn cell(self) -> Option<RnnCell> {
        match self {
            LmArch::Gpt => None,
            LmArch::Lstm => Some(RnnCell::Lstm),
            LmArch::Gru => Some(RnnCell::Gru),
        }
    }
}

/// Everything that defines a language-model run. The defaults are nanoGPT's CPU configuration
/// for character-level Shakespeare (4 layers, 4 heads, 128 dims, context 64, batch 12, 2,000
/// steps, dropout 0, AdamW lr 1e-3 → 1e-4 cosine with 100 warm-up steps, β₂ 0.99, weight decay
/// 0.1, clipping 1.0).
#[derive(Config, Debug, PartialEq)]
pub struct TextTrainConfig {
    /// `gpt`, `lstm` or `gru`.
    #[config(default = "LmArch::Gpt")]
    pub arch: LmArch,
    #[config(default = "String::from(\"shakespeare\")")]
    pub data: String,
    /// `char` (one token per character, `vocab.json`) or `bpe` (byte-level BPE trained on the
    /// training split, `tokenizer.json`).
    #[config(default = "TokenizerKind::Char")]
    pub tokenizer: TokenizerKind,
    /// Tokens of a BPE vocabulary: the 256 bytes and the merges learned (`bpe` only). 1,024
    /// gave the lowest bits per character of 256, 512 and 1,024 on Shakespeare at the default
    /// 2,000 steps (README, *Text*).
    #[config(default = 1024)]
    pub vocab_size: usize,
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
}

/// What each optional field means when unset (for `config.toml` and `--help`).
pub const UNSET: &[(&str, &str)] = &[("lr_decay_steps", "steps (the cosine ends with the run)")];

impl TextTrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| Err(AigcError::invalid(field, problem));
        for (field, v) in [
            ("block_size", self.block_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
            ("hidden", self.hidden),
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("eval_every", self.eval_every),
            ("eval_batches", self.eval_batches),
            ("log_every", self.log_every),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            if v == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if self.tokenizer == TokenizerKind::Bpe {
            check_vocab_size(self.vocab_size)?;
        }
        if self.arch == LmArch::Gpt && self.n_embd % self.n_head != 0 {
            return bad("n_embd", format!("{} is not divisible by `n_head` {}", self.n_embd, self.n_head));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) || !(self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return bad("lr", format!("need 0 < lr and 0 ≤ min_lr ≤ lr, got lr {} min_lr {}", self.lr, self.min_lr));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("must be in [0, 1), got {}", self.dropout));
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
        if let Some(cell) = self.arch.cell() {
            return LanguageModel::Rnn(
                RnnLmConfig::new(vocab_size)
                    .with_cell(cell)
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

    /// What training this model over `vocab` tokens holds in memory (AdamW: three copies).
    pub fn footprint(&self, vocab: usize) -> crate::train::memory::Footprint {
        let (v, t, c, l, h) = (vocab as u64, self.block_size as u64, self.n_embd as u64, self.n_layer as u64, self.hidden as u64);
        let tokens = (self.batch_size as u64).saturating_mul(t);
        let (params, per_token) = match self.arch.cell() {
            None => {
                let head = if self.tie_weights { 0 } else { v * c };
                let params = v * c + t * c + l * (12 * c * c + 13 * c) + 2 * c + head;
                (params, l * (16 * c + 2 * self.n_head as u64 * t) + 3 * v)
            }
            Some(_) => {
                let layers: u64 = (0..l).map(|i| 4 * ((if i == 0 { c } else { h }) + h + 2) * h).sum();
                (v * c + layers + h * v + v, l * 10 * h + 3 * v)
            }
        };
        crate::train::memory::Footprint { params, copies: 3, activations: tokens.saturating_mul(per_token) }
    }

    pub(crate) fn optimizer(&self) -> ModuleOptimizer {
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


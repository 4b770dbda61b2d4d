//! Language models over token sequences: GPT (nanoGPT) and recurrent LSTM/GRU networks, one
//! [`LanguageModel`] enum so training and sampling treat them alike.

pub mod gpt;
pub mod rnn;

use burn::module::Module;
use burn::tensor::{Int, Tensor};

pub use gpt::{Gpt, GptConfig};
pub use rnn::{RnnLm, RnnLmConfig};

/// A next-token model: token ids `[B, T]` → logits `[B, T, vocab]`.
#[derive(Module, Debug)]
pub enum LanguageModel {
    Gpt(Gpt),
    Rnn(RnnLm),
}

impl LanguageModel {
    pub fn forward(&self, idx: Tensor<2, Int>) -> Tensor<3> {
        match self {
            LanguageModel::Gpt(m) => m.forward(idx),
            LanguageModel::Rnn(m) => m.forward(idx),
        }
    }

    /// The longest context the model reads: GPT's window; for recurrent networks the training
    /// sequence length (they start from a zero state, as in training).
    pub fn context_window(&self) -> Option<usize> {
        match self {
            LanguageModel::Gpt(m) => Some(m.block_size()),
            LanguageModel::Rnn(m) => Some(m.block_size()),
        }
    }
}

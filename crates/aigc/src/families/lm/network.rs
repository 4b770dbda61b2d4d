//! Language models over token sequences: GPT (nanoGPT) and recurrent LSTM/GRU networks, one
//! [`LanguageModel`] enum so training and sampling treat them alike.

use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::gpt::KvCache;
use super::{Gpt, RnnLm};
use crate::report::torch::TorchExport;

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

    /// The model in PyTorch's layout (`model.safetensors`, `model.json`), its sidecar saying
    /// which `family` it belongs to, the `data` it learned and its token `vocab` (the run's
    /// `vocab.json`: token `i` is entry `i`).
    pub fn torch_export(&self, family: &str, data: &str, vocab: serde_json::Value) -> crate::Result<TorchExport> {
        let mut export = TorchExport::new("model", serde_json::Value::Null);
        let mut description = match self {
            LanguageModel::Gpt(m) => m.export_tensors(&mut export),
            LanguageModel::Rnn(m) => m.export_tensors(&mut export)?,
        };
        if let Some(object) = description.as_object_mut() {
            object.insert("family".into(), family.into());
            object.insert("data".into(), data.into());
            object.insert("input".into(), "token ids [batch, time], time <= block_size; recurrent models start from a zero state".into());
            object.insert("output".into(), "next-token logits [batch, time, vocab_size]".into());
            object.insert("vocab".into(), vocab);
        }
        Ok(export.described(description))
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

/// A language model ready to sample, on a device without autodiff.
pub struct LmSampler {
    pub model: LanguageModel,
    pub device: burn::tensor::Device,
}

impl LmSampler {
    /// `logits` `[vocab]` as a vector.
    fn to_vec(logits: Tensor<1>) -> Vec<f32> {
        logits.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
    }
}

impl crate::sample::text::NextTokenModel for LmSampler {
    /// The next-token logits after `context`, cropped to the model's window.
    fn next_logits(&self, context: &[u32]) -> Vec<f32> {
        use burn::tensor::TensorData;
        let window = self.model.context_window().unwrap_or(context.len()).min(context.len());
        let ids: Vec<i64> = context[context.len() - window..].iter().map(|&t| t as i64).collect();
        let logits = self.model.forward(Tensor::<2, Int>::from_data(TensorData::new(ids, [1, window]), &self.device));
        let vocab = logits.dims()[2];
        Self::to_vec(logits.narrow(1, window - 1, 1).reshape([vocab]))
    }

    /// GPT keeps each token's keys and values while the sequence fits its window.
    fn session(&self) -> Box<dyn crate::sample::text::TokenSession + '_> {
        match &self.model {
            LanguageModel::Gpt(gpt) => Box::new(GptSession { sampler: self, gpt, cache: KvCache::default(), seen: Vec::new() }),
            // A recurrent model reads its window from a zero state every time, as it trained.
            LanguageModel::Rnn(_) => Box::new(crate::sample::text::Stateless(self)),
        }
    }
}

/// GPT with a key/value cache of the tokens `seen`. While the sequence fits the window each new
/// token costs one token's forward pass; once it is longer the window slides, every token
/// changes position (the position embeddings are learned and absolute) and nothing cached holds,
/// so the window is read whole, as without the cache. The logits are the uncached ones up to
/// float rounding.
struct GptSession<'a> {
    sampler: &'a LmSampler,
    gpt: &'a super::Gpt,
    cache: KvCache,
    seen: Vec<u32>,
}

impl crate::sample::text::TokenSession for GptSession<'_> {
    fn next_logits(&mut self, context: &[u32]) -> Vec<f32> {
        if context.len() > self.gpt.block_size() {
            self.cache = KvCache::default();
            self.seen.clear();
            return crate::sample::text::NextTokenModel::next_logits(self.sampler, context);
        }
        if context.len() <= self.seen.len() || !context.starts_with(&self.seen) {
            self.cache = KvCache::default();
            self.seen.clear();
        }
        let new = &context[self.seen.len()..];
        let logits = self.gpt.forward_cached(new, &mut self.cache);
        self.seen.extend_from_slice(new);
        LmSampler::to_vec(logits)
    }
}

//! Melody models behind one interface (a neural language model or the Markov baseline) and
//! their held-out negative log-likelihood per event.

use aigc_music::markov::Markov;
use aigc_music::tokens::{MusicVocab, TokenKind};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::families::lm::{LanguageModel, LmSampler};
use crate::sample::text::NextTokenModel;

/// A next-token model over music tokens: a neural language model or the Markov baseline.
pub enum MelodyModel {
    Neural(LmSampler),
    Markov(Markov),
}

impl NextTokenModel for MelodyModel {
    /// Scores (logits, or log-probabilities for the Markov model) of the next token after
    /// `context` (a tune's tokens from its `<tune> K M` header on). A neural model reads the
    /// header and as many of the latest tokens as its window holds, as in training.
    fn next_logits(&self, context: &[u32]) -> Vec<f32> {
        match self {
            MelodyModel::Neural(sampler) => {
                let window = sampler.model.context_window().unwrap_or(usize::MAX);
                if context.len() <= window || context.len() < 3 || window <= 3 {
                    return sampler.next_logits(context);
                }
                let tail = &context[context.len() - (window - 3)..];
                sampler.next_logits(&[&context[..3], tail].concat())
            }
            MelodyModel::Markov(m) => m.distribution(context).iter().map(|p| p.ln() as f32).collect(),
        }
    }
}

impl MelodyModel {
    /// Total negative log-likelihood (nats) of the tokens after `<tune> K M` of each sequence,
    /// and the number of events they make (a note or rest with its duration is one event; bar
    /// lines and the tune end are one each). Neural models read the header plus windows of the
    /// tune with half-window overlap, so every scored token sees the header and at least half a
    /// window of the tune before it (all of it in a tune shorter than the window).
    pub fn held_out_nll(&self, sequences: &[Vec<u32>], vocab: &MusicVocab) -> (f64, usize) {
        let events: usize = sequences.iter().map(|s| count_events(&s[3.min(s.len())..], vocab)).sum();
        let total = match self {
            MelodyModel::Markov(m) => sequences.iter().map(|s| (3..s.len()).map(|j| m.nll(&s[..j], s[j])).sum::<f64>()).sum(),
            MelodyModel::Neural(LmSampler { model, device }) => {
                let window = model.context_window().unwrap_or(256).max(8);
                let stride = (window - 3) / 2;
                let mut total = 0.0;
                for s in sequences.iter().filter(|s| s.len() > 3) {
                    // the first window: the tune's start, targets 3..end
                    let mut done = window.min(s.len());
                    total += window_nll(model, device, &s[..done], 3);
                    // then targets [done, done + stride) after the header and the window − 3 − stride
                    // tokens before them
                    while done < s.len() {
                        let end = (done + stride).min(s.len());
                        let lo = end.saturating_sub(window - 3).max(3);
                        let tokens = [&s[..3], &s[lo..end]].concat();
                        total += window_nll(model, device, &tokens, 3 + done - lo);
                        done = end;
                    }
                }
                total
            }
        };
        (total, events)
    }
}

fn count_events(tokens: &[u32], vocab: &MusicVocab) -> usize {
    tokens.iter().filter(|&&t| !matches!(vocab.kind(t), Some(TokenKind::Duration(_)))).count()
}

/// −Σ ln p(tokens[j] | tokens[..j]) for j ≥ `first` (≥ 1), one forward pass.
fn window_nll(model: &LanguageModel, device: &Device, tokens: &[u32], first: usize) -> f64 {
    let first = first.max(1);
    if tokens.len() <= first {
        return 0.0;
    }
    let n = tokens.len();
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let logits = model.forward(Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), device));
    let vocab = logits.dims()[2];
    let log_probs = burn::tensor::activation::log_softmax(logits.reshape([n, vocab]), 1);
    let values = log_probs.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    (first..n).map(|j| -(values[(j - 1) * vocab + tokens[j] as usize] as f64)).sum()
}


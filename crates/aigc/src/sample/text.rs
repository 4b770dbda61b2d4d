//! Sampling tokens from any next-token model: temperature, top-k and top-p (nucleus) filtering,
//! a seeded random stream, and a callback per token so callers can stream.

use std::ops::ControlFlow;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::tokenizer::TextTokenizer;
use crate::error::{AigcError, Result};

/// The capability of continuing a token sequence: language models, melody models, the Markov
/// baseline.
pub trait NextTokenModel {
    /// Scores of the next token after `context` (not empty): logits, or log-probabilities. A
    /// model with a bounded window reads the latest tokens that fit.
    fn next_logits(&self, context: &[u32]) -> Vec<f32>;

    /// A reader of one growing sequence, asked for the next token's scores after each token:
    /// the same scores as [`next_logits`](Self::next_logits), but a model may keep what it
    /// computed for the tokens already read (GPT: a key/value cache). By default it keeps
    /// nothing.
    fn session(&self) -> Box<dyn TokenSession + '_> {
        Box::new(Stateless(self))
    }
}

/// One sequence's next-token scores, asked again as the sequence grows ([`NextTokenModel::session`]).
pub trait TokenSession {
    /// The scores after `context`; cheapest when `context` extends the previous one.
    fn next_logits(&mut self, context: &[u32]) -> Vec<f32>;
}

/// A session that keeps nothing: each call is [`NextTokenModel::next_logits`].
pub struct Stateless<'a, M: ?Sized>(pub &'a M);

impl<M: NextTokenModel + ?Sized> TokenSession for Stateless<'_, M> {
    fn next_logits(&mut self, context: &[u32]) -> Vec<f32> {
        self.0.next_logits(context)
    }
}

/// A model read without its session's cache: every token re-reads the whole window (nanoGPT's
/// `sample.py`). The reference the cached path is tested and timed against.
pub struct Uncached<'a>(pub &'a dyn NextTokenModel);

impl NextTokenModel for Uncached<'_> {
    fn next_logits(&self, context: &[u32]) -> Vec<f32> {
        self.0.next_logits(context)
    }
}

/// A text run's model with its tokeniser: what `generate`, `poem` and `chat` need.
pub struct TextModel {
    pub model: Box<dyn NextTokenModel>,
    pub tokenizer: TextTokenizer,
    /// The corpus it was trained on (an embedded name or a path).
    pub data: String,
}

/// How the next token is chosen from the model's logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    /// Logits are divided by this; 0 picks the most likely token (greedy).
    pub temperature: f64,
    /// Keep the `k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `p` (1 = all).
    pub top_p: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self { temperature: 1.0, top_k: 0, top_p: 1.0 }
    }
}

impl SamplingConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(AigcError::invalid("temperature", format!("must be ≥ 0, got {}", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(AigcError::invalid("top_p", format!("must be in (0, 1], got {}", self.top_p)));
        }
        Ok(())
    }

    /// A token drawn from [`distribution`](Self::distribution)`(logits)`.
    pub fn sample(&self, logits: &[f32], rng: &mut ChaCha8Rng) -> u32 {
        draw(&self.distribution(logits), rng) as u32
    }

    /// The sampling distribution over the vocabulary for `logits` (zeros for excluded tokens).
    pub fn distribution(&self, logits: &[f32]) -> Vec<f64> {
        let n = logits.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        let mut probs = vec![0.0; n];
        if self.temperature == 0.0 || self.top_k == 1 {
            probs[order[0]] = 1.0;
            return probs;
        }
        let keep = if self.top_k == 0 { n } else { self.top_k.min(n) };
        let max = logits[order[0]] as f64;
        let weights: Vec<f64> = order[..keep].iter().map(|&i| ((logits[i] as f64 - max) / self.temperature).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut mass = 0.0;
        for (&i, w) in order[..keep].iter().zip(&weights) {
            probs[i] = w / total;
            mass += w / total;
            if mass >= self.top_p {
                break;
            }
        }
        let kept: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= kept);
        probs
    }
}

/// Draws an index from `probs` (which sum to 1).
fn draw(probs: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

/// Samples up to `max_tokens` tokens after `prompt` (token ids; not empty), calling `on_token`
/// with each as it is drawn; `on_token` returning `Break` stops (a client went away).
pub fn generate(
    model: &dyn NextTokenModel,
    prompt: &[u32],
    max_tokens: usize,
    sampling: SamplingConfig,
    seed: u64,
    mut on_token: impl FnMut(u32) -> ControlFlow<()>,
) -> Vec<u32> {
    assert!(!prompt.is_empty(), "generation needs at least one prompt token");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tokens = prompt.to_vec();
    let mut session = model.session();
    for _ in 0..max_tokens {
        let next = sampling.sample(&session.next_logits(&tokens), &mut rng);
        tokens.push(next);
        if on_token(next).is_break() {
            break;
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_one_and_zero_temperature_are_greedy() {
        let logits = [0.1, 2.0, -1.0, 1.9];
        for s in [SamplingConfig { top_k: 1, ..Default::default() }, SamplingConfig { temperature: 0.0, ..Default::default() }] {
            assert_eq!(s.distribution(&logits), vec![0.0, 1.0, 0.0, 0.0]);
        }
    }

    #[test]
    fn top_k_and_top_p_keep_the_most_likely_tokens() {
        let logits = [3.0f32, 2.0, 1.0, 0.0];
        let k2 = SamplingConfig { top_k: 2, ..Default::default() }.distribution(&logits);
        assert!(k2[0] > k2[1] && k2[1] > 0.0 && k2[2] == 0.0 && k2[3] == 0.0);
        assert!((k2.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Softmax of [3, 2, 1, 0] is about [0.64, 0.24, 0.09, 0.03]: top-p 0.8 keeps two tokens.
        let p = SamplingConfig { top_p: 0.8, ..Default::default() }.distribution(&logits);
        assert!(p[0] > 0.0 && p[1] > 0.0 && p[2] == 0.0 && p[3] == 0.0);
        let full = SamplingConfig::default().distribution(&logits);
        assert!((full[0] - 0.6439).abs() < 1e-3);
    }
}

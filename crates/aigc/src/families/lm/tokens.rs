//! Token streams of a corpus split, with random-window batching (nanoGPT's `get_batch`), and the
//! next-token cross-entropy.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::run::rng::NoiseRng;

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


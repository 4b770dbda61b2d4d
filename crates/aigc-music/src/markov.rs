//! The n-gram (Markov chain) baseline over event tokens that every neural model must beat.
//!
//! An order-n model predicts a token from the n−1 tokens before it (within the tune) and the
//! tune's key token (the second token of every tune, so the chain stays in key however far the
//! tune has gone: without it an order-5 chain, two notes of memory, wanders through all twelve
//! keys of the transposed training data), with Witten–Bell interpolation down to a uniform
//! distribution:
//! `p_k(w|h) = (c(h,w) + N₁₊(h)·p_{k−1}(w|h′)) / (c(h) + N₁₊(h))`, where `h′` drops the oldest
//! token of `h` and `N₁₊(h)` counts the distinct tokens seen after `h`; an unseen context falls
//! back to `p_{k−1}`. Counts are kept in hash maps keyed by 64-bit hashes of the token
//! sequences. Training is counting, so a Markov run stores only its configuration and rebuilds
//! the counts from the data.

use std::collections::HashMap;

/// Counts of an order-`order` Markov model over `vocab` tokens.
pub struct Markov {
    order: usize,
    vocab: usize,
    /// Per context length k (0..order): c(h, w) keyed by hash(h, w).
    pairs: Vec<HashMap<u64, u32>>,
    /// Per context length: (c(h), N₁₊(h)) keyed by hash(h).
    contexts: Vec<HashMap<u64, (u32, u32)>>,
}

/// The conditioning key of position `i` of a tune (its token 1, once it has been read).
fn key_of(prefix: &[u32]) -> u32 {
    if prefix.len() >= 2 { prefix[1] } else { u32::MAX }
}

fn hash(key: u32, tokens: &[u32], next: Option<u32>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ tokens.len() as u64;
    for &t in std::iter::once(&key).chain(tokens).chain(next.as_ref()) {
        h = (h ^ t as u64).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    if next.is_some() { h.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15 } else { h }
}

impl Markov {
    /// Counts the n-grams of `sequences` (each a tune's token ids).
    pub fn train<'a>(order: usize, vocab: usize, sequences: impl IntoIterator<Item = &'a [u32]>) -> Self {
        let order = order.max(1);
        let mut pairs: Vec<HashMap<u64, u32>> = vec![HashMap::new(); order];
        let mut contexts: Vec<HashMap<u64, (u32, u32)>> = vec![HashMap::new(); order];
        for seq in sequences {
            for i in 1..seq.len() {
                let key = key_of(&seq[..i]);
                for k in 0..order.min(i + 1) {
                    let h = &seq[i - k..i];
                    let c = pairs[k].entry(hash(key, h, Some(seq[i]))).or_insert(0);
                    *c += 1;
                    let first = *c == 1;
                    let ctx = contexts[k].entry(hash(key, h, None)).or_insert((0, 0));
                    ctx.0 += 1;
                    ctx.1 += first as u32;
                }
            }
        }
        Self { order, vocab, pairs, contexts }
    }

    pub fn order(&self) -> usize {
        self.order
    }

    /// p(next | context) for every token (`context` = the tokens before, within the tune).
    pub fn distribution(&self, context: &[u32]) -> Vec<f64> {
        let mut p = vec![1.0 / self.vocab as f64; self.vocab];
        let key = key_of(context);
        for k in 0..self.order.min(context.len() + 1) {
            let h = &context[context.len() - k..];
            let Some(&(total, distinct)) = self.contexts.get(k).and_then(|m| m.get(&hash(key, h, None))) else { break };
            let denom = (total + distinct) as f64;
            for (w, pw) in p.iter_mut().enumerate() {
                let c = self.pairs[k].get(&hash(key, h, Some(w as u32))).copied().unwrap_or(0) as f64;
                *pw = (c + distinct as f64 * *pw) / denom;
            }
        }
        p
    }

    /// −ln p(next | context).
    pub fn nll(&self, context: &[u32], next: u32) -> f64 {
        let mut p = 1.0 / self.vocab as f64;
        let key = key_of(context);
        for k in 0..self.order.min(context.len() + 1) {
            let h = &context[context.len() - k..];
            let Some(&(total, distinct)) = self.contexts.get(k).and_then(|m| m.get(&hash(key, h, None))) else { break };
            let c = self.pairs[k].get(&hash(key, h, Some(next))).copied().unwrap_or(0) as f64;
            p = (c + distinct as f64 * p) / (total + distinct) as f64;
        }
        -p.ln()
    }
}

//! The training noise source: a ChaCha8 stream whose position is saved in every checkpoint, so a
//! resumed run draws exactly the numbers an uninterrupted run would.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub struct NoiseRng {
    rng: ChaCha8Rng,
}

impl NoiseRng {
    pub fn new(seed: u64) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Restores the stream at a saved position.
    pub fn at(seed: u64, word_pos: u128) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_word_pos(word_pos);
        Self { rng }
    }

    pub fn word_pos(&self) -> u128 {
        self.rng.get_word_pos()
    }

    /// `n` samples of U[0, 1).
    pub fn uniform(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.rng.random::<f32>()).collect()
    }

    /// `n` samples of N(0, 1).
    pub fn normal(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.rng.sample::<f32, _>(StandardNormal)).collect()
    }
}

/// A fixed permutation of `0..n` for epoch `epoch` (derived from the seed, so it needs no saved
/// state).
pub fn epoch_permutation(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut rng);
    indices
}

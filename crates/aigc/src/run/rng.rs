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

/// Which training images each batch holds: every epoch is a seeded permutation, cut into batches
/// (the last partial batch of an epoch is dropped). Its position is the checkpointed
/// `batches_seen`, so it needs no saved state of its own.
#[derive(Debug, Clone)]
pub struct BatchOrder {
    seed: u64,
    /// The current epoch and its permutation.
    cached: Option<(usize, Vec<usize>)>,
}

impl BatchOrder {
    pub fn new(seed: u64) -> Self {
        Self { seed, cached: None }
    }

    /// The indices of batch number `batches_seen` (then advances it), for `n_train` images.
    pub fn next(&mut self, batches_seen: &mut usize, batch_size: usize, n_train: usize) -> Vec<usize> {
        let batch = batch_size.min(n_train).max(1);
        let per_epoch = (n_train / batch).max(1);
        let epoch = *batches_seen / per_epoch;
        let offset = (*batches_seen % per_epoch) * batch;
        if self.cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.cached = Some((epoch, epoch_permutation(self.seed, epoch, n_train)));
        }
        *batches_seen += 1;
        let permutation = &self.cached.as_ref().expect("set above").1;
        permutation[offset..offset + batch].to_vec()
    }
}

//! Sampling, model-agnostic: what a run that draws images offers ([`ImageGenerator`]), the
//! latent-variable generators behind GANs and VAEs ([`latent`]), and text from any next-token
//! model ([`text`]).

pub mod latent;
pub mod text;

use crate::data::ImageShape;
use crate::error::Result;

/// The capability of drawing images. Images travel flattened, `[n, channels·height·width]`
/// values in [-1, 1].
pub trait ImageGenerator {
    fn shape(&self) -> ImageShape;
    /// Classes of a class-conditional model (0: unconditional).
    fn classes(&self) -> usize;
    /// The step of the checkpoint the weights came from.
    fn step(&self) -> usize;
    /// `n` images from noise seeded by `seed` (the same seed gives the same images).
    fn generate(&self, n: usize, seed: u64, labels: SampleLabels) -> Vec<f32>;
    /// `rows` strips of `steps` images that morph from one sample into another.
    fn interpolate(&self, rows: usize, steps: usize, seed: u64, labels: SampleLabels) -> Result<Vec<f32>>;
}

/// Which labels a conditional model gets when sampling (ignored when unconditional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleLabels {
    /// Image `i` gets class `i mod classes`.
    Balanced,
    /// Every image gets this class.
    Class(usize),
    /// Row-major grid with `cols` columns: row `r` gets class `r mod classes`.
    Rows { cols: usize },
}

impl SampleLabels {
    /// The label of image `i` for a model of `classes` classes.
    pub fn label(self, i: usize, classes: usize) -> usize {
        match self {
            SampleLabels::Balanced => i % classes,
            SampleLabels::Class(k) => k,
            SampleLabels::Rows { cols } => (i / cols.max(1)) % classes,
        }
    }
}

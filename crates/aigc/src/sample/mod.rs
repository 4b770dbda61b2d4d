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

    /// Sets how an iterative sampler draws (steps, guidance, …). Generators that draw in one
    /// pass have no such settings and reject every one that is set.
    fn configure(&mut self, settings: &SamplerSettings) -> Result<()> {
        settings.reject("this run draws its images in one pass")
    }

    /// `rows` images as they form, `frames` snapshots each from noise to the sample (row-major:
    /// one row per image). Only iterative samplers have one.
    fn denoising(&self, _rows: usize, _frames: usize, _seed: u64, _labels: SampleLabels) -> Result<Vec<f32>> {
        Err(crate::error::AigcError::invalid("strip", "only diffusion and flow runs draw step by step"))
    }
}

/// How an iterative sampler draws; unset fields keep the run's own settings.
#[derive(Debug, Clone, Default)]
pub struct SamplerSettings {
    /// `ddpm`, `ddim`, `euler` or `heun` (which fit depends on the model's objective).
    pub sampler: Option<String>,
    /// Network evaluations' steps from noise to image.
    pub sample_steps: Option<usize>,
    /// DDIM's stochasticity η (0: deterministic).
    pub eta: Option<f64>,
    /// Classifier-free guidance weight w (conditional models).
    pub guidance: Option<f64>,
    /// A progress bar while sampling.
    pub progress: bool,
    /// Progress for, and a stop request from, another thread (a server whose client left).
    pub control: Option<std::sync::Arc<crate::job::JobControl>>,
}

impl SamplerSettings {
    /// The error for the first field that is set, on a generator without such settings.
    pub fn reject(&self, why: &str) -> Result<()> {
        let set = [
            ("sampler", self.sampler.is_some()),
            ("sample_steps", self.sample_steps.is_some()),
            ("eta", self.eta.is_some()),
            ("guidance", self.guidance.is_some()),
        ];
        match set.iter().find(|(_, is_set)| *is_set) {
            Some((field, _)) => Err(crate::error::AigcError::invalid(*field, format!("only diffusion and flow runs take it: {why}"))),
            None => Ok(()),
        }
    }
}

/// The most image bytes (f32 values) one request may generate.
pub const MAX_IMAGE_BYTES: u64 = 1 << 30;

/// Whether `n` images of `shape` fit [`MAX_IMAGE_BYTES`]; the error names `field`.
pub fn check_count(n: usize, shape: ImageShape, field: &str) -> Result<()> {
    let bytes = (n as u64).saturating_mul(shape.len() as u64).saturating_mul(4);
    if bytes > MAX_IMAGE_BYTES {
        let most = MAX_IMAGE_BYTES / 4 / shape.len().max(1) as u64;
        return Err(crate::error::AigcError::invalid(field, format!("{n} images of {shape} are more than the {most} one request may generate")));
    }
    Ok(())
}

/// Whether generated images are numbers: NaN or infinite values mean a damaged checkpoint or a
/// diverged training, and are an error rather than a black grid or a NaN metric.
pub fn check_finite(values: &[f32], run: &std::path::Path) -> Result<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(crate::error::AigcError::bad_data(
            run,
            format!("the model generated a non-finite value ({} at position {i}): its checkpoint is damaged or its training diverged", values[i]),
        ));
    }
    Ok(())
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

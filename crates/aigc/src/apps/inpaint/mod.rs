//! Image repair (inpainting) with any run that offers an [`Inpainter`], and the two baselines
//! that need no learning.
//!
//! - A family's method proposes what fills the hole: the GANs by latent optimisation (Yeh et al.
//!   2017: find z such that G(z) matches the known pixels, `crate::families::gan::inpaint`), the
//!   VAEs with their encoder (`crate::families::vae::inpaint`).
//! - **Blending** ([`fill::blend`]): a completion keeps the known pixels exactly; inside the hole
//!   it is the proposal Poisson-blended (Pérez et al. 2003) to the known boundary, so the
//!   generated texture's gradients are kept and seams vanish.
//! - **Baselines**: *mean fill* (the mean of the image's known pixels) and *harmonic fill*
//!   (diffusion: Δu = 0 in the hole, the smoothest completion of the border).
//! - **Evaluation** ([`evaluate_inpainting`]): PSNR and SSIM inside the hole ([`quality`]) and the
//!   KID of the completions against other held-out images.

pub mod fill;
pub mod mask;
pub mod quality;

use std::path::Path;

use image::GenericImageView;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use fill::{blend, harmonic_fill, mean_fill};
pub use mask::{Mask, MaskKind, masked};
pub use quality::{psnr_in_hole, ssim_in_hole};

use crate::data::{DataSplits, ImageShape};
use crate::error::{AigcError, Result};
use crate::eval::{FeatureExtractor, kid};

/// How an inpainter searches (the latent optimisation of GANs; the seed of every method).
#[derive(Debug, Clone)]
pub struct InpaintSettings {
    /// Optimisation steps.
    pub steps: usize,
    pub lr: f64,
    /// Weight of the discriminator's prior loss.
    pub prior_weight: f64,
    pub seed: u64,
    /// No progress bar.
    pub quiet: bool,
    /// RePaint's time points (diffusion runs; `None`: the run's `sample_steps`).
    pub sample_steps: Option<usize>,
    /// Progress for, and a stop request from, another thread: the optimising methods count
    /// their steps and stop early (the result is then unfinished: see [`InpaintSettings::stopped`]).
    pub control: Option<std::sync::Arc<crate::job::JobControl>>,
}

impl InpaintSettings {
    pub fn stopped(&self) -> bool {
        self.control.as_ref().is_some_and(|c| c.stop_requested())
    }

    /// Records `done` of `total` units of work.
    pub fn record(&self, done: usize, total: usize) {
        if let Some(c) = &self.control {
            c.record(done, total);
        }
    }
}

impl Default for InpaintSettings {
    fn default() -> Self {
        Self { steps: 500, lr: 0.01, prior_weight: 0.003, seed: 1, quiet: true, sample_steps: None, control: None }
    }
}

/// What a method proposed for the holes, before blending.
pub struct Proposal {
    /// `[n·samples, dim]` images in [-1, 1]: `samples` proposals per image.
    pub images: Vec<f32>,
    /// Methods that optimise: their loss on the known pixels before and after.
    pub context_loss: Option<(f64, f64)>,
}

/// The capability of repairing images.
pub trait Inpainter {
    /// The method's name (`latent`, `vae`).
    fn method(&self) -> &'static str;
    /// The size and channels of the images it repairs.
    fn shape(&self) -> ImageShape;
    /// Errors for settings this method cannot take, naming the field. By default a method has
    /// no sampler, so `sample_steps` is refused.
    fn check(&self, settings: &InpaintSettings) -> Result<()> {
        match settings.sample_steps {
            Some(_) => Err(AigcError::invalid("sample_steps", format!("only for diffusion runs (RePaint); this run inpaints by {}", self.method()))),
            None => Ok(()),
        }
    }
    /// `samples` proposals for each of `images` (`[n, dim]` in [-1, 1]) with its mask.
    fn propose(&self, images: &[f32], masks: &[Mask], samples: usize, settings: InpaintSettings) -> Proposal;
}

/// `samples` completions per image, `[n·samples, dim]`: the inpainter's proposals,
/// Poisson-blended into the known pixels; and the context loss before/after if it optimises.
pub fn complete(inpainter: &dyn Inpainter, images: &[f32], masks: &[Mask], samples: usize, settings: InpaintSettings) -> (Vec<f32>, Option<(f64, f64)>) {
    let dim = inpainter.shape().len();
    let proposal = inpainter.propose(images, masks, samples, settings);
    let completed = proposal
        .images
        .chunks(dim)
        .enumerate()
        .flat_map(|(k, g)| {
            let i = k / samples;
            blend(&images[i * dim..(i + 1) * dim], g, &masks[i])
        })
        .collect();
    (completed, proposal.context_loss)
}

/// Decodes an image for a model of `shape`: grayscale or RGB as the model needs, values in
/// [-1, 1]; its size must be the model's (`what` names it in errors).
pub fn decode_image(bytes: &[u8], what: &Path, shape: ImageShape) -> Result<Vec<f32>> {
    let img = crate::data::folder::decode_picture(bytes, what)?;
    let (w, h) = img.dimensions();
    if (w as usize, h as usize) != (shape.width, shape.height) {
        return Err(AigcError::bad_data(
            what,
            format!("the image is {w}×{h}; the model makes {}×{} images (resize it first)", shape.width, shape.height),
        ));
    }
    let mut pixels = Vec::with_capacity(shape.len());
    crate::data::folder::push_chw(&img, shape.channels, &mut pixels);
    Ok(pixels.into_iter().map(|v| v as f32 / 127.5 - 1.0).collect())
}

/// How many of `held` held-out images an evaluation may complete: at least 2, and two must be
/// left for the real reference.
pub fn check_count(n: usize, held: usize) -> Result<()> {
    if n < 2 || n + 2 > held {
        return Err(AigcError::invalid("n", format!("must be between 2 and {} (the held-out images, less two for the real reference)", held.saturating_sub(2))));
    }
    Ok(())
}

/// One row of the inpainting table: a method on a mask family.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InpaintRow {
    pub mask: String,
    pub method: String,
    pub images: usize,
    /// Mean over images of the PSNR (dB) inside the hole.
    pub psnr: f64,
    /// Mean over images of the SSIM at hole pixels.
    pub ssim: f64,
    /// KID of the completed images against other held-out images (same feature network as
    /// `aigc eval`).
    pub kid: f64,
    /// `None` with a single KID subset (see [`crate::eval::metrics::Estimate::error`]).
    pub kid_std: Option<f64>,
    pub seconds: f64,
}

/// One mask family's example grid: for the first 8 images, the masked input, mean fill,
/// harmonic fill, the method's completion and the original.
pub struct InpaintExamples {
    pub mask: &'static str,
    pub values: Vec<f32>,
    pub cols: usize,
    /// What each column shows.
    pub columns: Vec<String>,
}

/// `aigc eval inpaint`: the inpainter and the two baselines on the first `n` held-out images of
/// `splits`, for each mask family; `extractor` measures KID (against the other held-out images).
pub fn evaluate_inpainting(
    inpainter: &dyn Inpainter,
    splits: &DataSplits,
    extractor: &dyn FeatureExtractor,
    kinds: &[MaskKind],
    n: usize,
    settings: InpaintSettings,
) -> Result<(Vec<InpaintRow>, Vec<InpaintExamples>)> {
    let held = splits.heldout.len();
    check_count(n, held)?;
    let shape = inpainter.shape();
    let dim = shape.len();
    let images = splits.heldout.batch_values(&(0..n).collect::<Vec<_>>());
    let real = extractor.features(&splits.heldout.batch_values(&(n..held).collect::<Vec<_>>()));
    let (mut rows, mut examples) = (Vec::new(), Vec::new());
    for &kind in kinds {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed ^ 0x1A9A1);
        let masks: Vec<Mask> = (0..n).map(|_| kind.mask(shape.height, shape.width, &mut rng)).collect();
        let per_image = |f: &dyn Fn(&[f32], &Mask) -> Vec<f32>| -> Vec<f32> { images.chunks(dim).zip(&masks).flat_map(|(x, m)| f(x, m)).collect() };
        let methods: Vec<(&str, Box<dyn Fn() -> Vec<f32> + '_>)> = vec![
            ("mean fill", Box::new(|| per_image(&mean_fill))),
            ("harmonic fill", Box::new(|| per_image(&harmonic_fill))),
            (inpainter.method(), Box::new(|| complete(inpainter, &images, &masks, 1, settings.clone()).0)),
        ];
        const EXAMPLES: usize = 8;
        let shown = n.min(EXAMPLES);
        let mut columns: Vec<Vec<f32>> = vec![images[..shown * dim].chunks(dim).zip(&masks).flat_map(|(x, m)| masked(x, m)).collect()];
        let mut names = vec!["masked".to_string()];
        for (method, complete) in methods {
            names.push(method.to_string());
            let started = std::time::Instant::now();
            let completed = complete();
            columns.push(completed[..shown * dim].to_vec());
            let seconds = started.elapsed().as_secs_f64();
            let pairs = || images.chunks(dim).zip(completed.chunks(dim)).zip(&masks);
            let psnr = pairs().map(|((x, c), m)| psnr_in_hole(x, c, m)).sum::<f64>() / n as f64;
            let ssim = pairs().map(|((x, c), m)| ssim_in_hole(x, c, m)).sum::<f64>() / n as f64;
            let k = kid(&real, &extractor.features(&completed), 100, n.min(1000), settings.seed);
            let row = InpaintRow { mask: kind.name().into(), method: method.into(), images: n, psnr, ssim, kid: k.mean, kid_std: k.error(), seconds };
            tracing::info!("{} / {}: PSNR {:.2} dB, SSIM {:.3}, KID {} ({:.1} s)", row.mask, row.method, row.psnr, row.ssim, k.show(4), seconds);
            rows.push(row);
        }
        columns.push(images[..shown * dim].to_vec());
        names.push("original".into());
        let values: Vec<f32> = (0..shown).flat_map(|i| columns.iter().flat_map(move |c| c[i * dim..(i + 1) * dim].iter().copied())).collect();
        examples.push(InpaintExamples { mask: kind.name(), values, cols: columns.len(), columns: names });
    }
    Ok((rows, examples))
}

//! Image repair (inpainting) with a trained generator, and the two baselines that need no
//! learning.
//!
//! - **Latent optimisation** (Yeh et al. 2017, "Semantic image inpainting with deep generative
//!   models"): find z such that G(z) matches the known pixels. The loss is a *context* loss, the
//!   L1 distance on known pixels weighted by how many hole pixels lie near each one (weight =
//!   share of hole pixels in a 7×7 window, so pixels at the hole's rim count most), plus λ times
//!   a *prior* loss that keeps G(z) realistic: the discriminator's non-saturating generator loss
//!   `softplus(−D(G(z)))` (λ = 0.003, the paper's). z starts from N(0, I) draws (several per
//!   image: `--samples`), Adam (lr 0.01) for `--steps` steps, gradients through the frozen
//!   generator and discriminator (burn autodiff, batch norms in inference mode).
//! - **VAE** (one shot): fill the hole harmonically, encode, decode the posterior mean (sample
//!   0) or posterior draws (further samples), paste the known pixels back, and repeat three times
//!   so the encoder sees an ever better guess.
//! - **Blending**: a completion keeps the known pixels exactly; inside the hole it is the
//!   generated image Poisson-blended (Pérez et al. 2003) to the known boundary: the hole solves
//!   Δu = Δg with u equal to the image on the hole's border, so the generated texture's
//!   gradients are kept and seams vanish.
//! - **Baselines**: *mean fill* (the mean of the image's known pixels) and *harmonic fill*
//!   (diffusion: Δu = 0 in the hole, the smoothest completion of the border).

use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use image::GenericImageView;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::data::ImageShape;
use crate::error::{AigcError, Result};
use crate::models::gan::{Discriminator, GanDiscriminator, GanGenerator, Generator};
use crate::models::vae::Vae;

/// Which pixels are missing (shared by all channels), row-major `height × width`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub height: usize,
    pub width: usize,
    pub hole: Vec<bool>,
}

/// The mask families of `aigc eval inpaint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// A centred square of half the side.
    Centre,
    /// Four random squares of a quarter of the side.
    Random,
    /// The right half.
    Half,
}

impl MaskKind {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "centre" | "center" => Ok(Self::Centre),
            "random" => Ok(Self::Random),
            "half" => Ok(Self::Half),
            other => Err(AigcError::bad_argument("--masks", format!("unknown mask {other:?}; expected centre, random or half"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Centre => "centre",
            Self::Random => "random",
            Self::Half => "half",
        }
    }

    /// The mask for an image of `height × width` (`rng` places the random blocks).
    pub fn mask(self, height: usize, width: usize, rng: &mut ChaCha8Rng) -> Mask {
        let mut m = Mask { height, width, hole: vec![false; height * width] };
        match self {
            Self::Centre => m.fill_rect(width / 4, height / 4, width.div_ceil(2), height.div_ceil(2)),
            Self::Half => m.fill_rect(width / 2, 0, width - width / 2, height),
            Self::Random => {
                let (bw, bh) = ((width / 4).max(1), (height / 4).max(1));
                for _ in 0..4 {
                    let (x, y) = (rng.random_range(0..=width - bw), rng.random_range(0..=height - bh));
                    m.fill_rect(x, y, bw, bh);
                }
            }
        }
        m
    }
}

impl Mask {
    /// The centred square of half the side (the default hole).
    pub fn centre(height: usize, width: usize) -> Self {
        MaskKind::Centre.mask(height, width, &mut ChaCha8Rng::seed_from_u64(0))
    }

    fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize) {
        for r in y..(y + h).min(self.height) {
            for c in x..(x + w).min(self.width) {
                self.hole[r * self.width + c] = true;
            }
        }
    }

    /// `--mask-rect x,y,w,h` on an image of `height × width`.
    pub fn from_rect(spec: &str, height: usize, width: usize) -> Result<Self> {
        let bad = |why: String| AigcError::bad_argument("--mask-rect", format!("{spec:?}: {why}"));
        let v: Vec<usize> = spec.split(',').map(|p| p.trim().parse::<usize>()).collect::<std::result::Result<_, _>>().map_err(|_| bad("expected four whole numbers x,y,w,h".into()))?;
        let [x, y, w, h] = v[..] else { return Err(bad("expected four numbers x,y,w,h".into())) };
        if w == 0 || h == 0 || x + w > width || y + h > height {
            return Err(bad(format!("the rectangle must be non-empty and inside the {width}×{height} image")));
        }
        let mut m = Mask { height, width, hole: vec![false; height * width] };
        m.fill_rect(x, y, w, h);
        m.check("--mask-rect")?;
        Ok(m)
    }

    /// A mask image: white (luma ≥ 128) marks the hole, black the known pixels.
    pub fn from_png(path: &std::path::Path, height: usize, width: usize) -> Result<Self> {
        let img = image::open(path).map_err(|e| AigcError::bad_data(path, format!("not a readable image: {e}")))?;
        let (w, h) = img.dimensions();
        if (w as usize, h as usize) != (width, height) {
            return Err(AigcError::bad_data(path, format!("the mask is {w}×{h}, the image {width}×{height}; they must match")));
        }
        let luma = img.to_luma8();
        let m = Mask { height, width, hole: luma.pixels().map(|p| p.0[0] >= 128).collect() };
        m.check(&path.display().to_string())?;
        Ok(m)
    }

    /// A mask must have a hole and keep some known pixels.
    pub fn check(&self, what: &str) -> Result<()> {
        let holes = self.hole.iter().filter(|&&h| h).count();
        if holes == 0 {
            return Err(AigcError::bad_argument(what, "the mask has no hole (white pixels mark what to fill)"));
        }
        if holes == self.hole.len() {
            return Err(AigcError::bad_argument(what, "the mask covers the whole image: nothing is known to fill from"));
        }
        Ok(())
    }

    pub fn holes(&self) -> usize {
        self.hole.iter().filter(|&&h| h).count()
    }

    /// Yeh et al.'s importance weights: for a known pixel, the share of hole pixels in the 7×7
    /// window around it; 0 in the hole.
    pub fn importance(&self, channels: usize) -> Vec<f32> {
        let (h, w) = (self.height as isize, self.width as isize);
        let mut one = vec![0f32; self.hole.len()];
        for r in 0..h {
            for c in 0..w {
                if self.hole[(r * w + c) as usize] {
                    continue;
                }
                let mut n = 0;
                for dr in -3..=3 {
                    for dc in -3..=3 {
                        let (rr, cc) = (r + dr, c + dc);
                        n += (rr >= 0 && rr < h && cc >= 0 && cc < w && self.hole[(rr * w + cc) as usize]) as usize;
                    }
                }
                one[(r * w + c) as usize] = n as f32 / 49.0;
            }
        }
        (0..channels).flat_map(|_| one.iter().copied()).collect()
    }
}

/// The image with its hole painted mid-grey (for showing the input).
pub fn masked(image: &[f32], mask: &Mask) -> Vec<f32> {
    let n = mask.hole.len();
    image.iter().enumerate().map(|(i, &v)| if mask.hole[i % n] { 0.0 } else { v }).collect()
}

/// Baseline: the hole filled with the mean of the image's known pixels (per channel).
pub fn mean_fill(image: &[f32], mask: &Mask) -> Vec<f32> {
    let n = mask.hole.len();
    let mut out = image.to_vec();
    for ch in out.chunks_mut(n) {
        let known: Vec<f32> = ch.iter().zip(&mask.hole).filter(|(_, h)| !**h).map(|(v, _)| *v).collect();
        let mean = known.iter().sum::<f32>() / known.len().max(1) as f32;
        ch.iter_mut().zip(&mask.hole).filter(|(_, h)| **h).for_each(|(v, _)| *v = mean);
    }
    out
}

/// Solves Δu = Δguide in the hole (per channel) with u = image outside it, by successive
/// over-relaxation; `guide = None` solves Δu = 0 (harmonic fill). Pixels outside the image are
/// treated as absent (Neumann border).
fn poisson(image: &[f32], guide: Option<&[f32]>, mask: &Mask) -> Vec<f32> {
    let (h, w, n) = (mask.height, mask.width, mask.hole.len());
    let mut out = match guide {
        Some(g) => image.iter().zip(g).enumerate().map(|(i, (&x, &g))| if mask.hole[i % n] { g } else { x }).collect(),
        None => mean_fill(image, mask),
    };
    let holes: Vec<usize> = (0..n).filter(|&i| mask.hole[i]).collect();
    let neighbours = |i: usize| {
        let (r, c) = (i / w, i % w);
        [(r > 0).then(|| i - w), (r + 1 < h).then(|| i + w), (c > 0).then(|| i - 1), (c + 1 < w).then(|| i + 1)]
    };
    let omega = 1.9f32;
    for ch in 0..out.len() / n {
        let base = ch * n;
        for _ in 0..2000 {
            let mut change = 0f32;
            for &i in &holes {
                let (mut sum, mut count, mut lap) = (0f32, 0f32, 0f32);
                for j in neighbours(i).into_iter().flatten() {
                    sum += out[base + j];
                    count += 1.0;
                    if let Some(g) = guide {
                        lap += g[base + i] - g[base + j];
                    }
                }
                let target = (sum + lap) / count;
                let delta = omega * (target - out[base + i]);
                out[base + i] += delta;
                change = change.max(delta.abs());
            }
            if change < 1e-5 {
                break;
            }
        }
    }
    out
}

/// Baseline: the harmonic (diffusion) fill of the hole.
pub fn harmonic_fill(image: &[f32], mask: &Mask) -> Vec<f32> {
    poisson(image, None, mask)
}

/// The known pixels of `image`, and the Poisson blend of `generated` in the hole.
pub fn blend(image: &[f32], generated: &[f32], mask: &Mask) -> Vec<f32> {
    poisson(image, Some(generated), mask).into_iter().map(|v| v.clamp(-1.0, 1.0)).collect()
}

/// Settings of latent optimisation.
#[derive(Debug, Clone, Copy)]
pub struct LatentSettings {
    pub steps: usize,
    pub lr: f64,
    /// Weight of the discriminator's prior loss.
    pub prior_weight: f64,
    pub seed: u64,
    /// No progress bar.
    pub quiet: bool,
}

impl Default for LatentSettings {
    fn default() -> Self {
        Self { steps: 500, lr: 0.01, prior_weight: 0.003, seed: 1, quiet: true }
    }
}

/// What latent optimisation achieved: generated images `[n·samples, dim]` and the context loss
/// (weighted L1 per image) before and after.
pub struct LatentResult {
    pub generated: Vec<f32>,
    pub context_before: f64,
    pub context_after: f64,
}

/// Latent optimisation for `images` `[n, dim]` (values in [-1, 1]) with one mask per image,
/// `samples` latents per image; `device` is an autodiff device; the networks are frozen there.
pub fn inpaint_latent(
    generator: &GanGenerator,
    critic: &GanDiscriminator,
    images: &[f32],
    masks: &[Mask],
    shape: ImageShape,
    samples: usize,
    settings: LatentSettings,
    device: &Device,
) -> LatentResult {
    let dim = shape.len();
    let n = masks.len() * samples;
    let latent = generator.latent_dim();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let z0: Vec<f32> = (0..n * latent).map(|_| StandardNormal.sample(&mut rng)).collect();
    let repeat = |per_image: &dyn Fn(usize) -> Vec<f32>| -> Tensor<2> {
        let values: Vec<f32> = (0..masks.len()).flat_map(|i| (0..samples).flat_map(move |_| per_image(i))).collect();
        Tensor::from_data(TensorData::new(values, [n, dim]), device)
    };
    let target = repeat(&|i| images[i * dim..(i + 1) * dim].to_vec());
    let weights = repeat(&|i| masks[i].importance(shape.channels));
    let context = |img: Tensor<2>| ((img - target.clone()).abs() * weights.clone()).sum_dim(1);
    // z and Adam's moments live on the inner (non-autodiff) device; each step lifts z.
    let mut z = Tensor::<2>::from_data(TensorData::new(z0, [n, latent]), &device.clone().inner());
    let mut adam = super::TensorAdam::new(&z, settings.lr);
    let mut before = 0.0;
    let bar = crate::train::progress::progress_bar(settings.steps as u64, 0, settings.quiet, "steps");
    for step in 0..settings.steps {
        let zg = Tensor::from_inner(z.clone()).require_grad();
        let img = generator.generate(zg.clone());
        let ctx = context(img.clone());
        let ctx_mean = if step == 0 || (!settings.quiet && step % 25 == 0) { ctx.clone().mean().into_scalar::<f32>() as f64 } else { 0.0 };
        if step == 0 {
            before = ctx_mean;
        }
        let prior = softplus(critic.score(img, None).neg(), 1.0);
        let loss = ctx.sum() + prior.sum().mul_scalar(settings.prior_weight);
        let grads = loss.backward();
        let g = zg.grad(&grads).unwrap_or_else(|| z.zeros_like());
        z = adam.step(z, g);
        bar.set_position(step as u64 + 1);
        if step % 25 == 0 {
            bar.set_message(format!("context loss {:.3}", ctx_mean));
        }
    }
    bar.finish_and_clear();
    let img = generator.generate(Tensor::from_inner(z));
    let after = context(img.clone()).mean().into_scalar::<f32>() as f64;
    LatentResult { generated: img.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default(), context_before: before, context_after: after }
}

/// The VAE's completions `[n·samples, dim]`: harmonic fill, encode, decode (posterior mean for
/// sample 0, posterior draws after), paste the known pixels, three rounds.
pub fn inpaint_vae(vae: &Vae, images: &[f32], masks: &[Mask], shape: ImageShape, samples: usize, seed: u64, device: &Device) -> Vec<f32> {
    let dim = shape.len();
    let latent = vae.latent_dim();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut guesses: Vec<f32> = masks
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            let filled = harmonic_fill(&images[i * dim..(i + 1) * dim], m);
            (0..samples).flat_map(move |_| filled.clone())
        })
        .collect();
    let n = masks.len() * samples;
    let eps: Vec<f32> = (0..n * latent).map(|k| if (k / latent) % samples == 0 { 0.0 } else { StandardNormal.sample(&mut rng) }).collect();
    let eps = Tensor::<2>::from_data(TensorData::new(eps, [n, latent]), device);
    for _ in 0..3 {
        let x = Tensor::<2>::from_data(TensorData::new(guesses.clone(), [n, dim]), device);
        let (mu, logvar) = vae.encode(x, None);
        let z = mu + logvar.mul_scalar(0.5).exp() * eps.clone();
        let decoded = burn::tensor::activation::sigmoid(vae.decode_logits(z)).mul_scalar(2.0).sub_scalar(1.0);
        let decoded = decoded.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
        for (k, (g, d)) in guesses.iter_mut().zip(decoded).enumerate() {
            let (image, pixel) = (k / dim / samples, k % dim);
            if masks[image].hole[pixel % (shape.height * shape.width)] {
                *g = d;
            }
        }
    }
    guesses
}

/// Reads an image for a model of `shape`: grayscale or RGB as the model needs, values in
/// [-1, 1]; its size must be the model's.
pub fn read_image(path: &std::path::Path, shape: ImageShape) -> Result<Vec<f32>> {
    let img = image::open(path).map_err(|e| AigcError::bad_data(path, format!("not a readable image: {e}")))?;
    let (w, h) = img.dimensions();
    if (w as usize, h as usize) != (shape.width, shape.height) {
        return Err(AigcError::bad_data(
            path,
            format!("the image is {w}×{h}; the model makes {}×{} images (resize it first)", shape.width, shape.height),
        ));
    }
    let mut pixels = Vec::with_capacity(shape.len());
    crate::data::folder::push_chw(&img, shape.channels, &mut pixels);
    Ok(pixels.into_iter().map(|v| v as f32 / 127.5 - 1.0).collect())
}

/// PSNR (dB, values in [-1, 1] mapped to [0, 1]) over the hole pixels of each channel.
pub fn psnr_in_hole(truth: &[f32], completed: &[f32], mask: &Mask) -> f64 {
    let n = mask.hole.len();
    let (mut se, mut count) = (0f64, 0usize);
    for (i, (a, b)) in truth.iter().zip(completed).enumerate() {
        if mask.hole[i % n] {
            let d = (*a as f64 - *b as f64) / 2.0;
            se += d * d;
            count += 1;
        }
    }
    let mse = se / count.max(1) as f64;
    if mse == 0.0 { 99.0 } else { -10.0 * mse.log10() }
}

/// SSIM (Wang et al. 2004; 7×7 uniform windows, C₁ = (0.01)², C₂ = (0.03)² for values in
/// [0, 1]) averaged over the hole pixels (window centres) of each channel.
pub fn ssim_in_hole(truth: &[f32], completed: &[f32], mask: &Mask) -> f64 {
    let (h, w, n) = (mask.height as isize, mask.width as isize, mask.hole.len());
    let (c1, c2) = (1e-4f64, 9e-4f64);
    let (mut total, mut count) = (0f64, 0usize);
    for ch in 0..truth.len() / n {
        let (a, b) = (&truth[ch * n..(ch + 1) * n], &completed[ch * n..(ch + 1) * n]);
        for r in 0..h {
            for c in 0..w {
                if !mask.hole[(r * w + c) as usize] {
                    continue;
                }
                let (mut sa, mut sb, mut saa, mut sbb, mut sab, mut k) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
                for rr in (r - 3).max(0)..(r + 4).min(h) {
                    for cc in (c - 3).max(0)..(c + 4).min(w) {
                        let i = (rr * w + cc) as usize;
                        let (x, y) = ((a[i] as f64 + 1.0) / 2.0, (b[i] as f64 + 1.0) / 2.0);
                        sa += x;
                        sb += y;
                        saa += x * x;
                        sbb += y * y;
                        sab += x * y;
                        k += 1.0;
                    }
                }
                let (ma, mb) = (sa / k, sb / k);
                let (va, vb, cov) = (saa / k - ma * ma, sbb / k - mb * mb, sab / k - ma * mb);
                total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                count += 1;
            }
        }
    }
    total / count.max(1) as f64
}

/// A run's model, ready to inpaint.
pub enum Inpainter {
    /// A GAN's generator and discriminator, frozen, on an autodiff device.
    Gan { generator: GanGenerator, critic: GanDiscriminator },
    Vae(Vae),
}

/// A loaded run: its model, image shape and data set.
pub struct RunInpainter {
    pub model: Inpainter,
    pub shape: ImageShape,
    pub data: String,
    pub image_size: u32,
    device: Device,
}

/// The method names of `--method`.
pub fn method_name(inpainter: &Inpainter) -> &'static str {
    match inpainter {
        Inpainter::Gan { .. } => "latent",
        Inpainter::Vae(_) => "vae",
    }
}

impl RunInpainter {
    /// Loads the newest checkpoint of a GAN run (EMA generator when kept) or a VAE run.
    /// Conditional runs are not supported.
    pub fn load(run: &std::path::Path, device: &Device) -> Result<Self> {
        use burn::module::Module;
        use crate::sample::{CheckpointChoice, RunKind, load_run_config, load_vae_config, run_image_shape, run_kind, sampling_generator_file};
        use crate::train::gan::{DISCRIMINATOR_FILE, GENERATOR_FILE, build_gan, load_module};
        let dir = crate::train::RunDir::new(run);
        let kind = run_kind(&dir)?;
        let (_, checkpoint) = CheckpointChoice::Latest.resolve(&dir)?;
        let ad = device.clone().autodiff();
        let conditional = || AigcError::bad_argument("--run", "inpainting needs an unconditional model (this run is conditional)");
        match kind {
            RunKind::Gan => {
                let config = load_run_config(&dir)?;
                if config.conditional {
                    return Err(conditional());
                }
                let (shape, classes) = run_image_shape(&config.data, config.image_size)?;
                let (g, d) = build_gan(&config, shape, classes, &ad)?;
                let generator = load_module(g, &sampling_generator_file(&checkpoint))?.freeze();
                let critic = load_module(d, &checkpoint.join(DISCRIMINATOR_FILE))?.freeze();
                Ok(Self { model: Inpainter::Gan { generator, critic }, shape, data: config.data, image_size: config.image_size, device: ad })
            }
            RunKind::Vae => {
                let config = load_vae_config(&dir)?;
                if config.conditional {
                    return Err(conditional());
                }
                let (shape, _) = run_image_shape(&config.data, config.image_size)?;
                let vae = crate::models::vae::build_vae(&config.arch, shape, config.latent_dim, 0, device)?;
                let vae = load_module(vae, &checkpoint.join(GENERATOR_FILE))?;
                Ok(Self { model: Inpainter::Vae(vae), shape, data: config.data, image_size: config.image_size, device: device.clone() })
            }
        }
    }

    /// `samples` completions per image, `[n·samples, dim]`: generated, then Poisson-blended
    /// into the known pixels; and the context loss before/after for latent optimisation.
    pub fn complete(&self, images: &[f32], masks: &[Mask], samples: usize, settings: LatentSettings) -> (Vec<f32>, Option<(f64, f64)>) {
        let dim = self.shape.len();
        let (generated, losses) = match &self.model {
            Inpainter::Gan { generator, critic } => {
                let r = inpaint_latent(generator, critic, images, masks, self.shape, samples, settings, &self.device);
                (r.generated, Some((r.context_before, r.context_after)))
            }
            Inpainter::Vae(vae) => (inpaint_vae(vae, images, masks, self.shape, samples, settings.seed, &self.device), None),
        };
        let completed = generated
            .chunks(dim)
            .enumerate()
            .flat_map(|(k, g)| {
                let i = k / samples;
                blend(&images[i * dim..(i + 1) * dim], g, &masks[i])
            })
            .collect();
        (completed, losses)
    }
}

/// One row of the inpainting table: a method on a mask family.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
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
    pub kid_std: f64,
    pub seconds: f64,
}

/// `aigc eval inpaint`: the run's method and the two baselines on the first `n` held-out
/// images, for each mask family (`eval-inpaint.json` in the run, and `eval-inpaint-MASK.png`:
/// for the first 8 images, the masked input, mean fill, harmonic fill, the run's completion and
/// the original).
pub fn evaluate_inpainting(
    run: &std::path::Path,
    kinds: &[MaskKind],
    n: usize,
    settings: LatentSettings,
    cache: &std::path::Path,
    device: &Device,
    quiet: bool,
) -> Result<Vec<InpaintRow>> {
    use crate::eval::extractor::FeatureExtractor;
    use crate::eval::metrics::kid;
    let model = RunInpainter::load(run, device)?;
    let splits = crate::data::DataSource::parse(&model.data).load(model.image_size)?;
    let held = splits.heldout.len();
    if n < 2 || n + 2 > held {
        return Err(AigcError::bad_argument("--n", format!("must be between 2 and {} (the held-out images, less two for the real reference)", held.saturating_sub(2))));
    }
    let dim = model.shape.len();
    let images = splits.heldout.batch_values(&(0..n).collect::<Vec<_>>());
    let extractor = crate::eval::run_eval::data_extractor(&model.data, &splits, cache, device, quiet)?;
    let real = extractor.features(&splits.heldout.batch_values(&(n..held).collect::<Vec<_>>()));
    let mut rows = Vec::new();
    for &kind in kinds {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed ^ 0x1A9A1);
        let masks: Vec<Mask> = (0..n).map(|_| kind.mask(model.shape.height, model.shape.width, &mut rng)).collect();
        let per_image = |f: &dyn Fn(&[f32], &Mask) -> Vec<f32>| -> Vec<f32> { images.chunks(dim).zip(&masks).flat_map(|(x, m)| f(x, m)).collect() };
        let methods: Vec<(&str, Box<dyn Fn() -> Vec<f32> + '_>)> = vec![
            ("mean fill", Box::new(|| per_image(&mean_fill))),
            ("harmonic fill", Box::new(|| per_image(&harmonic_fill))),
            (method_name(&model.model), Box::new(|| model.complete(&images, &masks, 1, settings).0)),
        ];
        // Example grid: per image, masked input, the three completions and the truth.
        const EXAMPLES: usize = 8;
        let shown = n.min(EXAMPLES);
        let mut columns: Vec<Vec<f32>> = vec![images[..shown * dim].chunks(dim).zip(&masks).flat_map(|(x, m)| masked(x, m)).collect()];
        for (method, complete) in methods {
            let started = std::time::Instant::now();
            let completed = complete();
            columns.push(completed[..shown * dim].to_vec());
            let seconds = started.elapsed().as_secs_f64();
            let pairs = || images.chunks(dim).zip(completed.chunks(dim)).zip(&masks);
            let psnr = pairs().map(|((x, c), m)| psnr_in_hole(x, c, m)).sum::<f64>() / n as f64;
            let ssim = pairs().map(|((x, c), m)| ssim_in_hole(x, c, m)).sum::<f64>() / n as f64;
            let k = kid(&real, &extractor.features(&completed), 100, n.min(1000), settings.seed);
            let row = InpaintRow { mask: kind.name().into(), method: method.into(), images: n, psnr, ssim, kid: k.mean, kid_std: k.std, seconds };
            tracing::info!("{} / {}: PSNR {:.2} dB, SSIM {:.3}, KID {:.4} ± {:.4} ({:.1} s)", row.mask, row.method, row.psnr, row.ssim, row.kid, row.kid_std, seconds);
            rows.push(row);
        }
        columns.push(images[..shown * dim].to_vec());
        let grid: Vec<f32> = (0..shown).flat_map(|i| columns.iter().flat_map(move |c| c[i * dim..(i + 1) * dim].iter().copied())).collect();
        crate::report::grid::save_grid(&grid, model.shape, columns.len(), &run.join(format!("eval-inpaint-{}.png", kind.name())))?;
    }
    let path = run.join("eval-inpaint.json");
    let json = serde_json::to_vec_pretty(&rows).map_err(|e| AigcError::output(&path, e))?;
    crate::train::checkpoint::write_atomic(&path, &json)?;
    Ok(rows)
}

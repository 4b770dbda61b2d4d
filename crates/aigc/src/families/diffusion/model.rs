//! A trained denoiser ready to draw: the UNet (without autodiff) with its objective and schedule,
//! classifier-free guidance, and the samplers of [`super::sampler`] run over batches of images
//! with a progress bar. [`DiffusionImages`] is what a run offers as [`ImageGenerator`].

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::config::{DiffusionTrainConfig, Objective, SamplerKind, check_sampling};
use super::sampler::{self, ddim_timesteps};
use super::schedule::Schedule;
use super::unet::Unet;
use crate::data::ImageShape;
use crate::error::Result;
use crate::run::rng::NoiseRng;
use crate::sample::{ImageGenerator, SampleLabels, SamplerSettings};
use crate::train::progress::progress_bar;

/// Images denoised together (a batch of 250 28-px images of the default UNet needs ~0.5 GB).
pub const SAMPLE_BATCH: usize = 250;

/// How images are drawn, resolved from a run's config and a request.
#[derive(Debug, Clone)]
pub struct Sampling {
    pub sampler: SamplerKind,
    pub steps: usize,
    pub eta: f64,
    /// Classifier-free guidance weight (conditional models; 0 = the conditional prediction alone).
    pub guidance: f64,
    pub progress: bool,
    /// Counts the network evaluations; once a stop is requested the rest are skipped (the
    /// images are then not finished: callers check [`Sampling::stopped`]).
    pub control: Option<std::sync::Arc<crate::job::JobControl>>,
}

impl Sampling {
    /// The run's own settings.
    pub fn of(config: &DiffusionTrainConfig) -> Self {
        Self { sampler: config.sampler(), steps: config.sample_steps, eta: config.eta, guidance: config.guidance, progress: false, control: None }
    }

    /// These settings overridden by a request, checked against the run.
    pub fn with(self, config: &DiffusionTrainConfig, request: &SamplerSettings) -> Result<Self> {
        let sampler = match &request.sampler {
            Some(name) => SamplerKind::parse(name).map_err(|p| crate::error::AigcError::invalid("sampler", p))?,
            None => self.sampler,
        };
        let steps = request.sample_steps.unwrap_or(self.steps);
        let eta = request.eta.unwrap_or(self.eta);
        check_sampling(config, sampler, steps, eta, request.guidance)?;
        Ok(Self { sampler, steps, eta, guidance: request.guidance.unwrap_or(self.guidance), progress: request.progress, control: request.control.clone() })
    }

    /// Whether a stop was requested.
    pub fn stopped(&self) -> bool {
        self.control.as_ref().is_some_and(|c| c.stop_requested())
    }

    /// Network evaluations per image (twice that with guidance).
    pub fn evaluations(&self, timesteps: usize) -> usize {
        match self.sampler {
            SamplerKind::Ddpm => timesteps,
            SamplerKind::Heun => 2 * self.steps - 1,
            _ => self.steps,
        }
    }
}

/// A denoising network with what it was trained for.
#[derive(Debug, Clone)]
pub struct Denoiser {
    /// Without autodiff.
    pub unet: Unet,
    pub objective: Objective,
    pub schedule: Schedule,
    pub shape: ImageShape,
    pub device: Device,
}

/// The network's time input for a flow time t ∈ [0, 1] (the UNet's sinusoidal features are
/// made for DDPM's step indices 0..1000).
pub fn flow_time_input(t: f32) -> f32 {
    1000.0 * t
}

impl Denoiser {
    /// The network's prediction (ε for DDPM, the velocity for flows) for the flat images `x` at
    /// time inputs `t` (one per image), with `labels` for a conditional model; with guidance
    /// `w`, (1 + w)·pred(x, c) − w·pred(x, ∅).
    pub fn predict(&self, x: &[f32], t: &[f32], labels: Option<&[i64]>, guidance: f64) -> Vec<f32> {
        let b = t.len();
        let s = self.shape;
        let tensor = |values: Vec<f32>, n: usize| Tensor::<4>::from_data(TensorData::new(values, [n, s.channels, s.height, s.width]), &self.device);
        let ids = |values: Vec<i64>| {
            let n = values.len();
            Tensor::<1, Int>::from_data(TensorData::new(values, [n]), &self.device)
        };
        let out = match labels {
            Some(labels) if guidance != 0.0 => {
                let null = self.unet.classes() as i64;
                let doubled: Vec<f32> = x.iter().chain(x).copied().collect();
                let times: Vec<f32> = t.iter().chain(t).copied().collect();
                let all: Vec<i64> = labels.iter().copied().chain(std::iter::repeat_n(null, b)).collect();
                let both = self.unet.forward(tensor(doubled, 2 * b), &times, Some(ids(all)));
                let conditional = both.clone().narrow(0, 0, b);
                let unconditional = both.narrow(0, b, b);
                conditional.mul_scalar(1.0 + guidance) - unconditional.mul_scalar(guidance)
            }
            Some(labels) => self.unet.forward(tensor(x.to_vec(), b), t, Some(ids(labels.to_vec()))),
            None => self.unet.forward(tensor(x.to_vec(), b), t, None),
        };
        out.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
    }

    /// Denoises `x` (flat x_T, pure noise) into images with `sampling`; `observe` sees the batch
    /// before every network evaluation (the current x_t) and `noise` gives the samplers' fresh
    /// noise.
    pub fn denoise(&self, x: Vec<f32>, labels: Option<&[i64]>, sampling: &Sampling, noise: &mut NoiseRng, observe: &mut dyn FnMut(&[f32])) -> Vec<f32> {
        let b = x.len() / self.shape.len();
        let mut draw = |n: usize| noise.normal(n);
        match self.objective {
            Objective::Ddpm => {
                let mut predict = |x: &[f32], t: usize| {
                    observe(x);
                    if sampling.stopped() {
                        return vec![0.0; x.len()];
                    }
                    self.predict(x, &vec![t as f32; b], labels, sampling.guidance)
                };
                if sampling.sampler == SamplerKind::Ddpm {
                    sampler::ddpm(&self.schedule, x, &mut predict, &mut draw)
                } else {
                    let steps = ddim_timesteps(self.schedule.len(), sampling.steps).expect("sample steps were checked against the run");
                    sampler::ddim(&self.schedule, &steps, sampling.eta, x, &mut predict, &mut draw)
                }
            }
            Objective::Flow => {
                let mut predict = |x: &[f32], t: f32| {
                    observe(x);
                    if sampling.stopped() {
                        return vec![0.0; x.len()];
                    }
                    self.predict(x, &vec![flow_time_input(t); b], labels, sampling.guidance)
                };
                sampler::flow(sampling.steps, sampling.sampler == SamplerKind::Heun, x, &mut predict).expect("sample steps were checked against the run")
            }
        }
    }

    /// `n` images from the noise of `seed` (image i's starting noise is the seed's i-th draw,
    /// whatever `n`), in batches of [`SAMPLE_BATCH`], with a progress bar when `sampling` asks.
    pub fn sample(&self, n: usize, seed: u64, labels: SampleLabels, sampling: &Sampling) -> Vec<f32> {
        let dim = self.shape.len();
        let start = NoiseRng::new(seed).normal(n * dim);
        self.sample_from(start, labels, sampling, seed)
    }

    /// Images from the given starting noise `x_T` (`[n, dim]`).
    pub fn sample_from(&self, start: Vec<f32>, labels: SampleLabels, sampling: &Sampling, seed: u64) -> Vec<f32> {
        let dim = self.shape.len();
        let n = start.len() / dim;
        let classes = self.unet.classes();
        let mut noise = NoiseRng::new(seed ^ 0xD1FF);
        let per_image = sampling.evaluations(self.schedule.len()) as u64;
        let bar = progress_bar(n as u64 * per_image, 0, !sampling.progress, "image-steps");
        bar.set_message(format!("{} {} steps", sampling.sampler, sampling.evaluations(self.schedule.len())));
        if let Some(c) = &sampling.control {
            c.record(0, n * per_image as usize);
        }
        let mut out = Vec::with_capacity(n * dim);
        for (chunk, x) in start.chunks(SAMPLE_BATCH * dim).enumerate() {
            let b = x.len() / dim;
            let ids: Vec<i64> = (0..b).map(|i| labels.label(chunk * SAMPLE_BATCH + i, classes.max(1)) as i64).collect();
            let mut observe = |_: &[f32]| {
                bar.inc(b as u64);
                if let Some(c) = &sampling.control {
                    c.advance(b);
                }
            };
            out.extend(self.denoise(x.to_vec(), (classes > 0).then_some(&ids[..]), sampling, &mut noise, &mut observe));
        }
        bar.finish_and_clear();
        out
    }
}

/// Spherical interpolation between two Gaussian noise vectors (keeps the noise's norm, so every
/// point is a plausible x_T).
fn slerp(a: &[f32], b: &[f32], s: f32) -> Vec<f32> {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cos = (dot / (norm(a) * norm(b)).max(1e-12)).clamp(-1.0, 1.0);
    let theta = cos.acos();
    if theta.abs() < 1e-4 {
        return a.iter().zip(b).map(|(x, y)| (1.0 - s) * x + s * y).collect();
    }
    let (wa, wb) = (((1.0 - s) * theta).sin() / theta.sin(), (s * theta).sin() / theta.sin());
    a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect()
}

/// A diffusion run's images: the denoiser of a checkpoint (its weight average) and how to sample.
pub struct DiffusionImages {
    pub denoiser: Denoiser,
    pub config: DiffusionTrainConfig,
    pub sampling: Sampling,
    pub step: usize,
}

impl ImageGenerator for DiffusionImages {
    fn shape(&self) -> ImageShape {
        self.denoiser.shape
    }

    fn classes(&self) -> usize {
        self.denoiser.unet.classes()
    }

    fn step(&self) -> usize {
        self.step
    }

    fn generate(&self, n: usize, seed: u64, labels: SampleLabels) -> Vec<f32> {
        self.denoiser.sample(n, seed, labels, &self.sampling)
    }

    /// Strips between two seeded noises, slerped, through the deterministic sampler (DDIM with
    /// η = 0 for a DDPM model), so each strip morphs smoothly.
    fn interpolate(&self, rows: usize, steps: usize, seed: u64, labels: SampleLabels) -> Result<Vec<f32>> {
        let dim = self.denoiser.shape.len();
        let ends = NoiseRng::new(seed).normal(2 * rows * dim);
        let mut start = Vec::with_capacity(rows * steps * dim);
        for r in 0..rows {
            let (a, b) = (&ends[2 * r * dim..(2 * r + 1) * dim], &ends[(2 * r + 1) * dim..(2 * r + 2) * dim]);
            for k in 0..steps {
                start.extend(slerp(a, b, k as f32 / (steps.max(2) - 1) as f32));
            }
        }
        let mut sampling = self.sampling.clone();
        if sampling.sampler == SamplerKind::Ddpm {
            sampling.sampler = SamplerKind::Ddim;
            sampling.steps = sampling.steps.min(self.denoiser.schedule.len());
        }
        sampling.eta = 0.0;
        let labels = match labels {
            SampleLabels::Rows { .. } => SampleLabels::Rows { cols: steps },
            other => other,
        };
        Ok(self.denoiser.sample_from(start, labels, &sampling, seed))
    }

    fn configure(&mut self, settings: &SamplerSettings) -> Result<()> {
        self.sampling = self.sampling.clone().with(&self.config, settings)?;
        Ok(())
    }

    fn denoising(&self, rows: usize, frames: usize, seed: u64, labels: SampleLabels) -> Result<Vec<f32>> {
        denoising_strip(&self.denoiser, rows, frames, seed, labels, &self.sampling)
    }
}

/// `rows` images as they form: `frames` snapshots of x_t each (evenly spaced over the sampler's
/// network evaluations, the last one the finished image), row-major.
pub fn denoising_strip(denoiser: &Denoiser, rows: usize, frames: usize, seed: u64, labels: SampleLabels, sampling: &Sampling) -> Result<Vec<f32>> {
    let frames = frames.max(2);
    let dim = denoiser.shape.len();
    let classes = denoiser.unet.classes();
    let start = NoiseRng::new(seed).normal(rows * dim);
    let ids: Vec<i64> = (0..rows).map(|i| labels.label(i, classes.max(1)) as i64).collect();
    let mut seen: Vec<Vec<f32>> = Vec::new();
    let mut noise = NoiseRng::new(seed ^ 0xD1FF);
    let last = denoiser.denoise(start, (classes > 0).then_some(&ids[..]), &Sampling { progress: false, ..sampling.clone() }, &mut noise, &mut |x| seen.push(x.to_vec()));
    let picks: Vec<&[f32]> = (0..frames - 1).map(|k| seen[k * seen.len() / (frames - 1)].as_slice()).chain(std::iter::once(last.as_slice())).collect();
    let mut out = Vec::with_capacity(rows * frames * dim);
    for r in 0..rows {
        for frame in &picks {
            out.extend(frame[r * dim..(r + 1) * dim].iter().map(|v| v.clamp(-1.0, 1.0)));
        }
    }
    Ok(out)
}

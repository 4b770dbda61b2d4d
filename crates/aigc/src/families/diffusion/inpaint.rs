//! RePaint (Lugmayr et al. 2022): inpainting with an unconditional diffusion or flow model and no
//! training for it. Every step denoises the whole image, then replaces the known pixels by the
//! image itself noised to the same level, so the generated region is drawn consistent with them;
//! each step is resampled (re-noised back one step and denoised again) `RESAMPLE` times so the
//! two regions harmonise. Both objectives share the form x_t = α_t·x_0 + σ_t·ε (DDPM:
//! α = √ᾱ_t, σ = √(1 − ᾱ_t); flows: α = 1 − t, σ = t), and the steps are DDPM's posterior
//! steps (DDIM with η = 1) between the sampler's time points.

use super::config::{DiffusionTrainConfig, MAX_TIMESTEPS, Objective};
use super::model::{Denoiser, SAMPLE_BATCH, flow_time_input};
use super::sampler::ddim_timesteps;
use crate::apps::inpaint::{InpaintSettings, Inpainter, Mask, Proposal};
use crate::data::ImageShape;
use crate::error::{AigcError, Result};
use crate::run::rng::NoiseRng;
use crate::train::progress::progress_bar;

/// Denoising passes per time step (RePaint's r; jump length 1).
pub const RESAMPLE: usize = 5;

/// A point on the noise path.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    alpha: f32,
    sigma: f32,
    /// The network's time input.
    time: f32,
}

/// The data end of the path (x_0 itself).
const DATA: Point = Point { alpha: 1.0, sigma: 0.0, time: 0.0 };

/// An unconditional denoiser and the number of time points it steps through by default.
pub struct RePaint {
    denoiser: Denoiser,
    steps: usize,
}

impl RePaint {
    /// RePaint over the run's `sample_steps` time points (`InpaintSettings::sample_steps`
    /// overrides them).
    pub fn new(denoiser: Denoiser, config: &DiffusionTrainConfig) -> Self {
        Self { denoiser, steps: config.sample_steps }
    }

    /// `steps` time points from noise towards the data, within the limits [`Inpainter::check`]
    /// enforces (clamped to them for callers that skip the check).
    fn points(&self, steps: usize) -> Vec<Point> {
        match self.denoiser.objective {
            Objective::Ddpm => ddim_timesteps(self.denoiser.schedule.len(), steps.clamp(1, self.denoiser.schedule.len()))
                .expect("1 ≤ steps ≤ T")
                .into_iter()
                .map(|t| {
                    let ab = self.denoiser.schedule.alpha_bars[t];
                    Point { alpha: ab.sqrt() as f32, sigma: (1.0 - ab).sqrt() as f32, time: t as f32 }
                })
                .collect(),
            Objective::Flow => {
                let steps = steps.clamp(1, MAX_TIMESTEPS);
                (0..steps)
                    .map(|i| {
                        let t = 1.0 - i as f32 / steps as f32;
                        Point { alpha: 1.0 - t, sigma: t, time: flow_time_input(t) }
                    })
                    .collect()
            }
        }
    }

    /// (x̂_0 clipped to [-1, 1], ε̂) at `p` for the batch `x`.
    fn predict(&self, x: &[f32], p: Point) -> (Vec<f32>, Vec<f32>) {
        let b = x.len() / self.denoiser.shape.len();
        let out = self.denoiser.predict(x, &vec![p.time; b], None, 0.0);
        match self.denoiser.objective {
            Objective::Ddpm => {
                let x0 = x.iter().zip(&out).map(|(x, e)| ((x - p.sigma * e) / p.alpha.max(1e-6)).clamp(-1.0, 1.0)).collect();
                (x0, out)
            }
            Objective::Flow => {
                let x0 = x.iter().zip(&out).map(|(x, v)| (x - p.sigma * v).clamp(-1.0, 1.0)).collect();
                let eps = x.iter().zip(&out).map(|(x, v)| x + p.alpha * v).collect();
                (x0, eps)
            }
        }
    }

    /// One RePaint step from `p` to the less noisy `q`: the generated region by the posterior
    /// step, the known region the image noised to `q`.
    fn step(&self, x: &[f32], p: Point, q: Point, known: &[f32], hole: &[bool], noise: &mut NoiseRng) -> Vec<f32> {
        let (x0, eps) = self.predict(x, p);
        // DDIM's σ with η = 1 in the α/σ form: s² = σ_q²·(1 − (α_p·σ_q)² / (α_q·σ_p)²).
        let ratio = if p.sigma > 0.0 { (p.alpha * q.sigma) / (q.alpha * p.sigma) } else { 0.0 };
        let s = (q.sigma * q.sigma * (1.0 - ratio * ratio)).max(0.0).sqrt();
        let direction = (q.sigma * q.sigma - s * s).max(0.0).sqrt();
        let z = noise.normal(x.len());
        let z_known = noise.normal(x.len());
        (0..x.len())
            .map(|k| if hole[k] { q.alpha * x0[k] + direction * eps[k] + s * z[k] } else { q.alpha * known[k] + q.sigma * z_known[k] })
            .collect()
    }

    /// Back from `q` to the noisier `p`: x_p = (α_p/α_q)·x_q + √(σ_p² − (α_p/α_q)²·σ_q²)·z.
    fn renoise(x: &[f32], p: Point, q: Point, noise: &mut NoiseRng) -> Vec<f32> {
        let a = p.alpha / q.alpha;
        let s = (p.sigma * p.sigma - a * a * q.sigma * q.sigma).max(0.0).sqrt();
        x.iter().zip(noise.normal(x.len())).map(|(x, z)| a * x + s * z).collect()
    }

    /// Completes one batch: `known` images with `hole` marking, per value, what is generated.
    /// `tick` after every network evaluation; its `false` stops the batch there (unfinished).
    fn complete(&self, points: &[Point], known: &[f32], hole: &[bool], noise: &mut NoiseRng, tick: &dyn Fn() -> bool) -> Vec<f32> {
        let mut x = noise.normal(known.len());
        for (i, &p) in points.iter().enumerate() {
            let q = points.get(i + 1).copied().unwrap_or(DATA);
            for r in 0..RESAMPLE {
                let next = self.step(&x, p, q, known, hole, noise);
                if !tick() {
                    return next;
                }
                x = if r + 1 < RESAMPLE { Self::renoise(&next, p, q, noise) } else { next };
            }
        }
        x
    }
}

impl Inpainter for RePaint {
    fn method(&self) -> &'static str {
        "repaint"
    }

    fn shape(&self) -> ImageShape {
        self.denoiser.shape
    }

    /// Time points as the samplers take them: DDPM's through [`ddim_timesteps`] (at least 1, at
    /// most the training steps); a flow's at least 1 and at most [`MAX_TIMESTEPS`].
    fn check(&self, settings: &InpaintSettings) -> Result<()> {
        let Some(steps) = settings.sample_steps else { return Ok(()) };
        match self.denoiser.objective {
            Objective::Ddpm => ddim_timesteps(self.denoiser.schedule.len(), steps).map(drop),
            Objective::Flow if steps == 0 => Err(AigcError::invalid("sample_steps", "must be at least 1")),
            Objective::Flow if steps > MAX_TIMESTEPS => {
                Err(AigcError::invalid("sample_steps", format!("{steps} RePaint steps are more than the {MAX_TIMESTEPS} time points a flow run may take")))
            }
            Objective::Flow => Ok(()),
        }
    }

    fn propose(&self, images: &[f32], masks: &[Mask], samples: usize, settings: InpaintSettings) -> Proposal {
        let shape = self.denoiser.shape;
        let (dim, plane) = (shape.len(), shape.height * shape.width);
        let mut known = Vec::with_capacity(images.len() * samples);
        let mut hole = Vec::with_capacity(images.len() * samples);
        for (i, mask) in masks.iter().enumerate() {
            for _ in 0..samples {
                known.extend_from_slice(&images[i * dim..(i + 1) * dim]);
                hole.extend((0..dim).map(|k| mask.hole[k % plane]));
            }
        }
        let points = self.points(settings.sample_steps.unwrap_or(self.steps));
        let total = (known.len() / dim) as u64;
        let bar = progress_bar(total * (points.len() * RESAMPLE) as u64, 0, settings.quiet, "image-steps");
        bar.set_message(format!("RePaint, {} steps × {RESAMPLE}", points.len()));
        let mut noise = NoiseRng::new(settings.seed);
        let mut out = Vec::with_capacity(known.len());
        let work = total as usize * points.len() * RESAMPLE;
        settings.record(0, work);
        for (known, hole) in known.chunks(SAMPLE_BATCH * dim).zip(hole.chunks(SAMPLE_BATCH * dim)) {
            let b = (known.len() / dim) as u64;
            let tick = || {
                bar.inc(b);
                if let Some(c) = &settings.control {
                    c.advance(b as usize);
                }
                !settings.stopped()
            };
            out.extend(self.complete(&points, known, hole, &mut noise, &tick));
            if settings.stopped() {
                break;
            }
        }
        // A stopped job's images are unfinished; the caller checks `settings.stopped()`.
        out.resize(known.len(), 0.0);
        bar.finish_and_clear();
        Proposal { images: out, context_loss: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use crate::families::diffusion::{Schedule, ScheduleKind, UnetConfig};

    fn repaint(objective: Objective) -> RePaint {
        let device = Device::flex();
        let unet = UnetConfig::new(1).with_widths(vec![8, 16]).with_attention(vec![false, false]).init(&device);
        let denoiser = Denoiser { unet, objective, schedule: Schedule::new(ScheduleKind::Linear, 1000), shape: ImageShape { channels: 1, height: 8, width: 8 }, device };
        RePaint::new(denoiser, &DiffusionTrainConfig::new())
    }

    #[test]
    fn time_points_are_the_checked_count() {
        // A flow run takes every time point its check lets through, beyond the schedule's 1,000.
        let flow = repaint(Objective::Flow);
        let settings = InpaintSettings { sample_steps: Some(2_000), ..InpaintSettings::default() };
        assert!(flow.check(&settings).is_ok());
        assert_eq!(flow.points(2_000).len(), 2_000);
        assert!(flow.check(&InpaintSettings { sample_steps: Some(MAX_TIMESTEPS + 1), ..settings.clone() }).is_err());
        // A DDPM run is checked against its training steps, and takes exactly that many.
        let ddpm = repaint(Objective::Ddpm);
        assert!(ddpm.check(&InpaintSettings { sample_steps: Some(1_001), ..settings }).is_err());
        assert_eq!(ddpm.points(1_000).len(), 1_000);
        assert_eq!(ddpm.points(10).len(), 10);
    }
}

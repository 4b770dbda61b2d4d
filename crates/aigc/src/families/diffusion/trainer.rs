//! The diffusion trainer on the shared loop: AdamW on the denoising regression (ε for DDPM, the
//! velocity for flow matching) with a linear warm-up, the label dropped `label_dropout` of the
//! time for classifier-free guidance, a weight average for sampling, grids from fixed noise, and
//! KID/FID evaluations (`eval_every`) like the GANs'.

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::config::{DiffusionTrainConfig, Objective};
use super::model::{Denoiser, Sampling, denoising_strip, flow_time_input};
use super::schedule::Schedule;
use super::unet::Unet;
use crate::data::{DataSplits, ImageShape};
use crate::error::Result;
use crate::eval::training::{EvalMetrics, TrainingEvaluator};
use crate::report;
use crate::run::record::{self, MODEL, MODEL_EMA, OPTIMIZER};
use crate::run::rng::{BatchOrder, NoiseRng};
use crate::run::{RunDir, TrainState};
use crate::sample::SampleLabels;
use crate::train::{Cadence, Cursor, Evaluation, StepMetrics, Trainer, ema};

/// One logged training step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffusionMetrics {
    pub step: usize,
    pub epoch: f64,
    /// Mean squared error of the prediction (ε or velocity) per pixel.
    pub loss: f64,
    pub lr: f64,
    pub elapsed_s: f64,
}

impl StepMetrics for DiffusionMetrics {
    fn losses(&self) -> Vec<(&'static str, f64)> {
        vec![("loss", self.loss)]
    }

    fn message(&self) -> String {
        format!("loss {:.4}", self.loss)
    }

    fn set_timing(&mut self, elapsed_s: f64, _steps_per_s: f64) {
        self.elapsed_s = elapsed_s;
    }
}

/// Images of the sample grids: 8 per row (a conditional model: 8 per class, a row each).
const GRID_COLS: usize = 8;
const GRID_SEED_SALT: u64 = 0x6121D;

/// A diffusion model with its optimizer, weight average, data, noise source and data cursor.
pub struct DiffusionTrainer {
    pub config: DiffusionTrainConfig,
    /// On the autodiff device.
    pub unet: Unet,
    /// The weight average (no autodiff), when `ema_decay` > 0.
    pub ema: Option<Unet>,
    optim: ModuleOptimizer,
    data: DataSplits,
    schedule: Schedule,
    noise: NoiseRng,
    batches_seen: usize,
    /// An autodiff device.
    device: Device,
    order: BatchOrder,
    /// `eval_every`: the feature network and the held-out features.
    pub evaluator: Option<TrainingEvaluator>,
}

fn adamw(config: &DiffusionTrainConfig) -> ModuleOptimizer {
    // PyTorch's epsilon (burn's default is 1e-5).
    AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(config.weight_decay as f32).init()
}

/// A batch's noised images and what the network must predict for them.
pub struct NoisedBatch {
    pub x_t: Tensor<4>,
    /// The network's time input per image.
    pub times: Vec<f32>,
    pub target: Tensor<4>,
}

/// Noises the clean batch `x0` (`[B, C, H, W]`) for `objective`, drawing ε and t from `noise`:
/// DDPM t uniform over the steps, ε the target; flow t = σ(n), n ~ N(0, 1) (logit-normal), the
/// velocity ε − x_0 the target.
pub fn noised_batch(objective: Objective, schedule: &Schedule, x0: Tensor<4>, noise: &mut NoiseRng) -> NoisedBatch {
    let [b, c, h, w] = x0.dims();
    let device = x0.device();
    let eps = Tensor::<4>::from_data(TensorData::new(noise.normal(b * c * h * w), [b, c, h, w]), &device);
    let (signal, sigma, times): (Vec<f32>, Vec<f32>, Vec<f32>) = match objective {
        Objective::Ddpm => {
            let steps: Vec<usize> = noise.uniform(b).iter().map(|u| ((*u as f64 * schedule.len() as f64) as usize).min(schedule.len() - 1)).collect();
            let ab: Vec<f64> = steps.iter().map(|&t| schedule.alpha_bars[t]).collect();
            (ab.iter().map(|a| a.sqrt() as f32).collect(), ab.iter().map(|a| (1.0 - a).sqrt() as f32).collect(), steps.iter().map(|&t| t as f32).collect())
        }
        Objective::Flow => {
            let t: Vec<f32> = noise.normal(b).iter().map(|n| 1.0 / (1.0 + (-n).exp())).collect();
            (t.iter().map(|t| 1.0 - t).collect(), t.clone(), t.iter().map(|&t| flow_time_input(t)).collect())
        }
    };
    let column = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [b, 1, 1, 1]), &device);
    let x_t = x0.clone() * column(signal) + eps.clone() * column(sigma);
    let target = match objective {
        Objective::Ddpm => eps,
        Objective::Flow => eps - x0,
    };
    NoisedBatch { x_t, times, target }
}

impl DiffusionTrainer {
    /// A fresh trainer on `data`; `device` must have autodiff enabled.
    pub fn new(config: DiffusionTrainConfig, unet: Unet, data: DataSplits, device: Device) -> Self {
        let noise = NoiseRng::new(config.seed);
        let ema = (config.ema_decay > 0.0).then(|| unet.valid());
        let schedule = Schedule::new(config.schedule, config.timesteps);
        let order = BatchOrder::new(config.seed);
        Self { optim: adamw(&config), config, unet, ema, data, schedule, noise, batches_seen: 0, device, order, evaluator: None }
    }

    fn shape(&self) -> ImageShape {
        self.data.train.shape
    }

    /// The weights samples come from (the average when kept), as a denoiser without autodiff.
    pub fn denoiser(&self) -> Denoiser {
        let unet = self.ema.clone().unwrap_or_else(|| self.unet.valid());
        Denoiser { unet, objective: self.config.objective, schedule: self.schedule.clone(), shape: self.shape(), device: self.device.clone().inner() }
    }

    /// The learning rate at `step` (0-based): linear warm-up, then constant.
    fn lr(&self, step: usize) -> f64 {
        self.config.lr * ((step + 1) as f64 / self.config.warmup_steps.max(1) as f64).min(1.0)
    }

    /// The grid of the run's fixed noise: 64 images, or 8 per class in rows.
    fn grid(&self) -> (Vec<f32>, usize) {
        let classes = self.unet.classes();
        let n = if classes > 0 { GRID_COLS * classes } else { 64 };
        let sampling = Sampling::of(&self.config);
        (self.denoiser().sample(n, self.config.seed ^ GRID_SEED_SALT, SampleLabels::Rows { cols: GRID_COLS }, &sampling), GRID_COLS)
    }
}

impl Trainer for DiffusionTrainer {
    type Metrics = DiffusionMetrics;
    type Eval = EvalMetrics;

    fn total_steps(&self) -> usize {
        self.config.total_steps(self.data.train.len())
    }

    fn cadence(&self) -> Cadence {
        let c = &self.config;
        Cadence {
            log_every: c.log_every,
            sample_every: Some(c.sample_every),
            eval_every: c.eval_every,
            checkpoint_every: c.checkpoint_every,
            keep_checkpoints: c.keep_checkpoints,
        }
    }

    fn step(&mut self, step: usize, measure: bool) -> Option<DiffusionMetrics> {
        let indices = self.order.next(&mut self.batches_seen, self.config.batch_size, self.data.train.len());
        let s = self.shape();
        let b = indices.len();
        let x0 = self.data.train.batch(&indices, &self.device).reshape([b, s.channels, s.height, s.width]);
        let batch = noised_batch(self.config.objective, &self.schedule, x0, &mut self.noise);
        let classes = self.unet.classes();
        let labels = (classes > 0).then(|| {
            let drop = self.noise.uniform(b);
            let ids: Vec<i64> = indices
                .iter()
                .zip(drop)
                .map(|(&i, u)| if (u as f64) < self.config.label_dropout { classes as i64 } else { self.data.train.label(i).map_or(classes as i64, i64::from) })
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(ids, [b]), &self.device)
        });
        let prediction = self.unet.forward(batch.x_t, &batch.times, labels);
        let loss = (prediction - batch.target).square().mean();
        let measured = measure.then(|| loss.clone().into_scalar::<f32>() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &self.unet);
        let lr = self.lr(step);
        self.unet = self.optim.step(lr, self.unet.clone(), grads);
        if let Some(average) = self.ema.take() {
            let decay = ema::decay_at(self.config.ema_decay, step);
            self.ema = Some(ema::update_ema(average, &self.unet, decay));
        }
        let n_train = self.data.train.len();
        let per_epoch = (n_train / self.config.batch_size.min(n_train)).max(1);
        measured.map(|loss| DiffusionMetrics { step: step + 1, epoch: self.batches_seen as f64 / per_epoch as f64, loss, lr, elapsed_s: 0.0 })
    }

    fn cursor(&self) -> Cursor {
        Cursor { batches_seen: self.batches_seen, rng_word_pos: self.noise.word_pos() }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        record::save_module(&self.unet, dir, MODEL)?;
        if let Some(average) = &self.ema {
            record::save_module(average, dir, MODEL_EMA)?;
        }
        record::save_optimizer(&self.optim, dir, OPTIMIZER)
    }

    fn load(&mut self, dir: &Path, state: &TrainState) -> Result<()> {
        self.unet = record::load_module(self.unet.clone(), &dir.join(MODEL))?;
        if let Some(average) = self.ema.take() {
            self.ema = Some(record::load_module(average, &dir.join(MODEL_EMA))?);
        }
        self.optim = adamw(&self.config).load_record(record::load_optimizer(&dir.join(OPTIMIZER))?);
        self.noise = NoiseRng::at(self.config.seed, state.rng_word_pos);
        self.batches_seen = state.batches_seen;
        Ok(())
    }

    fn snapshot(&mut self, run: &RunDir, step: usize) -> Result<()> {
        let (values, cols) = self.grid();
        report::save_grid(&values, self.shape(), cols, &run.sample_grid(step))
    }

    fn evaluate(&mut self, step: usize) -> Result<Option<Evaluation<EvalMetrics>>> {
        let Some(evaluator) = &self.evaluator else { return Ok(None) };
        let (n, seed) = evaluator.request();
        let generated = self.denoiser().sample(n, seed, SampleLabels::Balanced, &Sampling::of(&self.config));
        let m = evaluator.measure(&generated, step);
        Ok(Some(Evaluation { score: Some(m.kid), line: Some(TrainingEvaluator::line(&m)), record: m }))
    }

    fn finish(&mut self, run: &RunDir) -> Result<()> {
        let (values, cols) = self.grid();
        report::save_grid(&values, self.shape(), cols, &run.final_samples())?;
        let strip_frames = 10;
        let denoiser = self.denoiser();
        let strip = denoising_strip(&denoiser, 8, strip_frames, self.config.seed ^ GRID_SEED_SALT, SampleLabels::Balanced, &Sampling::of(&self.config))?;
        report::save_grid(&strip, self.shape(), strip_frames, &run.denoising_strip())?;
        let logged = run.metrics().read::<DiffusionMetrics>()?;
        let title = match self.config.objective {
            Objective::Ddpm => "DDPM loss (MSE of the predicted noise)",
            Objective::Flow => "flow-matching loss (MSE of the predicted velocity)",
        };
        report::plot_lines(title, "step", &[("loss", logged.iter().map(|m| (m.step as f64, m.loss)).collect())], &run.loss_plot())?;
        super::torch_export(&denoiser.unet, &self.config).write(run.root())?;
        Ok(())
    }
}

//! The GAN trainer (Goodfellow et al. 2014; WGAN: Arjovsky et al. 2017) on the shared loop.
//!
//! One step: the discriminator (critic) is updated on a real batch and on G(z) *detached* from the
//! generator's graph; then the generator is updated through a *fresh* D forward pass on the same
//! G(z). The article's code got both wrong (its D step back-propagated into G, and its G step
//! reused a graph the D step had consumed). With the Wasserstein losses each step runs `n_critic`
//! critic updates (weight clipping and RMSProp for `wgan`; the gradient penalty on interpolates
//! and Adam for `wgan-gp`), then one generator update on fresh noise. A class-conditional GAN
//! generates each batch with the labels of the real batch it is compared with.

use std::path::Path;

use burn::module::{ModuleMapper, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, RmsPropConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::eval::training::{EvalMetrics, TrainingEvaluator};
use super::{Discriminator, ExportableGenerator, GanLoss, GanTrainConfig, gradient_penalty, r1_penalty};
use crate::data::{DataSplits, ImageShape};
use crate::error::Result;
use crate::report;
use crate::run::record::{self, DISCRIMINATOR, DISCRIMINATOR_OPTIMIZER, GENERATOR, GENERATOR_EMA, GENERATOR_OPTIMIZER};
use crate::run::rng::{BatchOrder, NoiseRng};
use crate::run::{RunDir, TrainState};
use crate::sample::latent::SampleGrid;
use crate::train::augment::{AugmentParams, diff_augment};
use crate::train::{Cadence, Cursor, Evaluation, StepMetrics, Trainer, ema, map_as_leaf};

/// One logged training step of a GAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanMetrics {
    pub step: usize,
    pub epoch: f64,
    pub d_loss: f64,
    pub g_loss: f64,
    /// Mean D(x) on the real batch: the probability σ(D(x)) for BCE, the critic value for WGAN.
    pub d_real: f64,
    /// Mean D(G(z)) on the generated batch, in the same units as `d_real`.
    pub d_fake: f64,
    pub elapsed_s: f64,
}

impl StepMetrics for GanMetrics {
    fn losses(&self) -> Vec<(&'static str, f64)> {
        vec![("d_loss", self.d_loss), ("g_loss", self.g_loss)]
    }

    fn message(&self) -> String {
        format!("D {:.3} G {:.3} D(x) {:.2} D(G(z)) {:.2}", self.d_loss, self.g_loss, self.d_real, self.d_fake)
    }

    fn set_timing(&mut self, elapsed_s: f64, _steps_per_s: f64) {
        self.elapsed_s = elapsed_s;
    }
}

/// A GAN with its optimizers, data, noise source and data cursor.
pub struct GanTrainer<G: ExportableGenerator, D: Discriminator> {
    pub config: GanTrainConfig,
    pub generator: G,
    /// Exponential moving average of the generator's weights (no autodiff), when enabled.
    pub generator_ema: Option<G>,
    pub discriminator: D,
    g_optim: ModuleOptimizer,
    d_optim: ModuleOptimizer,
    data: DataSplits,
    noise: NoiseRng,
    batches_seen: usize,
    /// An autodiff device.
    device: Device,
    order: BatchOrder,
    grid: SampleGrid,
    /// `eval_every`: the feature network and the held-out features.
    pub evaluator: Option<TrainingEvaluator>,
}

impl<G: ExportableGenerator, D: Discriminator> GanTrainer<G, D> {
    /// A fresh trainer on `data`; `device` must have autodiff enabled.
    pub fn new(config: GanTrainConfig, generator: G, discriminator: D, data: DataSplits, device: Device) -> Self {
        let (g_optim, d_optim) = optimizers(&config);
        let noise = NoiseRng::new(config.seed);
        let seed = config.seed;
        let generator_ema = (config.ema_decay > 0.0).then(|| generator.valid());
        let grid = SampleGrid::new(config.seed, config.latent_dim, generator.classes(), &device.clone().inner());
        Self {
            config,
            generator_ema,
            generator,
            discriminator,
            g_optim,
            d_optim,
            data,
            noise,
            batches_seen: 0,
            device,
            order: BatchOrder::new(seed),
            grid,
            evaluator: None,
        }
    }

    /// DiffAugment (when the config asks for it) of `[batch, image_dim]` images of `shape`.
    fn augment(&mut self, x: Tensor<2>, shape: ImageShape) -> Tensor<2> {
        if !self.config.diffaugment {
            return x;
        }
        let params = AugmentParams::draw(x.dims()[0], shape, &mut self.noise);
        diff_augment(x, shape, &params)
    }

    /// Noise for `batch` images, followed by their one-hot labels for a conditional generator.
    fn noise_batch(&mut self, batch: usize, labels: Option<&Tensor<2>>) -> Tensor<2> {
        let latent = self.generator.latent_dim();
        let values = self.noise.normal(batch * latent);
        let z = Tensor::from_data(TensorData::new(values, [batch, latent]), &self.device);
        match labels {
            Some(labels) => Tensor::cat(vec![z, labels.clone()], 1),
            None => z,
        }
    }

    /// One discriminator (critic) update. Returns G(z), its labels, and (when `measure`) the loss
    /// and mean outputs.
    fn discriminator_step(&mut self, measure: bool) -> (Tensor<2>, Option<Tensor<2>>, Option<[f64; 3]>) {
        let indices = self.order.next(&mut self.batches_seen, self.config.batch_size, self.data.train.len());
        let shape = self.data.train.shape;
        let real = self.data.train.batch(&indices, &self.device);
        let real = self.augment(real, shape);
        let labels = self.data.train.one_hot_labels(&indices, self.generator.classes(), &self.device);
        let z = self.noise_batch(indices.len(), labels.as_ref());
        let fake = self.generator.generate(z);
        let r1_gamma = self.config.r1_gamma();
        let (d_real, r1) = if r1_gamma > 0.0 {
            let (score, input_gradient) = self.discriminator.score_with_input_gradient(real.clone(), labels.clone());
            (score, Some(r1_penalty(input_gradient, r1_gamma)))
        } else {
            (self.discriminator.score(real.clone(), labels.clone()), None)
        };
        // Detached: the D step must not back-propagate into G.
        let fake_detached = self.augment(fake.clone().detach(), shape);
        let d_fake = self.discriminator.score(fake_detached.clone(), labels.clone());
        let mut loss = self.config.loss.discriminator_smoothed(d_real.clone(), d_fake.clone(), self.config.label_smoothing);
        if let Some(r1) = r1 {
            loss = loss + r1;
        }
        if self.config.loss == GanLoss::WganGp {
            let epsilon = self.noise.uniform(indices.len());
            let epsilon = Tensor::<2>::from_data(TensorData::new(epsilon, [indices.len(), 1]), &self.device);
            let mixed = real.clone() * epsilon.clone() + fake_detached * epsilon.neg().add_scalar(1.0);
            let (_, input_gradient) = self.discriminator.score_with_input_gradient(mixed, labels.clone());
            loss = loss + gradient_penalty(input_gradient, self.config.gp_lambda);
        }
        let measured = measure.then(|| {
            let (r, f) = if self.config.loss.is_logit() {
                (sigmoid(d_real.detach()).mean(), sigmoid(d_fake.detach()).mean())
            } else {
                (d_real.detach().mean(), d_fake.detach().mean())
            };
            [scalar(loss.clone()), scalar(r), scalar(f)]
        });
        let grads = GradientsParams::from_grads(loss.backward(), &self.discriminator);
        let lr = self.config.learning_rate();
        self.discriminator = self.d_optim.step(lr, self.discriminator.clone(), grads);
        if self.config.loss == GanLoss::Wgan {
            self.discriminator = self.discriminator.clone().map(&mut WeightClipper { bound: self.config.clip });
        }
        (fake, labels, measured)
    }

    /// One generator update through a fresh D pass on `fake` (still attached to G's graph).
    fn generator_step(&mut self, step: usize, fake: Tensor<2>, labels: Option<Tensor<2>>, measure: bool) -> Option<f64> {
        let shape = self.data.train.shape;
        let fake = self.augment(fake, shape);
        let loss = self.config.loss.generator(self.discriminator.score(fake, labels));
        let value = measure.then(|| scalar(loss.clone()));
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        let lr = self.config.learning_rate();
        self.generator = self.g_optim.step(lr, self.generator.clone(), grads);
        if let Some(ema) = self.generator_ema.take() {
            let decay = ema::decay_at(self.config.ema_decay, step);
            self.generator_ema = Some(ema::update_ema(ema, &self.generator, decay).with_buffers_of(&self.generator));
        }
        value
    }

    /// The generator to sample from: the weight average when enabled, else the raw generator.
    pub fn sampling_generator(&self) -> &G {
        self.generator_ema.as_ref().unwrap_or(&self.generator)
    }
}

impl<G: ExportableGenerator, D: Discriminator> Trainer for GanTrainer<G, D> {
    type Metrics = GanMetrics;
    type Eval = EvalMetrics;

    fn total_steps(&self) -> usize {
        self.config.total_steps(self.data.train.len())
    }

    fn cadence(&self) -> Cadence {
        let c = &self.config;
        Cadence {
            log_every: c.log_every,
            sample_every: Some(c.sample_every),
            eval_every: self.evaluator.as_ref().and(c.eval_every),
            checkpoint_every: c.checkpoint_every,
            keep_checkpoints: c.keep_checkpoints,
        }
    }

    fn score_key(&self) -> Option<&'static str> {
        self.evaluator.as_ref().map(|_| "kid")
    }

    /// A generator update and its discriminator updates.
    fn step(&mut self, step: usize, measure: bool) -> Option<GanMetrics> {
        let critic_steps = self.config.critic_steps();
        let mut last_fake = None;
        let mut measured = None;
        for i in 0..critic_steps {
            let last = i + 1 == critic_steps;
            let (fake, labels, m) = self.discriminator_step(measure && last);
            last_fake = Some((fake, labels));
            measured = measured.or(m);
        }
        let (fake, labels) = last_fake.expect("at least one critic step");
        // After several critic steps the generator gets fresh noise (with the last real labels).
        let fake = if critic_steps > 1 {
            let z = self.noise_batch(fake.dims()[0], labels.as_ref());
            self.generator.generate(z)
        } else {
            fake
        };
        let g_loss = self.generator_step(step, fake, labels, measure);
        let n_train = self.data.train.len();
        let per_epoch = (n_train / self.config.batch_size.min(n_train)).max(1);
        match (measured, g_loss) {
            (Some([d_loss, d_real, d_fake]), Some(g_loss)) => Some(GanMetrics {
                step: step + 1,
                epoch: self.batches_seen as f64 / per_epoch as f64,
                d_loss,
                g_loss,
                d_real,
                d_fake,
                elapsed_s: 0.0,
            }),
            _ => None,
        }
    }

    fn cursor(&self) -> Cursor {
        Cursor { batches_seen: self.batches_seen, rng_word_pos: self.noise.word_pos() }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        record::save_module(&self.generator, dir, GENERATOR)?;
        record::save_module(&self.discriminator, dir, DISCRIMINATOR)?;
        if let Some(ema) = &self.generator_ema {
            record::save_module(ema, dir, GENERATOR_EMA)?;
        }
        record::save_optimizer(&self.g_optim, dir, GENERATOR_OPTIMIZER)?;
        record::save_optimizer(&self.d_optim, dir, DISCRIMINATOR_OPTIMIZER)
    }

    fn load(&mut self, dir: &Path, state: &TrainState) -> Result<()> {
        self.generator = record::load_module(self.generator.clone(), &dir.join(GENERATOR))?;
        self.discriminator = record::load_module(self.discriminator.clone(), &dir.join(DISCRIMINATOR))?;
        if let Some(ema) = self.generator_ema.take() {
            self.generator_ema = Some(record::load_module(ema, &dir.join(GENERATOR_EMA))?);
        }
        let (g_optim, d_optim) = optimizers(&self.config);
        self.g_optim = g_optim.load_record(record::load_optimizer(&dir.join(GENERATOR_OPTIMIZER))?);
        self.d_optim = d_optim.load_record(record::load_optimizer(&dir.join(DISCRIMINATOR_OPTIMIZER))?);
        self.noise = NoiseRng::at(self.config.seed, state.rng_word_pos);
        self.batches_seen = state.batches_seen;
        Ok(())
    }

    fn snapshot(&mut self, run: &RunDir, step: usize) -> Result<()> {
        self.grid.save(self.sampling_generator(), self.data.train.shape, &run.sample_grid(step))
    }

    fn evaluate(&mut self, step: usize) -> Result<Option<Evaluation<EvalMetrics>>> {
        let Some(evaluator) = &self.evaluator else { return Ok(None) };
        let m = evaluator.evaluate(self.sampling_generator(), step, &self.device.clone().inner());
        Ok(Some(Evaluation { score: Some(m.kid), line: Some(TrainingEvaluator::line(&m)), record: m }))
    }

    fn finish(&mut self, run: &RunDir) -> Result<()> {
        self.grid.save(self.sampling_generator(), self.data.train.shape, &run.final_samples())?;
        let logged = run.metrics().read::<GanMetrics>()?;
        let series = [
            ("D loss", logged.iter().map(|m| (m.step as f64, m.d_loss)).collect::<Vec<_>>()),
            ("G loss", logged.iter().map(|m| (m.step as f64, m.g_loss)).collect::<Vec<_>>()),
        ];
        report::plot_lines("GAN losses", "step", &series, &run.loss_plot())?;
        self.sampling_generator().torch_export(self.data.train.shape, &self.config.data).write(run.root())?;
        Ok(())
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

fn optimizers(config: &GanTrainConfig) -> (ModuleOptimizer, ModuleOptimizer) {
    if config.loss == GanLoss::Wgan {
        // The WGAN paper's RMSProp: no momentum; PyTorch's alpha and epsilon.
        let rms = RmsPropConfig::new().with_alpha(0.99).with_momentum(0.0).with_epsilon(1e-8);
        return (rms.init(), rms.init());
    }
    // PyTorch's epsilon (burn's default is 1e-5).
    let (beta1, beta2) = config.betas();
    let adam = AdamConfig::new().with_beta_1(beta1 as f32).with_beta_2(beta2 as f32).with_epsilon(1e-8);
    (adam.init(), adam.init())
}

/// WGAN's Lipschitz constraint: every critic weight clipped to [-bound, bound].
struct WeightClipper {
    bound: f64,
}

impl ModuleMapper for WeightClipper {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let bound = self.bound;
        map_as_leaf(param, |t| t.clamp(-bound, bound))
    }
}

//! The GAN training loop (Goodfellow et al. 2014; WGAN: Arjovsky et al. 2017).
//!
//! One step: the discriminator (critic) is updated on a real batch and on G(z) *detached* from the
//! generator's graph; then the generator is updated through a *fresh* D forward pass on the same
//! G(z). The article's code got both wrong (its D step back-propagated into G, and its G step
//! reused a graph the D step had consumed). With the Wasserstein losses each step runs `n_critic`
//! critic updates (weight clipping and RMSProp for `wgan`; the gradient penalty on interpolates
//! and Adam for `wgan-gp`), then one generator update on fresh noise. A class-conditional GAN
//! generates each batch with the labels of the real batch it is compared with.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, RmsPropConfig};
use burn::store::ModuleRecord;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use burn::optim::OptimizerRecord;

use super::augment::{AugmentParams, diff_augment};
use super::checkpoint::TrainState;
use super::config::{GanTrainConfig, to_toml};
use super::ema;
use super::metrics::{EvalMetrics, GanMetrics};
use super::progress::progress_bar;
use super::rng::{BatchOrder, NoiseRng};
use super::run::RunDir;
use crate::data::{DataSplits, ImageDataset, ImageShape};
use crate::error::{AigcError, Result};
use crate::models::gan::{
    DcganConfig, GanLoss, Discriminator, GanDiscriminator, GanGenerator, Generator, MlpDiscriminatorConfig, MlpGeneratorConfig,
    gradient_penalty, r1_penalty,
};
use crate::report;

/// Side-of-the-grid of the fixed-noise sample grids (8×8 = 64 images).
pub const GRID_SIDE: usize = 8;
/// Seed offset of the fixed noise batch, so it never overlaps the training noise.
const FIXED_NOISE_SEED: u64 = 0x5EED_F1ED;

/// The generator's weights in a checkpoint.
pub const GENERATOR_FILE: &str = "generator.bpk";
pub const DISCRIMINATOR_FILE: &str = "discriminator.bpk";
/// The weight-averaged generator used for sampling (when `ema_decay > 0`).
pub const GENERATOR_EMA_FILE: &str = "generator-ema.bpk";
const GENERATOR_OPTIM_FILE: &str = "generator-optim.bpk";
const DISCRIMINATOR_OPTIM_FILE: &str = "discriminator-optim.bpk";

/// How to run a training job (not part of the run's identity).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint of the run.
    pub resume: bool,
    /// No progress bar.
    pub quiet: bool,
    /// The compute device (without autodiff; training wraps it).
    pub device: Device,
    /// Where `--eval-every` finds or caches the feature network (`None`: the user cache,
    /// [`crate::eval::run_eval::cache_dir`]).
    pub feature_cache: Option<PathBuf>,
}

/// What a finished training job produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub run: RunDir,
    pub steps: usize,
    pub samples: PathBuf,
    pub last: Option<GanMetrics>,
    pub elapsed_s: f64,
}

/// A GAN with its optimizers, noise source and data cursor.
pub struct GanTrainer<G: Generator, D: Discriminator> {
    pub config: GanTrainConfig,
    pub generator: G,
    /// Exponential moving average of the generator's weights (no autodiff), when enabled.
    pub generator_ema: Option<G>,
    pub discriminator: D,
    g_optim: ModuleOptimizer,
    d_optim: ModuleOptimizer,
    noise: NoiseRng,
    pub state: TrainState,
    device: Device,
    order: BatchOrder,
}

/// Builds the networks a config names, for images of `shape` (and `classes` labels when the
/// config is conditional), on `device`.
pub fn build_gan(
    config: &GanTrainConfig,
    shape: ImageShape,
    classes: usize,
    device: &Device,
) -> Result<(GanGenerator, GanDiscriminator)> {
    let classes = if config.conditional { classes } else { 0 };
    match config.arch.as_str() {
        "dcgan" => {
            if shape.height != shape.width {
                return Err(AigcError::bad_argument("--arch", format!("dcgan needs square images, the data is {shape}")));
            }
            let dcgan = DcganConfig::new()
                .with_latent_dim(config.latent_dim)
                .with_classes(classes)
                .with_channels(shape.channels)
                .with_image_size(shape.height)
                .with_critic_norm(config.critic_norm());
            Ok((GanGenerator::Dcgan(dcgan.init_generator(device)?), GanDiscriminator::Dcgan(dcgan.init_discriminator(device)?)))
        }
        _ => {
            let generator = MlpGeneratorConfig::new()
                .with_latent_dim(config.latent_dim)
                .with_image_dim(shape.len())
                .with_classes(classes)
                .init(device);
            let discriminator = MlpDiscriminatorConfig::new().with_image_dim(shape.len()).with_classes(classes).init(device);
            Ok((GanGenerator::Mlp(generator), GanDiscriminator::Mlp(discriminator)))
        }
    }
}

/// One-hot rows `[labels.len(), classes]` of class labels.
pub fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        values[row * classes + label.min(classes - 1)] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [labels.len(), classes]), device)
}

impl<G: Generator, D: Discriminator> GanTrainer<G, D> {
    /// A fresh trainer; `device` must have autodiff enabled.
    pub fn new(config: GanTrainConfig, generator: G, discriminator: D, device: Device) -> Self {
        let (g_optim, d_optim) = optimizers(&config);
        let noise = NoiseRng::new(config.seed);
        let seed = config.seed;
        let generator_ema = (config.ema_decay > 0.0).then(|| generator.valid());
        Self {
            config,
            generator_ema,
            generator,
            discriminator,
            g_optim,
            d_optim,
            noise,
            state: TrainState { step: 0, batches_seen: 0, rng_word_pos: 0, elapsed_s: 0.0 },
            device,
            order: BatchOrder::new(seed),
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
    fn discriminator_step(&mut self, data: &DataSplits, measure: bool) -> (Tensor<2>, Option<Tensor<2>>, Option<[f64; 3]>) {
        let indices = self.order.next(&mut self.state.batches_seen, self.config.batch_size, data.train.len());
        let shape = data.train.shape;
        let real = data.train.batch(&indices, &self.device);
        let real = self.augment(real, shape);
        let labels = dataset_labels(&data.train, &indices, self.generator.classes(), &self.device);
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
    fn generator_step(&mut self, fake: Tensor<2>, labels: Option<Tensor<2>>, shape: ImageShape, measure: bool) -> Option<f64> {
        let fake = self.augment(fake, shape);
        let loss = self.config.loss.generator(self.discriminator.score(fake, labels));
        let value = measure.then(|| scalar(loss.clone()));
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        let lr = self.config.learning_rate();
        self.generator = self.g_optim.step(lr, self.generator.clone(), grads);
        if let Some(ema) = self.generator_ema.take() {
            let decay = ema::decay_at(self.config.ema_decay, self.state.step);
            self.generator_ema = Some(ema::update_ema(ema, &self.generator, decay).with_buffers_of(&self.generator));
        }
        value
    }

    /// The generator to sample from: the weight average when enabled, else the raw generator.
    pub fn sampling_generator(&self) -> &G {
        self.generator_ema.as_ref().unwrap_or(&self.generator)
    }

    /// One training step (a generator update and its discriminator updates).
    pub fn step(&mut self, data: &DataSplits, measure: bool) -> Option<GanMetrics> {
        let critic_steps = self.config.critic_steps();
        let mut last_fake = None;
        let mut measured = None;
        for i in 0..critic_steps {
            let last = i + 1 == critic_steps;
            let (fake, labels, m) = self.discriminator_step(data, measure && last);
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
        let g_loss = self.generator_step(fake, labels, data.train.shape, measure);
        self.state.step += 1;
        self.state.rng_word_pos = self.noise.word_pos();
        let per_epoch = (data.train.len() / self.config.batch_size.min(data.train.len())).max(1);
        match (measured, g_loss) {
            (Some([d_loss, d_real, d_fake]), Some(g_loss)) => Some(GanMetrics {
                step: self.state.step,
                epoch: self.state.batches_seen as f64 / per_epoch as f64,
                d_loss,
                g_loss,
                d_real,
                d_fake,
                elapsed_s: self.state.elapsed_s,
            }),
            _ => None,
        }
    }

    /// Writes weights, optimizer state and [`TrainState`] as one atomic checkpoint.
    pub fn save_checkpoint(&self, run: &RunDir) -> Result<PathBuf> {
        self.save_checkpoint_to(&run.checkpoints(self.config.keep_checkpoints))
    }

    /// As [`save_checkpoint`](Self::save_checkpoint), into any checkpoint folder.
    pub fn save_checkpoint_to(&self, checkpoints: &super::checkpoint::Checkpoints) -> Result<PathBuf> {
        checkpoints.save(&self.state, |dir| {
            let record_err = |file: &str, e: burn::store::RecordError| AigcError::output(dir.join(file), e);
            self.generator.clone().into_record().save(dir.join(GENERATOR_FILE)).map_err(|e| record_err(GENERATOR_FILE, e))?;
            self.discriminator
                .clone()
                .into_record()
                .save(dir.join(DISCRIMINATOR_FILE))
                .map_err(|e| record_err(DISCRIMINATOR_FILE, e))?;
            if let Some(ema) = &self.generator_ema {
                ema.clone().into_record().save(dir.join(GENERATOR_EMA_FILE)).map_err(|e| record_err(GENERATOR_EMA_FILE, e))?;
            }
            self.g_optim.save(dir.join(GENERATOR_OPTIM_FILE)).map_err(|e| record_err(GENERATOR_OPTIM_FILE, e))?;
            self.d_optim.save(dir.join(DISCRIMINATOR_OPTIM_FILE)).map_err(|e| record_err(DISCRIMINATOR_OPTIM_FILE, e))?;
            Ok(())
        })
    }

    /// Restores everything a checkpoint holds.
    pub fn load_checkpoint(&mut self, state: TrainState, dir: &Path) -> Result<()> {
        self.generator = load_module(self.generator.clone(), &dir.join(GENERATOR_FILE))?;
        self.discriminator = load_module(self.discriminator.clone(), &dir.join(DISCRIMINATOR_FILE))?;
        if let Some(ema) = self.generator_ema.take() {
            self.generator_ema = Some(load_module(ema, &dir.join(GENERATOR_EMA_FILE))?);
        }
        let (g_optim, d_optim) = optimizers(&self.config);
        self.g_optim = g_optim.load_record(load_optim(&dir.join(GENERATOR_OPTIM_FILE))?);
        self.d_optim = d_optim.load_record(load_optim(&dir.join(DISCRIMINATOR_OPTIM_FILE))?);
        self.noise = NoiseRng::at(self.config.seed, state.rng_word_pos);
        self.state = state;
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

/// Loads a module's weights from a burnpack record, with the file named in any error.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M> {
    let checkpoint_err = |problem: String| AigcError::Checkpoint { path: path.to_path_buf(), problem };
    if !path.is_file() {
        return Err(AigcError::Missing { path: path.to_path_buf(), hint: String::new() });
    }
    let record = ModuleRecord::load(path).map_err(|e| checkpoint_err(e.to_string()))?;
    module.try_load_record(record).map_err(|e| checkpoint_err(e.to_string()))
}

/// An optimizer's saved state (a missing or unreadable file is an error naming it).
pub fn load_optim(path: &Path) -> Result<OptimizerRecord> {
    if !path.is_file() {
        return Err(AigcError::Missing { path: path.to_path_buf(), hint: String::new() });
    }
    OptimizerRecord::load(path).map_err(|e| AigcError::Checkpoint { path: path.to_path_buf(), problem: e.to_string() })
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

/// Replaces a parameter's value by `f(value)`, computed outside autodiff and lifted back as a
/// leaf that keeps the parameter's id and `require_grad`, as the optimizers do. (Through
/// autodiff the result would be a non-leaf, and `require_grad` on it panics.)
pub fn map_as_leaf<const D: usize>(param: Param<Tensor<D>>, f: impl FnOnce(Tensor<D>) -> Tensor<D>) -> Param<Tensor<D>> {
    param.map(|t| {
        let require_grad = t.is_require_grad();
        let value = Tensor::from_inner(f(t.inner()));
        if require_grad { value.require_grad() } else { value }
    })
}

/// The fixed noise batch of a run's sample grids (the same for every grid of the run).
pub fn fixed_noise(seed: u64, n: usize, latent_dim: usize, device: &Device) -> Tensor<2> {
    let values = NoiseRng::new(seed ^ FIXED_NOISE_SEED).normal(n * latent_dim);
    Tensor::from_data(TensorData::new(values, [n, latent_dim]), device)
}

/// One-hot labels `[indices.len(), classes]` of images of `data`, for a conditional model
/// (`None` when `classes` is 0, i.e. the model is unconditional).
pub fn dataset_labels(data: &ImageDataset, indices: &[usize], classes: usize, device: &Device) -> Option<Tensor<2>> {
    (classes > 0).then(|| {
        let labels: Vec<usize> = indices.iter().map(|&i| data.label(i).unwrap_or(0) as usize).collect();
        one_hot(&labels, classes, device)
    })
}

/// Which labels a conditional generator gets when sampling (ignored when unconditional).
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
    fn label(self, i: usize, classes: usize) -> usize {
        match self {
            SampleLabels::Balanced => i % classes,
            SampleLabels::Class(k) => k,
            SampleLabels::Rows { cols } => (i / cols.max(1)) % classes,
        }
    }
}

/// Generator input for images `offset..offset + z.rows`: the noise `z`, followed by the one-hot
/// label for a conditional generator.
pub fn with_labels<G: Generator>(generator: &G, z: Tensor<2>, labels: SampleLabels, offset: usize) -> Tensor<2> {
    let classes = generator.classes();
    if classes == 0 {
        return z;
    }
    let n = z.dims()[0];
    let rows: Vec<usize> = (offset..offset + n).map(|i| labels.label(i, classes)).collect();
    let device = z.device();
    Tensor::cat(vec![z, one_hot(&rows, classes, &device)], 1)
}

/// Generates images without autodiff from `[n, latent_dim]` noise: returns `[n, image_dim]`
/// values in [-1, 1].
pub fn generate_values<G: Generator>(generator: &G, z: Tensor<2>, labels: SampleLabels) -> Vec<f32> {
    generate_chunk(&generator.valid(), z.without_autodiff(), labels, 0)
}

/// Images `offset..offset + z.rows` of a sample, from a generator without autodiff.
fn generate_chunk<G: Generator>(generator: &G, z: Tensor<2>, labels: SampleLabels, offset: usize) -> Vec<f32> {
    let images = generator.generate(with_labels(generator, z, labels, offset));
    images.into_data().try_into_vec::<f32>().unwrap_or_default()
}

/// `n` images from noise seeded by `seed` (in batches of 500, so thousands of samples need no
/// huge batch), as `[n, image_dim]` values in [-1, 1].
pub fn generate_many<G: Generator>(generator: &G, n: usize, seed: u64, labels: SampleLabels, device: &Device) -> Vec<f32> {
    let generator = generator.valid();
    let mut values = Vec::new();
    for start in (0..n).step_by(500) {
        let count = 500.min(n - start);
        let z = fixed_noise(seed.wrapping_add(start as u64), count, generator.latent_dim(), device);
        values.extend(generate_chunk(&generator, z, labels, start));
    }
    values
}

/// Trains a GAN into run directory `out` (see [`RunDir`]).
pub fn train_gan(config: &GanTrainConfig, out: &Path, options: &TrainOptions) -> Result<TrainOutcome> {
    config.validate()?;
    let data = super::load_training_data(&config.data, config.image_size, config.conditional, "GAN")?;
    let run = RunDir::new(out);
    let checkpoints = run.checkpoints(config.keep_checkpoints);
    let latest = checkpoints.resume_point(options.resume, out)?;
    let device = options.device.clone().autodiff();
    device.seed(config.seed);
    let (generator, discriminator) = build_gan(config, data.train.shape, data.train.class_names.len(), &device)?;
    let total = config.total_steps(data.train.len());
    let mut trainer = GanTrainer::new(config.clone(), generator, discriminator, device.clone());
    if let Some((state, dir)) = latest {
        trainer.load_checkpoint(state, &dir)?;
        run.metrics().truncate_after(trainer.state.step)?;
        tracing::info!(step = trainer.state.step, checkpoint = %dir.display(), "resuming");
    }
    run.start(&to_toml(config))?;

    // A conditional run's grids show one class per row.
    let grid_rows = match trainer.generator.classes() {
        0 => GRID_SIDE,
        classes => classes,
    };
    let fixed = fixed_noise(config.seed, grid_rows * GRID_SIDE, config.latent_dim, &options.device);
    let grid_labels = SampleLabels::Rows { cols: GRID_SIDE };
    let shape = data.train.shape;
    let metrics = run.metrics();
    let mut evaluator = match config.eval_every {
        Some(every) => Some(TrainingEvaluator::new(config, every, &data, &metrics, options)?),
        None => None,
    };
    let bar = progress_bar(total as u64, trainer.state.step.min(total) as u64, options.quiet, "steps");
    let started = Instant::now();
    let base_elapsed = trainer.state.elapsed_s;
    let mut last = None;
    if trainer.state.step == 0 {
        report::save_grid(&generate_values(trainer.sampling_generator(), fixed.clone(), grid_labels), shape, GRID_SIDE, &run.sample_grid(0))?;
    }
    while trainer.state.step < total {
        let next = trainer.state.step + 1;
        let measure = next % config.log_every == 0 || next == total;
        trainer.state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
        if let Some(mut m) = trainer.step(&data, measure) {
            m.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
            if !(m.d_loss.is_finite() && m.g_loss.is_finite()) {
                return Err(AigcError::bad_argument(
                    "--lr",
                    format!("training diverged at step {} (loss is {}); try a smaller learning rate", m.step, m.d_loss),
                ));
            }
            metrics.append(&m)?;
            bar.set_message(format!("D {:.3} G {:.3} D(x) {:.2} D(G(z)) {:.2}", m.d_loss, m.g_loss, m.d_real, m.d_fake));
            last = Some(m);
        }
        bar.set_position(trainer.state.step as u64);
        let step = trainer.state.step;
        if step % config.sample_every == 0 || step == total {
            report::save_grid(&generate_values(trainer.sampling_generator(), fixed.clone(), grid_labels), shape, GRID_SIDE, &run.sample_grid(step))?;
        }
        if step % config.checkpoint_every == 0 || step == total {
            trainer.state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
            trainer.save_checkpoint(&run)?;
        }
        if let Some(evaluator) = &mut evaluator
            && (step % evaluator.every == 0 || step == total)
        {
            let m = evaluator.evaluate(trainer.sampling_generator(), step, &options.device);
            metrics.append(&m)?;
            let line = format!("step {step}: KID {:.4} ± {:.4}, FID {:.2}, precision {:.3}, recall {:.3}", m.kid, m.kid_std, m.fid, m.precision, m.recall);
            super::progress::println_above(&bar, options.quiet, line);
            if evaluator.best.is_none_or(|best| m.kid < best) {
                evaluator.best = Some(m.kid);
                trainer.state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
                trainer.save_checkpoint_to(&run.best_checkpoint())?;
            }
        }
    }
    bar.finish_and_clear();
    let final_values = generate_values(trainer.sampling_generator(), fixed, grid_labels);
    report::save_grid(&final_values, shape, GRID_SIDE, &run.final_samples())?;
    report::plot_gan_losses(&metrics.read::<GanMetrics>()?, &run.loss_plot())?;
    report::save_safetensors(trainer.sampling_generator(), &run.generator_safetensors())?;
    Ok(TrainOutcome {
        samples: run.final_samples(),
        run,
        steps: trainer.state.step,
        last: last.or_else(|| metrics.read::<GanMetrics>().ok().and_then(|m| m.last().cloned())),
        elapsed_s: base_elapsed + started.elapsed().as_secs_f64(),
    })
}

/// `--eval-every`: the data set's feature network, the held-out images, and the best KID so far.
struct TrainingEvaluator {
    every: usize,
    samples: usize,
    seed: u64,
    extractor: crate::eval::ClassifierFeatures,
    /// Features of the held-out images, computed once.
    real: crate::eval::Features,
    best: Option<f64>,
}

impl TrainingEvaluator {
    fn new(
        config: &GanTrainConfig,
        every: usize,
        data: &DataSplits,
        metrics: &super::metrics::MetricsLog,
        options: &TrainOptions,
    ) -> Result<Self> {
        use crate::eval::run_eval::{cache_dir, feature_network};
        let device = &options.device;
        let cache = options.feature_cache.clone().unwrap_or_else(cache_dir);
        let (model, report) = feature_network(&cache, &config.data, data, device, options.quiet, false)?;
        let all: Vec<usize> = (0..data.heldout.len()).collect();
        let extractor = crate::eval::ClassifierFeatures { model, report, device: device.clone() };
        let real = crate::eval::FeatureExtractor::features(&extractor, &data.heldout.batch_values(&all));
        // A resumed run continues from the best KID it had logged.
        let best = metrics.read::<EvalMetrics>()?.iter().map(|m| m.kid).min_by(f64::total_cmp);
        Ok(Self {
            every,
            samples: config.eval_samples,
            seed: config.seed ^ 0xE7A1,
            extractor,
            real,
            best,
        })
    }

    fn evaluate<G: Generator>(&self, generator: &G, step: usize, device: &Device) -> EvalMetrics {
        let generated = generate_many(generator, self.samples, self.seed, SampleLabels::Balanced, device);
        let c = crate::eval::run_eval::compare_with_real_features(&self.extractor, &self.real, &generated, self.seed);
        EvalMetrics {
            step,
            kid: c.kid.mean,
            kid_std: c.kid.std,
            fid: c.fid,
            precision: c.precision,
            recall: c.recall,
            samples: c.generated,
        }
    }
}

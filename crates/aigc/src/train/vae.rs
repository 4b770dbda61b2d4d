//! The VAE training loop: Adam on the negative ELBO, with the same run directory, atomic
//! checkpoints, resumable noise stream and sample grids as the GANs. The held-out negative ELBO
//! (nats per image) is logged at every sample grid and at the end.

use std::path::Path;
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::checkpoint::TrainState;
use super::config::to_toml;
use super::gan::{GENERATOR_FILE, GRID_SIDE, SampleLabels, TrainOptions, TrainOutcome, dataset_labels, fixed_noise, generate_values, load_module, load_optim};
use super::progress::progress_bar;
use super::rng::{BatchOrder, NoiseRng};
use super::run::RunDir;
use crate::data::DataSplits;
use crate::error::{AigcError, Result};
use crate::models::vae::{Vae, build_vae, logits_to_images, vae_loss};
use crate::report;

/// The value of `model` in a VAE run's `config.toml` (GAN configs have no such key).
pub const VAE_MODEL: &str = "vae";
const OPTIM_FILE: &str = "optim.bpk";

/// Everything that defines a VAE training run.
#[derive(Config, Debug, PartialEq)]
pub struct VaeTrainConfig {
    /// Marks the run as a VAE.
    #[config(default = "String::from(\"vae\")")]
    pub model: String,
    /// `mlp` (784-400-20, PyTorch's example) or `conv`.
    #[config(default = "String::from(\"mlp\")")]
    pub arch: String,
    #[config(default = "String::from(\"mnist\")")]
    pub data: String,
    #[config(default = 28)]
    pub image_size: u32,
    /// Class-conditional (the one-hot label goes to the encoder and the decoder).
    #[config(default = false)]
    pub conditional: bool,
    #[config(default = 20)]
    pub latent_dim: usize,
    /// Optimisation steps; overrides `epochs` when set.
    pub steps: Option<usize>,
    /// Passes over the training set (default 10, as PyTorch's example).
    pub epochs: Option<usize>,
    #[config(default = 128)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub lr: f64,
    #[config(default = 42)]
    pub seed: u64,
    #[config(default = 10)]
    pub log_every: usize,
    /// Steps between prior-sample grids (and held-out −ELBO evaluations).
    #[config(default = 200)]
    pub sample_every: usize,
    #[config(default = 500)]
    pub checkpoint_every: usize,
    #[config(default = 3)]
    pub keep_checkpoints: usize,
}

impl VaeTrainConfig {
    pub fn total_steps(&self, n_train: usize) -> usize {
        let per_epoch = (n_train / self.batch_size.min(n_train).max(1)).max(1);
        self.steps.unwrap_or(self.epochs.unwrap_or(10) * per_epoch)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, problem: &str| Err(AigcError::bad_argument(flag, problem));
        if self.model != VAE_MODEL {
            return bad("model", "a VAE config has model = \"vae\"");
        }
        if self.arch != "mlp" && self.arch != "conv" {
            return bad("--arch", &format!("unknown VAE architecture {:?}, expected mlp or conv", self.arch));
        }
        if self.batch_size == 0 {
            return bad("--batch-size", "must be at least 1");
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            return bad("--steps/--epochs", "must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("--lr", &format!("must be a positive number, got {}", self.lr));
        }
        if self.latent_dim == 0 {
            return bad("--latent-dim", "must be at least 1");
        }
        if self.image_size == 0 {
            return bad("--image-size", "must be at least 1");
        }
        if self.log_every == 0 || self.sample_every == 0 || self.checkpoint_every == 0 {
            return bad("log_every/sample_every/checkpoint_every", "must be at least 1");
        }
        Ok(())
    }
}

/// One logged VAE training step (nats per image).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeMetrics {
    pub step: usize,
    pub epoch: f64,
    /// Negative ELBO of the training batch.
    pub loss: f64,
    pub reconstruction: f64,
    pub kl: f64,
    pub elapsed_s: f64,
}

/// The held-out negative ELBO at a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldoutElbo {
    pub step: usize,
    pub heldout_nelbo: f64,
    pub heldout_reconstruction: f64,
    pub heldout_kl: f64,
    pub images: usize,
}

/// A VAE with its optimizer, noise source and data cursor.
pub struct VaeTrainer {
    pub config: VaeTrainConfig,
    pub model: Vae,
    optim: ModuleOptimizer,
    noise: NoiseRng,
    pub state: TrainState,
    device: Device,
    order: BatchOrder,
}

fn adam() -> ModuleOptimizer {
    // PyTorch's epsilon (burn's default is 1e-5).
    AdamConfig::new().with_epsilon(1e-8).init()
}

impl VaeTrainer {
    /// A fresh trainer; `device` must have autodiff enabled.
    pub fn new(config: VaeTrainConfig, model: Vae, device: Device) -> Self {
        let noise = NoiseRng::new(config.seed);
        let seed = config.seed;
        Self {
            config,
            model,
            optim: adam(),
            noise,
            state: TrainState { step: 0, batches_seen: 0, rng_word_pos: 0, elapsed_s: 0.0 },
            device,
            order: BatchOrder::new(seed),
        }
    }

    /// One Adam step on a training batch. Returns the metrics when `measure`.
    pub fn step(&mut self, data: &DataSplits, measure: bool) -> Option<VaeMetrics> {
        let indices = self.order.next(&mut self.state.batches_seen, self.config.batch_size, data.train.len());
        let x = data.train.batch(&indices, &self.device);
        let labels = dataset_labels(&data.train, &indices, self.model.classes(), &self.device);
        let latent = self.model.latent_dim();
        let eps = Tensor::from_data(TensorData::new(self.noise.normal(indices.len() * latent), [indices.len(), latent]), &self.device);
        let output = self.model.forward(x.clone(), labels, eps);
        let loss = vae_loss(&output, x);
        let total = loss.total();
        let measured = measure.then(|| {
            let value = |t: Tensor<1>| t.into_scalar::<f32>() as f64;
            (value(total.clone()), value(loss.reconstruction.clone()), value(loss.kl.clone()))
        });
        let grads = GradientsParams::from_grads(total.backward(), &self.model);
        self.model = self.optim.step(self.config.lr, self.model.clone(), grads);
        self.state.step += 1;
        self.state.rng_word_pos = self.noise.word_pos();
        let per_epoch = (data.train.len() / self.config.batch_size.min(data.train.len())).max(1);
        measured.map(|(loss, reconstruction, kl)| VaeMetrics {
            step: self.state.step,
            epoch: self.state.batches_seen as f64 / per_epoch as f64,
            loss,
            reconstruction,
            kl,
            elapsed_s: self.state.elapsed_s,
        })
    }

    /// The negative ELBO of every held-out image (one posterior sample each, fixed noise).
    pub fn heldout_elbo(&self, data: &DataSplits, device: &Device) -> HeldoutElbo {
        let model = self.model.valid();
        let latent = model.latent_dim();
        let mut noise = NoiseRng::new(self.config.seed ^ 0xE1B0);
        let (mut rec, mut kl, mut n) = (0.0, 0.0, 0usize);
        let all: Vec<usize> = (0..data.heldout.len()).collect();
        for chunk in all.chunks(500) {
            let x = data.heldout.batch(chunk, device);
            let labels = dataset_labels(&data.heldout, chunk, model.classes(), device);
            let eps = Tensor::from_data(TensorData::new(noise.normal(chunk.len() * latent), [chunk.len(), latent]), device);
            let loss = vae_loss(&model.forward(x.clone(), labels, eps), x);
            let weight = chunk.len() as f64;
            rec += loss.reconstruction.into_scalar::<f32>() as f64 * weight;
            kl += loss.kl.into_scalar::<f32>() as f64 * weight;
            n += chunk.len();
        }
        let (rec, kl) = (rec / n.max(1) as f64, kl / n.max(1) as f64);
        HeldoutElbo { step: self.state.step, heldout_nelbo: rec + kl, heldout_reconstruction: rec, heldout_kl: kl, images: n }
    }

    pub fn save_checkpoint(&self, run: &RunDir) -> Result<std::path::PathBuf> {
        run.checkpoints(self.config.keep_checkpoints).save(&self.state, |dir| {
            let err = |file: &str, e: burn::store::RecordError| AigcError::output(dir.join(file), e);
            self.model.clone().into_record().save(dir.join(GENERATOR_FILE)).map_err(|e| err(GENERATOR_FILE, e))?;
            self.optim.save(dir.join(OPTIM_FILE)).map_err(|e| err(OPTIM_FILE, e))
        })
    }

    pub fn load_checkpoint(&mut self, state: TrainState, dir: &Path) -> Result<()> {
        self.model = load_module(self.model.clone(), &dir.join(GENERATOR_FILE))?;
        self.optim = adam().load_record(load_optim(&dir.join(OPTIM_FILE))?);
        self.noise = NoiseRng::at(self.config.seed, state.rng_word_pos);
        self.state = state;
        Ok(())
    }
}

/// Builds the VAE a config names for `data`.
pub fn build_vae_for(config: &VaeTrainConfig, data: &DataSplits, device: &Device) -> Result<Vae> {
    let classes = if config.conditional { data.train.class_names.len() } else { 0 };
    build_vae(&config.arch, data.train.shape, config.latent_dim, classes, device)
}

/// Reconstructions of the first `n` held-out images: rows of 8 originals, each followed by a row
/// of their reconstructions (posterior means decoded).
pub fn reconstruction_grid(model: &Vae, data: &DataSplits, n: usize, device: &Device, path: &Path) -> Result<()> {
    let model = model.valid();
    let indices: Vec<usize> = (0..n.min(data.heldout.len())).collect();
    let x = data.heldout.batch(&indices, device);
    let labels = dataset_labels(&data.heldout, &indices, model.classes(), device);
    let (mu, _) = model.encode(x, labels.clone());
    let z = match labels {
        Some(labels) => Tensor::cat(vec![mu, labels], 1),
        None => mu,
    };
    let recon = logits_to_images(model.decode_logits(z)).into_data().try_into_vec::<f32>().unwrap_or_default();
    let original = data.heldout.batch_values(&indices);
    let dim = data.heldout.shape.len();
    let mut values = Vec::with_capacity(2 * original.len());
    for (o, r) in original.chunks(8 * dim).zip(recon.chunks(8 * dim)) {
        values.extend_from_slice(o);
        values.extend_from_slice(r);
    }
    report::save_grid(&values, data.heldout.shape, 8, path)
}

/// Trains a VAE into run directory `out`.
pub fn train_vae(config: &VaeTrainConfig, out: &Path, options: &TrainOptions) -> Result<TrainOutcome> {
    config.validate()?;
    let data = super::load_training_data(&config.data, config.image_size, config.conditional, "VAE")?;
    let run = RunDir::new(out);
    let checkpoints = run.checkpoints(config.keep_checkpoints);
    let latest = checkpoints.resume_point(options.resume, out)?;
    let device = options.device.clone().autodiff();
    device.seed(config.seed);
    let model = build_vae_for(config, &data, &device)?;
    let mut trainer = VaeTrainer::new(config.clone(), model, device);
    if let Some((state, dir)) = latest {
        trainer.load_checkpoint(state, &dir)?;
        run.metrics().truncate_after(trainer.state.step)?;
        tracing::info!(step = trainer.state.step, checkpoint = %dir.display(), "resuming");
    }
    run.start(&to_toml(config))?;

    let total = config.total_steps(data.train.len());
    let shape = data.train.shape;
    let grid_rows = if trainer.model.classes() > 0 { trainer.model.classes() } else { GRID_SIDE };
    let fixed = fixed_noise(config.seed, grid_rows * GRID_SIDE, config.latent_dim, &options.device);
    let grid_labels = SampleLabels::Rows { cols: GRID_SIDE };
    let metrics = run.metrics();
    let bar = progress_bar(total as u64, trainer.state.step.min(total) as u64, options.quiet, "steps");
    let started = Instant::now();
    let base_elapsed = trainer.state.elapsed_s;
    while trainer.state.step < total {
        let next = trainer.state.step + 1;
        let measure = next % config.log_every == 0 || next == total;
        trainer.state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
        if let Some(mut m) = trainer.step(&data, measure) {
            m.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
            if !m.loss.is_finite() {
                return Err(AigcError::bad_argument(
                    "--lr",
                    format!("training diverged at step {} (loss is {}); try a smaller learning rate", m.step, m.loss),
                ));
            }
            metrics.append(&m)?;
            bar.set_message(format!("-ELBO {:.1} (rec {:.1} KL {:.1})", m.loss, m.reconstruction, m.kl));
        }
        bar.set_position(trainer.state.step as u64);
        let step = trainer.state.step;
        if step % config.sample_every == 0 || step == total {
            report::save_grid(&generate_values(&trainer.model, fixed.clone(), grid_labels), shape, GRID_SIDE, &run.sample_grid(step))?;
            metrics.append(&trainer.heldout_elbo(&data, &options.device))?;
        }
        if step % config.checkpoint_every == 0 || step == total {
            trainer.state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
            trainer.save_checkpoint(&run)?;
        }
    }
    bar.finish_and_clear();
    report::save_grid(&generate_values(&trainer.model, fixed, grid_labels), shape, GRID_SIDE, &run.final_samples())?;
    reconstruction_grid(&trainer.model, &data, 32, &options.device, &run.root().join("reconstructions.png"))?;
    let heldout: Vec<(usize, f64)> = metrics.read::<HeldoutElbo>()?.iter().map(|h| (h.step, h.heldout_nelbo)).collect();
    report::plot_vae_losses(&metrics.read::<VaeMetrics>()?, &heldout, &run.loss_plot())?;
    report::save_safetensors(&trainer.model, &run.generator_safetensors())?;
    Ok(TrainOutcome {
        samples: run.final_samples(),
        run,
        steps: trainer.state.step,
        last: None,
        elapsed_s: base_elapsed + started.elapsed().as_secs_f64(),
    })
}

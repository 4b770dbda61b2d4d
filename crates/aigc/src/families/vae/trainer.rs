//! The VAE trainer on the shared loop: Adam on the negative ELBO, a resumable noise stream for
//! the reparameterisation, prior-sample grids from fixed noise, and the held-out negative ELBO
//! (nats per image) at every grid and at the end.

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::VaeTrainConfig;
use super::network::{Vae, logits_to_images, vae_loss};
use crate::data::DataSplits;
use crate::error::Result;
use crate::report;
use crate::run::record::{self, MODEL, OPTIMIZER};
use crate::run::rng::{BatchOrder, NoiseRng};
use crate::run::{RunDir, TrainState};
use crate::sample::latent::SampleGrid;
use crate::train::{Cadence, Cursor, Evaluation, StepMetrics, Trainer};

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

impl StepMetrics for VaeMetrics {
    fn losses(&self) -> Vec<(&'static str, f64)> {
        vec![("loss", self.loss)]
    }

    fn message(&self) -> String {
        format!("-ELBO {:.1} (rec {:.1} KL {:.1})", self.loss, self.reconstruction, self.kl)
    }

    fn set_timing(&mut self, elapsed_s: f64, _steps_per_s: f64) {
        self.elapsed_s = elapsed_s;
    }
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

/// A VAE with its optimizer, data, noise source and data cursor.
pub struct VaeTrainer {
    pub config: VaeTrainConfig,
    pub model: Vae,
    optim: ModuleOptimizer,
    data: DataSplits,
    noise: NoiseRng,
    batches_seen: usize,
    /// An autodiff device.
    device: Device,
    order: BatchOrder,
    grid: SampleGrid,
}

fn adam() -> ModuleOptimizer {
    // PyTorch's epsilon (burn's default is 1e-5).
    AdamConfig::new().with_epsilon(1e-8).init()
}

impl VaeTrainer {
    /// A fresh trainer on `data`; `device` must have autodiff enabled.
    pub fn new(config: VaeTrainConfig, model: Vae, data: DataSplits, device: Device) -> Self {
        let noise = NoiseRng::new(config.seed);
        let seed = config.seed;
        let grid = SampleGrid::new(config.seed, config.latent_dim, model.classes(), &device.clone().inner());
        Self { config, model, optim: adam(), data, noise, batches_seen: 0, device, order: BatchOrder::new(seed), grid }
    }

    /// The negative ELBO of every held-out image (one posterior sample each, fixed noise).
    pub fn heldout_elbo(&self, step: usize) -> HeldoutElbo {
        let device = &self.device.clone().inner();
        let data = &self.data;
        let model = self.model.valid();
        let latent = model.latent_dim();
        let mut noise = NoiseRng::new(self.config.seed ^ 0xE1B0);
        let (mut rec, mut kl, mut n) = (0.0, 0.0, 0usize);
        let all: Vec<usize> = (0..data.heldout.len()).collect();
        for chunk in all.chunks(500) {
            let x = data.heldout.batch(chunk, device);
            let labels = data.heldout.one_hot_labels(chunk, model.classes(), device);
            let eps = Tensor::from_data(TensorData::new(noise.normal(chunk.len() * latent), [chunk.len(), latent]), device);
            let loss = vae_loss(&model.forward(x.clone(), labels, eps), x);
            let weight = chunk.len() as f64;
            rec += loss.reconstruction.into_scalar::<f32>() as f64 * weight;
            kl += loss.kl.into_scalar::<f32>() as f64 * weight;
            n += chunk.len();
        }
        let (rec, kl) = (rec / n.max(1) as f64, kl / n.max(1) as f64);
        HeldoutElbo { step, heldout_nelbo: rec + kl, heldout_reconstruction: rec, heldout_kl: kl, images: n }
    }
}

impl Trainer for VaeTrainer {
    type Metrics = VaeMetrics;
    type Eval = HeldoutElbo;

    fn total_steps(&self) -> usize {
        self.config.total_steps(self.data.train.len())
    }

    fn cadence(&self) -> Cadence {
        let c = &self.config;
        Cadence {
            log_every: c.log_every,
            sample_every: Some(c.sample_every),
            eval_every: Some(c.sample_every),
            checkpoint_every: c.checkpoint_every,
            keep_checkpoints: c.keep_checkpoints,
        }
    }

    /// One Adam step on a training batch.
    fn step(&mut self, step: usize, measure: bool) -> Option<VaeMetrics> {
        let indices = self.order.next(&mut self.batches_seen, self.config.batch_size, self.data.train.len());
        let x = self.data.train.batch(&indices, &self.device);
        let labels = self.data.train.one_hot_labels(&indices, self.model.classes(), &self.device);
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
        let n_train = self.data.train.len();
        let per_epoch = (n_train / self.config.batch_size.min(n_train)).max(1);
        measured.map(|(loss, reconstruction, kl)| VaeMetrics {
            step: step + 1,
            epoch: self.batches_seen as f64 / per_epoch as f64,
            loss,
            reconstruction,
            kl,
            elapsed_s: 0.0,
        })
    }

    fn cursor(&self) -> Cursor {
        Cursor { batches_seen: self.batches_seen, rng_word_pos: self.noise.word_pos() }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        record::save_module(&self.model, dir, MODEL)?;
        record::save_optimizer(&self.optim, dir, OPTIMIZER)
    }

    fn load(&mut self, dir: &Path, state: &TrainState) -> Result<()> {
        self.model = record::load_module(self.model.clone(), &super::model_file(dir))?;
        self.optim = adam().load_record(record::load_optimizer(&dir.join(OPTIMIZER))?);
        self.noise = NoiseRng::at(self.config.seed, state.rng_word_pos);
        self.batches_seen = state.batches_seen;
        Ok(())
    }

    fn snapshot(&mut self, run: &RunDir, step: usize) -> Result<()> {
        self.grid.save(&self.model, self.data.train.shape, &run.sample_grid(step))
    }

    fn evaluate(&mut self, step: usize) -> Result<Option<Evaluation<HeldoutElbo>>> {
        Ok(Some(Evaluation { record: self.heldout_elbo(step), line: None, score: None }))
    }

    fn finish(&mut self, run: &RunDir) -> Result<()> {
        let device = self.device.clone().inner();
        self.grid.save(&self.model, self.data.train.shape, &run.final_samples())?;
        reconstruction_grid(&self.model, &self.data, 32, &device, &run.reconstructions())?;
        let metrics = run.metrics();
        let (logged, heldout) = (metrics.read::<VaeMetrics>()?, metrics.read::<HeldoutElbo>()?);
        let series = [
            ("train -ELBO", logged.iter().map(|m| (m.step as f64, m.loss)).collect::<Vec<_>>()),
            ("reconstruction", logged.iter().map(|m| (m.step as f64, m.reconstruction)).collect()),
            ("KL", logged.iter().map(|m| (m.step as f64, m.kl)).collect()),
            ("held-out -ELBO", heldout.iter().map(|h| (h.step as f64, h.heldout_nelbo)).collect()),
        ];
        report::plot_lines("VAE losses (nats per image)", "step", &series, &run.loss_plot())?;
        self.model.torch_export(&self.config.data).write(run.root())?;
        Ok(())
    }
}

/// Reconstructions of the first `n` held-out images: rows of 8 originals, each followed by a row
/// of their reconstructions (posterior means decoded).
pub fn reconstruction_grid(model: &Vae, data: &DataSplits, n: usize, device: &Device, path: &Path) -> Result<()> {
    let model = model.valid();
    let indices: Vec<usize> = (0..n.min(data.heldout.len())).collect();
    let x = data.heldout.batch(&indices, device);
    let labels = data.heldout.one_hot_labels(&indices, model.classes(), device);
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

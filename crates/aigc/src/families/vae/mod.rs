//! Variational autoencoders (Kingma & Welling 2014): the networks ([`network`]: PyTorch's MLP
//! VAE and a convolutional one, optionally class-conditional), the trainer ([`trainer`]), and
//! what a trained run offers ([`run`]: prior samples, interpolation between held-out images,
//! inpainting with the encoder, [`inpaint`]).

pub mod config;
pub mod inpaint;
pub mod network;
mod run;
pub mod trainer;

use std::path::{Path, PathBuf};

pub use config::{VaeArch, VaeTrainConfig, UNSET};
pub use run::saved_config;
pub use network::{Vae, build_vae, vae_loss};
pub use trainer::{HeldoutElbo, VaeMetrics, VaeTrainer};

use crate::data::load_training_images;
use crate::error::Result;
use crate::families::{Family, Legacy};
use crate::run::record::{GENERATOR, MODEL};
use crate::run::{Manifest, RunDir};
use crate::train::{TrainOptions, TrainOutcome, fit, memory};

/// The family's name in run manifests (and the `model` of VAE configs before manifests).
pub const NAME: &str = "vae";

pub const FAMILY: Family = Family { name: NAME, legacy: Legacy::Model(NAME), open: run::open, prepare };

/// A training job from config keys given as data (see [`super::prepare_training`]).
fn prepare(request: &super::TrainRequest) -> Result<super::PreparedTraining> {
    super::prepare_with(request, VaeTrainConfig::new, saved_config, VaeTrainConfig::validate, train)
}

/// Trains a VAE into the run directory `out`.
pub fn train(config: &VaeTrainConfig, out: &Path, options: &TrainOptions) -> Result<TrainOutcome<VaeMetrics, HeldoutElbo>> {
    config.validate()?;
    let config = &config.clone().with_data(crate::data::absolute(&config.data));
    let manifest = Manifest::new(NAME, config)?.explain(UNSET);
    let data = load_training_images(&config.data, config.image_size, config.conditional, "VAE")?;
    let classes = if config.conditional { data.train.class_names.len() } else { 0 };
    let batch = config.batch_size.min(data.train.len());
    let footprint = network::footprint(config.arch, data.train.shape, config.latent_dim, classes, batch);
    memory::check(footprint, memory::available_bytes(), "batch_size", "`batch_size`, `latent_dim` or `image_size`")?;
    let run = RunDir::new(out);
    let resume_from = run.resume_point(options.resume, options.force)?;
    let device = options.device.clone().autodiff();
    device.seed(config.seed);
    let model = build_vae(config.arch, data.train.shape, config.latent_dim, classes, &device)?;
    let mut trainer = VaeTrainer::new(config.clone(), model, data, device);
    fit(&mut trainer, &run, &manifest, resume_from, options.fit())
}

/// The VAE's weights in a checkpoint (`generator.bpk` in runs written before the records had
/// one set of names).
fn model_file(checkpoint: &Path) -> PathBuf {
    let legacy = checkpoint.join(GENERATOR);
    if !checkpoint.join(MODEL).is_file() && legacy.is_file() { legacy } else { checkpoint.join(MODEL) }
}

//! Generative adversarial networks (Goodfellow et al. 2014): a generator G(z) maps noise to
//! images, a discriminator (critic) D(x) scores images. The article's MLP GAN and DCGAN
//! ([`mlp`], [`dcgan`], critics in [`critic`]), the losses ([`loss`]: non-saturating, hinge,
//! Wasserstein, WGAN-GP, R1), the trainer ([`trainer`]) with evaluations during training
//! ([`crate::eval::training`]), and what a trained run offers ([`run`]: images, interpolation, inpainting by
//! latent optimisation, [`inpaint`]).

pub mod config;
pub mod critic;
pub mod dcgan;
pub mod inpaint;
pub mod loss;
pub mod mlp;
mod networks;
mod run;
pub mod trainer;
pub mod traits;

use std::path::Path;

pub use run::saved_config;

pub use config::{DEFAULT_STEPS, GanArch, GanTrainConfig, UNSET};
pub use critic::CriticNorm;
pub use dcgan::{DCGAN_SIZES, DcganConfig, DcganDiscriminator, DcganGenerator};
pub use crate::eval::training::EvalMetrics;
pub use loss::{GanLoss, gradient_penalty, r1_penalty};
pub use mlp::{MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig};
pub use networks::{GanDiscriminator, GanGenerator, build_gan};
pub use trainer::{GanMetrics, GanTrainer};
pub use traits::{Discriminator, ExportableGenerator};

use crate::data::load_training_images;
use crate::error::Result;
use crate::eval::feature_cache::cache_dir;
use crate::families::{Family, Legacy};
use crate::run::{Manifest, RunDir};
use crate::train::{TrainOptions, TrainOutcome, fit, memory};

/// The family's name in run manifests.
pub const NAME: &str = "gan";

pub const FAMILY: Family = Family { name: NAME, legacy: Legacy::Unmarked, open: run::open, prepare };

/// A training job from config keys given as data (see [`super::prepare_training`]).
fn prepare(request: &super::TrainRequest) -> Result<super::PreparedTraining> {
    super::prepare_with(request, GanTrainConfig::new, saved_config, GanTrainConfig::validate, train)
}

/// Trains a GAN into the run directory `out`.
pub fn train(config: &GanTrainConfig, out: &Path, options: &TrainOptions) -> Result<TrainOutcome<GanMetrics, EvalMetrics>> {
    config.validate()?;
    let config = &config.clone().with_data(crate::data::absolute(&config.data));
    let manifest = Manifest::new(NAME, config)?.explain(UNSET);
    let data = load_training_images(&config.data, config.image_size, config.conditional, "GAN")?;
    let footprint = networks::footprint(config, data.train.shape, data.train.class_names.len(), data.train.len())?;
    let field = match footprint.params * 5 > footprint.activations * 2 {
        true if config.latent_dim * 256 > data.train.shape.len() * 1024 => "latent_dim",
        true => "image_size",
        false => "batch_size",
    };
    memory::check(footprint, memory::available_bytes(), field, "`batch_size`, `latent_dim` or `image_size`")?;
    let run = RunDir::new(out);
    let resume_from = run.resume_point(options.resume, options.force)?;
    let device = options.device.clone().autodiff();
    device.seed(config.seed);
    let (generator, discriminator) = build_gan(config, data.train.shape, data.train.class_names.len(), &device)?;
    let evaluator = match config.eval_every {
        Some(_) => {
            let cache = options.feature_cache.clone().unwrap_or_else(cache_dir);
            Some(crate::eval::training::TrainingEvaluator::new(&config.data, &data, config.eval_samples, config.seed, &cache, &options.device, options.quiet)?)
        }
        None => None,
    };
    let mut trainer = GanTrainer::new(config.clone(), generator, discriminator, data, device);
    trainer.evaluator = evaluator;
    let mut outcome = fit(&mut trainer, &run, &manifest, resume_from, options.fit())?;
    if outcome.last_metrics.is_none() {
        outcome.last_metrics = run.metrics().read::<GanMetrics>()?.pop();
    }
    Ok(outcome)
}

//! What a trained GAN run offers: images from its (weight-averaged) generator, spherical
//! interpolation between seeded latents, and inpainting by latent optimisation (unconditional
//! runs).

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Device;

use super::inpaint::LatentInpainter;
use super::{ExportableGenerator, GanGenerator, GanTrainConfig, NAME, build_gan};
use crate::apps::inpaint::Inpainter;
use crate::data::{ImageShape, image_shape_of};
use crate::error::{AigcError, Result};
use crate::families::{RunInfo, TrainedRun, typed_config};
use crate::run::record::{self, DISCRIMINATOR, GENERATOR, GENERATOR_EMA};
use crate::run::{CheckpointChoice, Manifest, RunDir};
use crate::sample::ImageGenerator;
use crate::sample::latent::{self, LatentImages};

pub(super) struct GanRun {
    run: RunDir,
    config: GanTrainConfig,
    info: RunInfo,
}


/// The config of the run in `run` (its manifest over the family's defaults).
pub fn saved_config(run: &RunDir) -> Result<GanTrainConfig> {
    config_of(run, &run.manifest()?)
}

fn config_of(run: &RunDir, manifest: &Manifest) -> Result<GanTrainConfig> {
    typed_config(run, manifest, &GanTrainConfig::new(), &[])
}

pub(super) fn open(run: RunDir, manifest: &Manifest) -> Result<Box<dyn TrainedRun>> {
    let config = config_of(&run, manifest)?;
    let info = RunInfo::images(&run, NAME, config.arch.name(), &config.data, config.image_size, config.conditional)?;
    Ok(Box::new(GanRun { run, config, info }))
}

/// The generator weights to sample with in a checkpoint: the weight-averaged ones when the run
/// kept them.
fn sampling_generator_file(checkpoint: &std::path::Path) -> PathBuf {
    let ema = checkpoint.join(GENERATOR_EMA);
    if ema.is_file() { ema } else { checkpoint.join(GENERATOR) }
}

impl GanRun {
    fn networks(&self, device: &Device) -> Result<(ImageShape, GanGenerator, super::GanDiscriminator)> {
        let (shape, classes) = image_shape_of(&self.config.data, self.config.image_size)?;
        device.seed(self.config.seed);
        let (generator, discriminator) = build_gan(&self.config, shape, classes, device)?;
        Ok((shape, generator, discriminator))
    }
}

impl TrainedRun for GanRun {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn images(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<Box<dyn ImageGenerator>> {
        let (state, dir) = checkpoint.resolve(&self.run)?;
        let (shape, generator, _) = self.networks(device)?;
        let generator = record::load_module(generator.valid(), &sampling_generator_file(&dir))?;
        let endpoints = latent::noise_endpoints(device.clone());
        Ok(Box::new(LatentImages { generator, shape, step: state.step, device: device.clone(), endpoints, path: latent::Path::Spherical }))
    }

    fn export(&self, checkpoint: CheckpointChoice, device: &Device, dir: &std::path::Path) -> Result<Vec<PathBuf>> {
        let (_, checkpoint_dir) = checkpoint.resolve(&self.run)?;
        let (shape, generator, _) = self.networks(device)?;
        let generator = record::load_module(generator.valid(), &sampling_generator_file(&checkpoint_dir))?;
        Ok(vec![generator.torch_export(shape, &self.config.data).write(dir)?])
    }

    fn inpainter(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<Box<dyn Inpainter>> {
        if self.config.conditional {
            return Err(AigcError::invalid("run", "inpainting needs an unconditional model (this run is conditional)"));
        }
        let (_, dir) = checkpoint.resolve(&self.run)?;
        let ad = device.clone().autodiff();
        let (shape, generator, critic) = self.networks(&ad)?;
        let generator = record::load_module(generator, &sampling_generator_file(&dir))?.freeze();
        let critic = record::load_module(critic, &dir.join(DISCRIMINATOR))?.freeze();
        Ok(Box::new(LatentInpainter { generator, critic, shape, device: ad }))
    }
}

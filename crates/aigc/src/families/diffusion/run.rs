//! What a trained diffusion run offers: images (with its sampler, steps and guidance, which a
//! request may change), interpolation through slerped noise, the denoising strip, RePaint
//! inpainting (unconditional runs) and the export.

use burn::module::Module;
use burn::tensor::Device;

use super::inpaint::RePaint;
use super::model::{Denoiser, DiffusionImages, Sampling};
use super::schedule::Schedule;
use super::{DiffusionTrainConfig, NAME};
use crate::apps::inpaint::Inpainter;
use crate::data::image_shape_of;
use crate::error::{AigcError, Result};
use crate::families::{RunInfo, TrainedRun, typed_config};
use crate::run::record::{self, MODEL, MODEL_EMA};
use crate::run::{CheckpointChoice, Manifest, RunDir};
use crate::sample::ImageGenerator;

pub(super) struct DiffusionRun {
    run: RunDir,
    config: DiffusionTrainConfig,
    info: RunInfo,
}

/// The config of the run in `run` (its manifest over the family's defaults).
pub fn saved_config(run: &RunDir) -> Result<DiffusionTrainConfig> {
    config_of(run, &run.manifest()?)
}

fn config_of(run: &RunDir, manifest: &Manifest) -> Result<DiffusionTrainConfig> {
    typed_config(run, manifest, &DiffusionTrainConfig::new(), &[])
}

pub(super) fn open(run: RunDir, manifest: &Manifest) -> Result<Box<dyn TrainedRun>> {
    let config = config_of(&run, manifest)?;
    let arch = format!("{} unet {}", config.objective, config.widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-"));
    let info = RunInfo::images(&run, NAME, &arch, &config.data, config.image_size, config.conditional)?;
    Ok(Box::new(DiffusionRun { run, config, info }))
}

impl DiffusionRun {
    /// The denoiser of a checkpoint (its weight average when the run keeps one) and its step.
    fn load(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<(Denoiser, usize)> {
        let (state, dir) = checkpoint.resolve(&self.run)?;
        let (shape, classes) = image_shape_of(&self.config.data, self.config.image_size)?;
        let classes = if self.config.conditional { classes } else { 0 };
        let unet_config = self.config.unet(shape.channels, classes);
        unet_config.check(shape.height)?;
        let unet = unet_config.init(device);
        let file = if dir.join(MODEL_EMA).is_file() { MODEL_EMA } else { MODEL };
        let unet = record::load_module(unet.valid(), &dir.join(file))?;
        let schedule = Schedule::new(self.config.schedule, self.config.timesteps);
        Ok((Denoiser { unet, objective: self.config.objective, schedule, shape, device: device.clone() }, state.step))
    }
}

impl TrainedRun for DiffusionRun {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn images(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<Box<dyn ImageGenerator>> {
        let (denoiser, step) = self.load(checkpoint, device)?;
        Ok(Box::new(DiffusionImages { denoiser, config: self.config.clone(), sampling: Sampling::of(&self.config), step }))
    }

    fn inpainter(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<Box<dyn Inpainter>> {
        if self.config.conditional {
            return Err(AigcError::invalid("run", "inpainting needs an unconditional model (this run is conditional)"));
        }
        let (denoiser, _) = self.load(checkpoint, device)?;
        Ok(Box::new(RePaint::new(denoiser, &self.config)))
    }

    fn export(&self, checkpoint: CheckpointChoice, device: &Device, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        let (denoiser, _) = self.load(checkpoint, device)?;
        Ok(vec![super::torch_export(&denoiser.unet, &self.config).write(dir)?])
    }
}

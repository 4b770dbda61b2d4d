//! What a trained VAE run offers: prior samples through the decoder, interpolation between the
//! posterior means of held-out images, and inpainting with the encoder (unconditional runs).

use burn::module::Module;
use burn::tensor::Device;

use super::inpaint::EncoderInpainter;
use super::network::{Vae, build_vae};
use super::{NAME, VaeTrainConfig, model_file};
use crate::apps::inpaint::Inpainter;
use crate::data::{DataSource, ImageShape, image_shape_of};
use crate::error::{AigcError, Result};
use crate::families::{RunInfo, TrainedRun, typed_config};
use crate::run::record;
use crate::run::{CheckpointChoice, Manifest, RunDir};
use crate::sample::ImageGenerator;
use crate::sample::latent::{self, LatentImages};

pub(super) struct VaeRun {
    run: RunDir,
    config: VaeTrainConfig,
    info: RunInfo,
}


/// The config of the run in `run` (its manifest over the family's defaults).
pub fn saved_config(run: &RunDir) -> Result<VaeTrainConfig> {
    config_of(run, &run.manifest()?)
}

fn config_of(run: &RunDir, manifest: &Manifest) -> Result<VaeTrainConfig> {
    typed_config(run, manifest, &VaeTrainConfig::new(), &[])
}

pub(super) fn open(run: RunDir, manifest: &Manifest) -> Result<Box<dyn TrainedRun>> {
    let config = config_of(&run, manifest)?;
    let info = RunInfo::images(&run, NAME, config.arch.name(), &config.data, config.image_size, config.conditional)?;
    Ok(Box::new(VaeRun { run, config, info }))
}

impl VaeRun {
    /// The VAE of a checkpoint (its step too) on `device`.
    fn load(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<(Vae, ImageShape, usize)> {
        let (state, dir) = checkpoint.resolve(&self.run)?;
        let (shape, classes) = image_shape_of(&self.config.data, self.config.image_size)?;
        let classes = if self.config.conditional { classes } else { 0 };
        let model = build_vae(self.config.arch, shape, self.config.latent_dim, classes, device)?;
        Ok((record::load_module(model.valid(), &model_file(&dir))?, shape, state.step))
    }
}

impl TrainedRun for VaeRun {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn images(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<Box<dyn ImageGenerator>> {
        let (generator, shape, step) = self.load(checkpoint, device)?;
        let endpoints = heldout_endpoints(self.config.data.clone(), self.config.image_size, device.clone());
        Ok(Box::new(LatentImages { generator, shape, step, device: device.clone(), endpoints, path: latent::Path::Linear }))
    }

    fn export(&self, checkpoint: CheckpointChoice, device: &Device, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        let (vae, _, _) = self.load(checkpoint, device)?;
        Ok(vec![vae.torch_export(&self.config.data).write(dir)?])
    }

    fn inpainter(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<Box<dyn Inpainter>> {
        if self.config.conditional {
            return Err(AigcError::invalid("run", "inpainting needs an unconditional model (this run is conditional)"));
        }
        let (vae, shape, _) = self.load(checkpoint, device)?;
        Ok(Box::new(EncoderInpainter { vae, shape, device: device.clone() }))
    }
}

/// Interpolation strips between the posterior means of two held-out images of `data` each
/// (picked by the seed).
fn heldout_endpoints(data: String, image_size: u32, device: Device) -> latent::Endpoints<Vae> {
    Box::new(move |vae: &Vae, rows, seed| {
        let splits = DataSource::parse(&data).load(image_size)?;
        let n = splits.heldout.len();
        let pick = |i: usize| ((seed as usize).wrapping_mul(7919).wrapping_add(i * 104_729)) % n;
        let encode = |images: Vec<usize>| {
            let labels = splits.heldout.one_hot_labels(&images, vae.classes(), &device);
            latent::to_vec(vae.encode(splits.heldout.batch(&images, &device), labels).0)
        };
        Ok((encode((0..rows).map(|r| pick(2 * r)).collect()), encode((0..rows).map(|r| pick(2 * r + 1)).collect())))
    })
}

//! Diffusion and flow-matching image models: the denoising UNet ([`unet`]; workload W5 is one
//! configuration of it), the noise schedules ([`schedule`]), the objectives (DDPM's ε-prediction
//! and flow matching's velocity, [`config::Objective`]), the samplers ([`sampler`]: DDPM, DDIM,
//! Euler/Heun), classifier-free guidance and sampling in batches ([`model`]), the trainer on the
//! shared loop ([`trainer`]), RePaint inpainting ([`inpaint`]) and what a trained run offers
//! ([`run`]).

pub mod config;
pub mod inpaint;
pub mod model;
mod run;
pub mod sampler;
pub mod schedule;
pub mod trainer;
pub mod unet;

use std::path::Path;

pub use config::{DiffusionTrainConfig, Objective, SamplerKind, UNSET};
pub use model::{Denoiser, DiffusionImages, Sampling};
pub use run::saved_config;
pub use schedule::{Schedule, ScheduleKind, flow_interpolant};
pub use trainer::{DiffusionMetrics, DiffusionTrainer};
pub use unet::{Unet, UnetConfig, sinusoidal};

use crate::data::load_training_images;
use crate::error::Result;
use crate::eval::feature_cache::cache_dir;
use crate::eval::training::{EvalMetrics, TrainingEvaluator};
use crate::families::{Family, Legacy};
use crate::report::torch::TorchExport;
use crate::run::{Manifest, RunDir};
use crate::train::{TrainOptions, TrainOutcome, fit, memory};

/// The family's name in run manifests.
pub const NAME: &str = "diffusion";

pub const FAMILY: Family = Family { name: NAME, legacy: Legacy::Never, open: run::open, prepare };

/// A training job from config keys given as data (see [`super::prepare_training`]).
fn prepare(request: &super::TrainRequest) -> Result<super::PreparedTraining> {
    super::prepare_with(request, DiffusionTrainConfig::new, saved_config, DiffusionTrainConfig::validate, train)
}

/// Trains a diffusion or flow model into the run directory `out`.
pub fn train(config: &DiffusionTrainConfig, out: &Path, options: &TrainOptions) -> Result<TrainOutcome<DiffusionMetrics, EvalMetrics>> {
    config.validate()?;
    let config = &config.clone().with_data(crate::data::absolute(&config.data));
    let manifest = Manifest::new(NAME, config)?.explain(UNSET);
    let data = load_training_images(&config.data, config.image_size, config.conditional, "diffusion model")?;
    let classes = if config.conditional { data.train.class_names.len() } else { 0 };
    let shape = data.train.shape;
    let unet_config = config.unet(shape.channels, classes);
    unet_config.check(shape.height)?;
    let batch = config.batch_size.min(data.train.len());
    memory::check(footprint(config, shape.len(), batch), memory::available_bytes(), "batch_size", "`batch_size`, `widths` or `image_size`")?;
    let run = RunDir::new(out);
    let resume_from = run.resume_point(options.resume, options.force)?;
    let device = options.device.clone().autodiff();
    device.seed(config.seed);
    let unet = unet_config.init(&device);
    let evaluator = match config.eval_every {
        Some(_) => {
            let cache = options.feature_cache.clone().unwrap_or_else(cache_dir);
            Some(TrainingEvaluator::new(&config.data, &data, config.eval_samples, config.seed, &cache, &options.device, options.quiet)?)
        }
        None => None,
    };
    let mut trainer = DiffusionTrainer::new(config.clone(), unet, data, device);
    trainer.evaluator = evaluator;
    fit(&mut trainer, &run, &manifest, resume_from, options.fit())
}

/// What a training step holds: the UNet's weights (about 40·width² per level: two residual
/// blocks of two 3×3 convolutions each way), gradients, AdamW's two moments and the weight
/// average, and per image the activations the backward pass keeps (about 40 full-width maps per
/// level, and attention's H·W × H·W maps at its levels).
fn footprint(config: &DiffusionTrainConfig, image_len: usize, batch: usize) -> memory::Footprint {
    let mut params = 0u64;
    let mut per_image = 0u64;
    let mut pixels = image_len as u64;
    for (&w, &attention) in config.widths.iter().zip(&config.attention) {
        let w = w as u64;
        params = params.saturating_add(w.saturating_mul(w).saturating_mul(40));
        per_image = per_image.saturating_add(w.saturating_mul(pixels).saturating_mul(40));
        if attention {
            per_image = per_image.saturating_add(pixels.saturating_mul(pixels).saturating_mul(3));
        }
        pixels /= 4;
    }
    memory::Footprint { params, copies: 4, activations: per_image.saturating_mul(batch as u64) }
}

/// The weights in PyTorch's layout (`model.safetensors`, python/aigc_torch.py's `UNet`).
pub fn torch_export(unet: &Unet, config: &DiffusionTrainConfig) -> TorchExport {
    let mut export = TorchExport::new("model", serde_json::Value::Null);
    let mut spec = unet.export_tensors(&mut export);
    if let serde_json::Value::Object(fields) = &mut spec {
        fields.insert("family".into(), NAME.into());
        fields.insert("data".into(), config.data.clone().into());
        fields.insert("objective".into(), config.objective.name().into());
        fields.insert("schedule".into(), config.schedule.name().into());
        fields.insert("timesteps".into(), config.timesteps.into());
        fields.insert("input".into(), "x_t [B, C, H, W]; t: DDPM step index, or 1000·t for flows; labels (classes = no label)".into());
        fields.insert("output".into(), match config.objective { Objective::Ddpm => "predicted noise", Objective::Flow => "predicted velocity" }.into());
    }
    export.described(spec)
}

//! Model families, one folder each: the networks, the typed config, the trainer (on the one
//! loop, [`crate::train::fit`]) and what a trained run offers ([`TrainedRun`]). [`open`] is the
//! only place that asks which family a run is; everything after it works with capabilities
//! (draw images, inpaint, continue text, compose melodies).
//!
//! Adding a family: a folder with a `FAMILY` registration, one entry in [`FAMILIES`], and its
//! `aigc train …` subcommand (docs/ARCHITECTURE.md walks through it).

pub mod diffusion;
pub mod gan;
pub mod lm;
pub mod music;
pub mod vae;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::Serialize;

use crate::apps::compose::Melodies;
use crate::apps::inpaint::Inpainter;
use crate::error::{AigcError, Result};
use crate::run::{CheckpointChoice, Manifest, RunDir};
use crate::sample::ImageGenerator;
use crate::sample::text::TextModel;

/// A family's entry in the registry.
pub struct Family {
    /// The `family` of its runs' manifests.
    pub name: &'static str,
    /// How its runs said which family they are before manifests had `family`.
    pub legacy: Legacy,
    /// Reads a run's typed config (no weights are loaded until a capability is asked for).
    pub open: fn(RunDir, &Manifest) -> Result<Box<dyn TrainedRun>>,
    /// A training job from config keys given as data (a server's request), checked before it
    /// starts: see [`prepare_training`].
    pub prepare: fn(&TrainRequest) -> Result<PreparedTraining>,
}

/// A training job described as data: the family's config keys over its defaults (or, when
/// resuming, over the run's own config), and the run folder.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub out: PathBuf,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub resume: bool,
}

/// A checked training job, ready to run on any thread.
pub struct PreparedTraining {
    /// The whole config it trains with.
    pub config: serde_json::Value,
    pub train: Box<dyn FnOnce(&crate::train::TrainOptions) -> Result<()> + Send>,
}

/// Checks a training job of family `family` (its name, as in manifests) and readies it.
pub fn prepare_training(family: &str, request: &TrainRequest) -> Result<PreparedTraining> {
    let names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
    let found = FAMILIES
        .iter()
        .find(|f| f.name == family)
        .ok_or_else(|| AigcError::invalid("family", format!("{family:?}: expected one of {}", names.join(", "))))?;
    (found.prepare)(request)
}

/// [`Family::prepare`] for a family with a typed config: merged, validated and moved into the
/// job, which calls the family's `train`.
pub fn prepare_with<T, R: 'static>(
    request: &TrainRequest,
    defaults: fn() -> T,
    saved: fn(&RunDir) -> Result<T>,
    validate: fn(&T) -> Result<()>,
    train: fn(&T, &Path, &crate::train::TrainOptions) -> Result<R>,
) -> Result<PreparedTraining>
where
    T: Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let run = RunDir::new(&request.out);
    let base = if request.resume && run.exists() { saved(&run)? } else { defaults() };
    let config = crate::run::config::merge_json(&request.config, &base)?;
    validate(&config)?;
    let out = request.out.clone();
    Ok(PreparedTraining {
        config: serde_json::to_value(&config).map_err(|e| AigcError::invalid("config", e.to_string()))?,
        train: Box::new(move |options| train(&config, &out, options).map(|_| ())),
    })
}

/// How a family's runs were marked before manifests had `family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// Its runs always have `family` (a family newer than the manifest).
    Never,
    /// `model = "…"` (VAE, text and music runs).
    Model(&'static str),
    /// No marker at all: the GAN runs, the first family.
    Unmarked,
}

/// Every family aigc knows.
pub const FAMILIES: [Family; 5] = [gan::FAMILY, vae::FAMILY, diffusion::FAMILY, lm::FAMILY, music::FAMILY];

/// Something a trained run can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Draw images ([`ImageGenerator`]), with interpolation.
    Images,
    /// Repair images ([`Inpainter`]).
    Inpainting,
    /// Continue text ([`TextModel`]): generation, poems, chat.
    Text,
    /// Compose and evaluate melodies ([`Melodies`]).
    Melodies,
    /// Write its networks in PyTorch's layout ([`crate::report::torch`]).
    Export,
}

impl Capability {
    fn verb(self) -> &'static str {
        match self {
            Capability::Images => "draw images",
            Capability::Inpainting => "inpaint images",
            Capability::Text => "generate text",
            Capability::Melodies => "compose melodies",
            Capability::Export => "export its weights",
        }
    }
}

/// What a run is, read from its manifest without loading weights.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub path: PathBuf,
    pub family: &'static str,
    pub arch: String,
    /// The data it was trained on (an embedded name or a path).
    pub data: String,
    /// Image families: the side of the training images.
    pub image_size: Option<u32>,
    /// The newest checkpoint's step (none yet: a run that has not checkpointed, or a Markov
    /// baseline, which has no weights).
    pub step: Option<usize>,
    pub capabilities: Vec<Capability>,
}

impl RunInfo {
    /// The description of the run in `run` (its newest checkpoint step read from disk).
    pub fn new(run: &RunDir, family: &'static str, arch: &str, data: &str, image_size: Option<u32>, capabilities: Vec<Capability>) -> Result<Self> {
        Ok(Self { path: run.root().to_path_buf(), family, arch: arch.into(), data: data.into(), image_size, step: run.latest_step()?, capabilities })
    }

    /// An image family's run: it draws images, and an unconditional one inpaints.
    pub fn images(run: &RunDir, family: &'static str, arch: &str, data: &str, image_size: u32, conditional: bool) -> Result<Self> {
        let capabilities = if conditional {
            vec![Capability::Images, Capability::Export]
        } else {
            vec![Capability::Images, Capability::Inpainting, Capability::Export]
        };
        Self::new(run, family, arch, data, Some(image_size), capabilities)
    }

    /// The error for asking this run for `wanted`.
    pub fn unsupported(&self, wanted: Capability) -> AigcError {
        let offers: Vec<&str> = self.capabilities.iter().map(|c| c.verb()).collect();
        let offers = if offers.is_empty() { "do nothing else".to_string() } else { offers.join(", ") };
        AigcError::Unsupported {
            run: self.path.clone(),
            family: format!("{} ({})", self.family, self.arch),
            wanted: wanted.verb().into(),
            offers,
        }
    }
}

/// A trained run, opened: its description and its capabilities, each loaded on demand from a
/// checkpoint onto a device (without autodiff). A capability the family lacks is an error that
/// says what the run can do instead.
pub trait TrainedRun {
    fn info(&self) -> &RunInfo;

    fn images(&self, _checkpoint: CheckpointChoice, _device: &Device) -> Result<Box<dyn ImageGenerator>> {
        Err(self.info().unsupported(Capability::Images))
    }

    fn inpainter(&self, _checkpoint: CheckpointChoice, _device: &Device) -> Result<Box<dyn Inpainter>> {
        Err(self.info().unsupported(Capability::Inpainting))
    }

    fn text(&self, _checkpoint: CheckpointChoice, _device: &Device) -> Result<TextModel> {
        Err(self.info().unsupported(Capability::Text))
    }

    fn melodies(&self, _checkpoint: CheckpointChoice, _device: &Device) -> Result<Box<dyn Melodies>> {
        Err(self.info().unsupported(Capability::Melodies))
    }

    /// Writes the networks of `checkpoint` in PyTorch's layout into `dir` (a `.safetensors` and
    /// a `.json` sidecar each); returns the weights' paths.
    fn export(&self, _checkpoint: CheckpointChoice, _device: &Device, _dir: &Path) -> Result<Vec<PathBuf>> {
        Err(self.info().unsupported(Capability::Export))
    }
}

/// Opens the run in `path`: the one dispatch on the family.
pub fn open(path: &Path) -> Result<Box<dyn TrainedRun>> {
    let run = RunDir::new(path);
    let manifest = run.manifest()?;
    let family = family_of(&manifest).map_err(|problem| AigcError::BadConfig { path: run.config(), problem })?;
    (family.open)(run, &manifest)
}

/// The registered family a manifest names (or, for runs older than manifests, implies).
fn family_of(manifest: &Manifest) -> std::result::Result<&'static Family, String> {
    let found = match (&manifest.family, &manifest.legacy_model) {
        (Some(name), _) => FAMILIES.iter().find(|f| f.name == name),
        (None, Some(model)) => FAMILIES.iter().find(|f| matches!(f.legacy, Legacy::Model(m) if m == model)),
        (None, None) => FAMILIES.iter().find(|f| f.legacy == Legacy::Unmarked),
    };
    found.ok_or_else(|| {
        let names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        let named = manifest.family.as_ref().or(manifest.legacy_model.as_ref()).cloned().unwrap_or_default();
        format!("unknown family {named:?}; expected one of {}", names.join(", "))
    })
}

/// A family's typed config from its manifest, over the family's defaults. `retired` are keys
/// that runs written before the manifest may hold and the family's config no longer has; they
/// are dropped from such runs (and are unknown keys of any other).
pub(crate) fn typed_config<T: Serialize + serde::de::DeserializeOwned>(run: &RunDir, manifest: &Manifest, defaults: &T, retired: &[&str]) -> Result<T> {
    if manifest.family.is_none() && retired.iter().any(|k| manifest.config.contains_key(*k)) {
        let mut legacy = manifest.clone();
        legacy.config.retain(|key, _| !retired.contains(&key));
        return legacy.typed(defaults, &run.config());
    }
    manifest.typed(defaults, &run.config())
}

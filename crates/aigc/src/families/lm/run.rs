//! What a trained text run offers: its model and tokeniser (characters or BPE), for
//! generation, poems and chat.

use burn::tensor::Device;

use super::network::LmSampler;
use super::{NAME, TextTrainConfig};
use crate::data::tokenizer::TextTokenizer;
use crate::error::Result;
use crate::families::{Capability, RunInfo, TrainedRun, typed_config};
use crate::run::record::{self, MODEL};
use crate::run::{CheckpointChoice, Manifest, RunDir};
use crate::sample::text::TextModel;

pub(super) struct TextRun {
    run: RunDir,
    config: TextTrainConfig,
    info: RunInfo,
}


/// Keys that text runs carried before the manifest, when one config served text and melody runs.
const LEGACY_MELODY_KEYS: [&str; 2] = ["transpose", "markov_order"];

/// The config of the run in `run` (its manifest over the family's defaults).
pub fn saved_config(run: &RunDir) -> Result<TextTrainConfig> {
    config_of(run, &run.manifest()?)
}

fn config_of(run: &RunDir, manifest: &Manifest) -> Result<TextTrainConfig> {
    typed_config(run, manifest, &TextTrainConfig::new(), &LEGACY_MELODY_KEYS)
}

pub(super) fn open(run: RunDir, manifest: &Manifest) -> Result<Box<dyn TrainedRun>> {
    let config = config_of(&run, manifest)?;
    let info = RunInfo::new(&run, NAME, config.arch.name(), &config.data, None, vec![Capability::Text, Capability::Export])?;
    Ok(Box::new(TextRun { run, config, info }))
}

/// The network of a language-model run (`config`) with `vocab_len` tokens from a checkpoint,
/// on `device` (without autodiff).
pub(crate) fn load_network(run: &RunDir, config: &TextTrainConfig, vocab_len: usize, checkpoint: CheckpointChoice, device: &Device) -> Result<LmSampler> {
    let (_, dir) = checkpoint.resolve(run)?;
    let model = record::load_module(config.build_model(vocab_len, device), &dir.join(MODEL))?;
    Ok(LmSampler { model, device: device.clone() })
}

/// Writes the network of a language-model run in PyTorch's layout into `dir`, with the run's
/// vocabulary in the sidecar.
pub(crate) fn export_network(run: &RunDir, family: &str, config: &TextTrainConfig, vocab_len: usize, checkpoint: CheckpointChoice, device: &Device, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let vocab_path = run.root().join(TextTokenizer::file_name(config.tokenizer));
    let text = crate::io::read_text(&vocab_path, crate::io::limits::JSON_BYTES)?;
    let vocab = serde_json::from_str(&text).map_err(|e| crate::error::AigcError::bad_data(&vocab_path, format!("not a vocabulary: {e}")))?;
    let network = load_network(run, config, vocab_len, checkpoint, device)?;
    Ok(vec![network.model.torch_export(family, &config.data, vocab)?.write(dir)?])
}

impl TrainedRun for TextRun {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn export(&self, checkpoint: CheckpointChoice, device: &Device, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        let vocab = TextTokenizer::load(self.run.root(), self.config.tokenizer)?;
        export_network(&self.run, NAME, &self.config, vocab.len(), checkpoint, device, dir)
    }

    fn text(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<TextModel> {
        let tokenizer = TextTokenizer::load(self.run.root(), self.config.tokenizer)?;
        let model = load_network(&self.run, &self.config, tokenizer.len(), checkpoint, device)?;
        Ok(TextModel { model: Box::new(model), tokenizer, data: self.config.data.clone() })
    }
}

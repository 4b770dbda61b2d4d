//! What a trained melody run offers: composition from its model (the best checkpoint of a
//! neural run; the Markov counts rebuilt from the data) and its evaluation.

use aigc_music::Tune;
use aigc_music::tokens::{MusicVocab, meter_token};
use burn::tensor::Device;

use super::data::{MusicData, load_vocab};
use super::melody::MelodyModel;
use super::{MusicTrainConfig, NAME};
use crate::apps::compose::{ComposeRequest, Melodies, compose};
use crate::error::{AigcError, Result};
use crate::eval::melody::{MusicEval, MusicSummary, TrainingTunes};
use crate::families::lm::run::load_network;
use crate::families::{Capability, RunInfo, TrainedRun, typed_config};
use crate::run::{CheckpointChoice, Manifest, RunDir};
use crate::sample::text::{NextTokenModel, SamplingConfig};

pub(super) struct MusicRun {
    run: RunDir,
    config: MusicTrainConfig,
    info: RunInfo,
}


/// The config of the run in `run` (its manifest over the family's defaults).
pub fn saved_config(run: &RunDir) -> Result<MusicTrainConfig> {
    config_of(run, &run.manifest()?)
}

fn config_of(run: &RunDir, manifest: &Manifest) -> Result<MusicTrainConfig> {
    typed_config(run, manifest, &MusicTrainConfig::default(), &[])
}

pub(super) fn open(run: RunDir, manifest: &Manifest) -> Result<Box<dyn TrainedRun>> {
    let config = config_of(&run, manifest)?;
    let capabilities = match config.network() {
        Some(_) => vec![Capability::Melodies, Capability::Export],
        None => vec![Capability::Melodies],
    };
    let info = RunInfo::new(&run, NAME, config.arch.name(), &config.lm.data, None, capabilities)?;
    Ok(Box::new(MusicRun { run, config, info }))
}

impl TrainedRun for MusicRun {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    /// A neural run's network; a Markov baseline has counts, not weights.
    fn export(&self, checkpoint: CheckpointChoice, device: &Device, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        let Some(lm) = self.config.network() else { return Err(self.info.unsupported(Capability::Export)) };
        let vocab = load_vocab(&self.run.vocab())?;
        crate::families::lm::run::export_network(&self.run, NAME, &lm, vocab.len(), checkpoint, device, dir)
    }

    /// The model of `checkpoint` (a neural run), with the tokenised data its vocabulary and
    /// pitch range come from.
    fn melodies(&self, checkpoint: CheckpointChoice, device: &Device) -> Result<Box<dyn Melodies>> {
        let vocab = load_vocab(&self.run.vocab())?;
        let data = MusicData::load(&self.config, Some(vocab))?;
        let model = match self.config.network() {
            None => MelodyModel::Markov(data.markov(self.config.markov_order)),
            Some(lm) => MelodyModel::Neural(load_network(&self.run, &lm, data.vocab.len(), checkpoint, device)?),
        };
        Ok(Box::new(MusicMelodies { run: self.run.clone(), config: self.config.clone(), data, model }))
    }
}

/// A melody model with its data.
pub(super) struct MusicMelodies {
    pub run: RunDir,
    pub config: MusicTrainConfig,
    pub data: MusicData,
    pub model: MelodyModel,
}

impl MusicMelodies {
    /// Held-out NLL per event of the model and of the Markov baseline.
    pub fn summary(&self) -> MusicSummary {
        let (config, data, model) = (&self.config, &self.data, &self.model);
        let (nll, events) = model.held_out_nll(&data.validation, &data.vocab);
        let markov_nll = match model {
            MelodyModel::Markov(_) => nll,
            _ => MelodyModel::Markov(data.markov(config.markov_order)).held_out_nll(&data.validation, &data.vocab).0,
        };
        MusicSummary {
            arch: config.arch.name().into(),
            tunes_read: data.corpus.train.len() + data.corpus.validation.len(),
            tunes_skipped: data.corpus.skipped(),
            held_out_tunes: data.validation.len(),
            held_out_events: events,
            nll_per_event: nll / events.max(1) as f64,
            markov_nll_per_event: markov_nll / events.max(1) as f64,
            markov_order: config.markov_order,
            pitch_range: data.pitch_range(),
        }
    }
}

impl Melodies for MusicMelodies {
    fn model(&self) -> &dyn NextTokenModel {
        &self.model
    }

    fn vocab(&self) -> &MusicVocab {
        &self.data.vocab
    }

    fn pitch_range(&self) -> (u8, u8) {
        self.data.pitch_range()
    }

    /// Each composed tune takes the key and meter of a held-out tune; writes `eval-music.json`.
    fn evaluate(&self, n: usize, bars: usize, seed: u64) -> Result<MusicEval> {
        if n == 0 {
            return Err(AigcError::invalid("n", "must be at least 1"));
        }
        let data = &self.data;
        let summary = self.summary();
        let sampling = SamplingConfig { temperature: 1.0, top_k: 0, top_p: 1.0 };
        let known = |t: &&Tune| t.meter.is_some_and(|m| data.vocab.id(&meter_token(m)).is_some());
        let headers: Vec<&Tune> = data.corpus.validation.iter().filter(known).collect();
        if headers.is_empty() {
            return Err(AigcError::invalid("run", "no held-out tune has a meter the model knows"));
        }
        let mut generated = Vec::with_capacity(n);
        for i in 0..n {
            let header = headers[i % headers.len()];
            let request = ComposeRequest {
                key: header.key,
                meter: header.meter.expect("filtered"),
                bars,
                primer: None,
                sampling,
                seed: seed + i as u64,
                pitch_range: summary.pitch_range,
            };
            generated.push(compose(&self.model, &data.vocab, &request)?.1);
        }
        let training = TrainingTunes::new(&data.corpus.train);
        let eval = MusicEval { summary, temperature: 1.0, bars, held_out: training.report(&data.corpus.validation), generated: training.report(&generated) };
        crate::io::write_json(&self.run.music_eval(), &eval)?;
        Ok(eval)
    }
}

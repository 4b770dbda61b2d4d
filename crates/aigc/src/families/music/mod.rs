//! Melody models: the language-model trainer ([`crate::families::lm`]) over music event tokens
//! ([`aigc_music::tokens`]) with transposition augmentation, and the keyed Markov baseline
//! ([`melody`]). At the end of a run the held-out negative log-likelihood per event of the model
//! and of the Markov baseline (same data, same tokens) is written to `music.json`; a trained run
//! composes and evaluates ([`run`]).

pub mod config;
pub mod data;
pub mod melody;
mod run;

use std::path::Path;

pub use run::saved_config;

pub use config::{MelodyArch, MusicTrainConfig};
pub use data::MusicData;
pub use melody::MelodyModel;

use crate::error::Result;
use crate::eval::melody::MusicSummary;
use crate::families::{Family, Legacy};
use crate::families::lm::run::load_network;
use crate::families::lm::{LmData, LmTrainer, TokenStream};
use crate::run::{CheckpointChoice, Manifest, RunDir};
use crate::train::{TrainOptions, fit};

/// The family's name in run manifests (and the `model` of music configs before manifests).
pub const NAME: &str = "music";

pub const FAMILY: Family = Family { name: NAME, legacy: Legacy::Model(NAME), open: run::open, prepare };

/// A training job from config keys given as data (see [`super::prepare_training`]).
fn prepare(request: &super::TrainRequest) -> Result<super::PreparedTraining> {
    super::prepare_with(request, MusicTrainConfig::default, saved_config, MusicTrainConfig::validate, train)
}

/// Trains a melody model (or counts the Markov baseline) into the run directory `out`; returns
/// the held-out likelihoods (also written as `music.json`).
pub fn train(config: &MusicTrainConfig, out: &Path, options: &TrainOptions) -> Result<MusicSummary> {
    config.validate()?;
    let mut config = config.clone();
    config.lm.data = crate::data::absolute(&config.lm.data);
    let config = &config;
    let manifest = Manifest::new(NAME, config)?.explain(crate::families::lm::UNSET);
    let run = RunDir::new(out);
    let resume_from = run.resume_point(options.resume, options.force)?;
    let vocab = match &resume_from {
        Some(_) => Some(data::load_vocab(&run.vocab())?),
        None => None,
    };
    let data = MusicData::load(config, vocab)?;
    tracing::info!("{}", data.corpus.report());
    if let Some(first) = data.untokenisable.first() {
        tracing::info!("{} tunes left out by the tokeniser, e.g. {first}", data.untokenisable.len());
    }
    let model = match config.network() {
        None => {
            // Counting needs no loop: the run keeps its config and vocabulary, and rebuilds the
            // counts from the data when it is opened.
            let _lock = run.lock()?;
            run.start(&manifest)?;
            crate::io::write_atomic(&run.vocab(), data.vocab.to_json().as_bytes())?;
            MelodyModel::Markov(data.markov(config.markov_order))
        }
        Some(lm) => {
            let lm_data = LmData {
                train: TokenStream::with_headers(&data.train),
                validation: TokenStream::with_headers(&data.validation),
                vocab_len: data.vocab.len(),
                unit: "token",
                vocab_json: data.vocab.to_json(),
                vocab_file: "vocab.json",
                chars_per_token: 1.0,
                unigram_bpc: None,
                family: NAME,
            };
            let mut trainer = LmTrainer::new(lm.clone(), lm_data, &options.device)?;
            fit(&mut trainer, &run, &manifest, resume_from, options.fit())?;
            MelodyModel::Neural(load_network(&run, &lm, data.vocab.len(), CheckpointChoice::Best, &options.device)?)
        }
    };
    let melodies = run::MusicMelodies { run: run.clone(), config: config.clone(), data, model };
    let summary = melodies.summary();
    crate::io::write_json(&run.music_summary(), &summary)?;
    Ok(summary)
}

//! Language models over token sequences: nanoGPT's transformer ([`gpt`]) and recurrent LSTM/GRU
//! networks ([`rnn`]) behind one [`LanguageModel`], their config ([`config`]) and trainer
//! ([`trainer`], shared with the melody models), and the text family: character- or BPE-level models
//! of a corpus ([`train`]) and what a trained run offers ([`run`]: generation, poems, chat).

pub mod config;
pub mod gpt;
pub mod network;
pub mod rnn;
pub(crate) mod run;
pub mod tokens;
pub mod trainer;

use std::path::Path;

pub use run::saved_config;

pub use config::{LmArch, TextTrainConfig, UNSET};
pub use gpt::{Gpt, GptConfig, KvCache};
pub use network::{LanguageModel, LmSampler};
pub use rnn::{RnnCell, RnnLm, RnnLmConfig};
pub use tokens::{TokenStream, cross_entropy};
pub use trainer::{LmData, LmTrainer, TextEval, TextMetrics};

use crate::data::text::TextCorpus;
use crate::data::tokenizer::{Bpe, TextTokenizer, TokenizerKind};
use crate::error::Result;
use crate::families::{Family, Legacy};
use crate::run::{Manifest, RunDir};
use crate::train::{TrainOptions, TrainOutcome, fit};

/// The family's name in run manifests (and the `model` of text configs before manifests).
pub const NAME: &str = "text";

pub const FAMILY: Family = Family { name: NAME, legacy: Legacy::Model(NAME), open: run::open, prepare };

/// A training job from config keys given as data (see [`super::prepare_training`]).
fn prepare(request: &super::TrainRequest) -> Result<super::PreparedTraining> {
    super::prepare_with(request, TextTrainConfig::new, saved_config, TextTrainConfig::validate, train)
}

/// Trains a language model of `config.data` (over characters or BPE tokens) into the run
/// directory `out`.
pub fn train(config: &TextTrainConfig, out: &Path, options: &TrainOptions) -> Result<TrainOutcome<TextMetrics, TextEval>> {
    config.validate()?;
    let config = &config.clone().with_data(crate::data::absolute(&config.data));
    let manifest = Manifest::new(NAME, config)?.explain(UNSET);
    let corpus = TextCorpus::load(&config.data)?;
    let run = RunDir::new(out);
    let resume_from = run.resume_point(options.resume, options.force)?;
    let tokenizer = match &resume_from {
        Some(_) => TextTokenizer::load(run.root(), config.tokenizer)?,
        None => match config.tokenizer {
            TokenizerKind::Char => TextTokenizer::Char(corpus.vocab()),
            TokenizerKind::Bpe => {
                tracing::info!("training a byte-level BPE of {} tokens on the training split", config.vocab_size);
                TextTokenizer::Bpe(Bpe::train(&corpus.train, config.vocab_size)?)
            }
        },
    };
    let (train, validation) = (tokenizer.encode_lossy(&corpus.train), tokenizer.encode_lossy(&corpus.validation));
    let chars_per_token = corpus.validation.chars().count() as f64 / validation.len().max(1) as f64;
    let unigram_bpc = tokenizer.unigram_bits(&train, &validation) / chars_per_token;
    let data = LmData {
        train: TokenStream::plain(train),
        validation: TokenStream::plain(validation),
        vocab_len: tokenizer.len(),
        unit: match config.tokenizer {
            TokenizerKind::Char => "char",
            TokenizerKind::Bpe => "BPE token",
        },
        vocab_json: tokenizer.to_json(),
        vocab_file: TextTokenizer::file_name(config.tokenizer),
        chars_per_token,
        unigram_bpc: Some(unigram_bpc),
        family: NAME,
    };
    let mut trainer = LmTrainer::new(config.clone(), data, &options.device)?;
    fit(&mut trainer, &run, &manifest, resume_from, options.fit())
}

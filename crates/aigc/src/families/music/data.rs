//! A tune collection as tokens: training sequences (transposed to all twelve keys), held-out
//! sequences, and the vocabulary.

use aigc_music::markov::Markov;
use aigc_music::tokens::{MusicVocab, transpose};
use aigc_music::{Event, Tune};

use super::MusicTrainConfig;
use crate::data::music::MusicCorpus;
use crate::error::{AigcError, Result};

/// Semitone shifts of the transposition augmentation (all twelve keys).
const SHIFTS: std::ops::RangeInclusive<i32> = -5..=6;

/// The tokenised corpus: training sequences (augmented), held-out sequences, the vocabulary.
pub struct MusicData {
    pub corpus: MusicCorpus,
    pub vocab: MusicVocab,
    pub train: Vec<Vec<u32>>,
    pub validation: Vec<Vec<u32>>,
    /// Tunes the vocabulary cannot spell (unsupported meter or duration), with the reason.
    pub untokenisable: Vec<String>,
}

impl MusicData {
    /// Loads the config's data and tokenises it with `vocab` (when `None`, built from every tune,
    /// held-out ones included, as a text corpus's characters are: a small collection's held-out
    /// tune may have the only dotted half note or the only 3/4 bar).
    pub fn load(config: &MusicTrainConfig, vocab: Option<MusicVocab>) -> Result<Self> {
        let corpus = MusicCorpus::load(&config.lm.data)?;
        let vocab = vocab.unwrap_or_else(|| MusicVocab::from_tunes(corpus.train.iter().chain(&corpus.validation)));
        let mut untokenisable = Vec::new();
        let mut encode = |tune: &Tune, shifts: &[i32]| -> Vec<Vec<u32>> {
            match vocab.encode(tune) {
                Err(why) => {
                    untokenisable.push(format!("X:{} {}: {why}", tune.number, tune.title));
                    vec![]
                }
                Ok(_) => shifts.iter().filter_map(|&s| transpose(tune, s)).filter_map(|t| vocab.encode(&t).ok()).collect(),
            }
        };
        let shifts: Vec<i32> = if config.transpose { SHIFTS.collect() } else { vec![0] };
        let train: Vec<Vec<u32>> = corpus.train.iter().flat_map(|t| encode(t, &shifts)).collect();
        let validation: Vec<Vec<u32>> = corpus.validation.iter().flat_map(|t| encode(t, &[0])).collect();
        for (split, sequences) in [("training", &train), ("held-out", &validation)] {
            if sequences.is_empty() {
                let why = untokenisable.first().map(|w| format!(" (e.g. {w})")).unwrap_or_default();
                return Err(AigcError::invalid("data", format!("{}: none of its {split} tunes could be tokenised{why}", config.lm.data)));
            }
        }
        Ok(Self { corpus, vocab, train, validation, untokenisable })
    }

    /// The pitch range of the training tunes (as written, before transposition).
    pub fn pitch_range(&self) -> (u8, u8) {
        let pitches = self.corpus.train.iter().flat_map(|t| &t.events).filter_map(|e| if let Event::Note { pitch, .. } = e { Some(*pitch) } else { None });
        pitches.fold((127, 0), |(lo, hi), p| (lo.min(p), hi.max(p)))
    }

    pub fn markov(&self, order: usize) -> Markov {
        Markov::train(order, self.vocab.len(), self.train.iter().map(|s| s.as_slice()))
    }
}

/// A run's `vocab.json`.
pub fn load_vocab(path: &std::path::Path) -> Result<MusicVocab> {
    let text = crate::io::read_text(path, crate::io::limits::JSON_BYTES)?;
    MusicVocab::from_json(&text).map_err(|problem| AigcError::bad_data(path, problem))
}

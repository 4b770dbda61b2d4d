//! Melody models: the language-model trainer of `train::text` over music event tokens
//! (`music::tokens`), with transposition augmentation, plus the Markov baseline. At the end of a
//! run the held-out negative log-likelihood per event of the model and of the Markov baseline
//! (same data, same tokens) is written to `music.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::gan::TrainOptions;
use super::run::RunDir;
use super::text::{LmData, MUSIC_MODEL, TextTrainConfig, TokenStream, VOCAB_FILE, load_lm_weights, read_lm_config, train_lm};
use crate::error::{AigcError, Result};
use crate::music::abc::{Event, Tune};
use crate::music::compose::MelodyModel;
use crate::music::corpus::MusicCorpus;
use crate::music::markov::Markov;
use crate::music::tokens::{MusicVocab, transpose};

pub const MUSIC_FILE: &str = "music.json";

/// Semitone shifts of the transposition augmentation (all twelve keys).
const SHIFTS: std::ops::RangeInclusive<i32> = -5..=6;

/// The defaults of `aigc train music`: the text trainer's, with a longer window (a tune is a few
/// hundred tokens), a larger batch, and an LSTM (MelodyRNN's model) of two layers of 256 units.
pub fn music_config() -> TextTrainConfig {
    TextTrainConfig::new()
        .with_model(MUSIC_MODEL.into())
        .with_arch("lstm".into())
        .with_data("folk".into())
        .with_block_size(128)
        .with_batch_size(16)
        .with_n_layer(2)
        .with_hidden(256)
}

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
    /// Loads `config.data` and tokenises it with `vocab` (built from the training tunes when
    /// `None`).
    pub fn load(config: &TextTrainConfig, vocab: Option<MusicVocab>) -> Result<Self> {
        let corpus = MusicCorpus::load(&config.data)?;
        let vocab = vocab.unwrap_or_else(|| MusicVocab::from_tunes(&corpus.train));
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
        if train.is_empty() || validation.is_empty() {
            return Err(AigcError::bad_argument("--data", format!("{}: no tune could be tokenised ({})", config.data, untokenisable.first().cloned().unwrap_or_default())));
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

/// The held-out likelihoods of a music run (`music.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MusicSummary {
    pub arch: String,
    pub tunes_read: usize,
    pub tunes_skipped: usize,
    pub held_out_tunes: usize,
    pub held_out_events: usize,
    /// Negative log-likelihood per event (nats) of the held-out tunes under the run's model.
    pub nll_per_event: f64,
    /// The same for the Markov baseline of `markov_order` trained on the same tokens.
    pub markov_nll_per_event: f64,
    pub markov_order: usize,
    pub pitch_range: (u8, u8),
}

/// Trains a melody model (or counts the Markov baseline) into run directory `out`.
pub fn train_music(config: &TextTrainConfig, out: &Path, options: &TrainOptions) -> Result<MusicSummary> {
    config.validate()?;
    let run = RunDir::new(out);
    let latest = run.checkpoints(config.keep_checkpoints).resume_point(options.resume, out)?;
    let vocab = match &latest {
        Some(_) => Some(MusicVocab::load(&out.join(VOCAB_FILE))?),
        None => None,
    };
    let data = MusicData::load(config, vocab)?;
    tracing::info!("{}", data.corpus.report());
    if !data.untokenisable.is_empty() {
        tracing::info!("{} tunes left out by the tokeniser, e.g. {}", data.untokenisable.len(), data.untokenisable[0]);
    }
    let model = if config.arch == "markov" {
        run.start(&super::config::to_toml(config))?;
        data.vocab.save(&out.join(VOCAB_FILE))?;
        MelodyModel::Markov(data.markov(config.markov_order))
    } else {
        let lm_data = LmData {
            train: TokenStream::with_headers(&data.train),
            validation: TokenStream::with_headers(&data.validation),
            vocab_len: data.vocab.len(),
            unit: "token",
        };
        let vocab = data.vocab.clone();
        train_lm(config, out, options, lm_data, latest, &|dir| vocab.save(&dir.join(VOCAB_FILE)))?;
        let device = options.device.clone();
        MelodyModel::Neural { model: load_lm_weights(out, config, data.vocab.len(), true, &device)?, device }
    };
    let summary = summarise(config, &data, &model);
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    super::checkpoint::write_atomic(&out.join(MUSIC_FILE), json.as_bytes())?;
    Ok(summary)
}

/// Held-out NLL per event of `model` and of the Markov baseline.
pub fn summarise(config: &TextTrainConfig, data: &MusicData, model: &MelodyModel) -> MusicSummary {
    let (nll, events) = model.held_out_nll(&data.validation, &data.vocab);
    let markov_nll = match model {
        MelodyModel::Markov(_) => nll,
        _ => MelodyModel::Markov(data.markov(config.markov_order)).held_out_nll(&data.validation, &data.vocab).0,
    };
    MusicSummary {
        arch: config.arch.clone(),
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

/// A music run's configuration, data, vocabulary and model (the best checkpoint of a neural
/// run; the Markov counts rebuilt from the data), on `device`.
pub fn load_music_run(run: &Path, device: &burn::tensor::Device) -> Result<(TextTrainConfig, MusicData, MelodyModel)> {
    let config = read_lm_config(run, MUSIC_MODEL)?;
    let vocab = MusicVocab::load(&run.join(VOCAB_FILE))?;
    let data = MusicData::load(&config, Some(vocab))?;
    let model = if config.arch == "markov" {
        MelodyModel::Markov(data.markov(config.markov_order))
    } else {
        MelodyModel::Neural { model: load_lm_weights(run, &config, data.vocab.len(), true, device)?, device: device.clone() }
    };
    Ok((config, data, model))
}

/// `aigc eval` of a music run (`eval-music.json`): held-out likelihoods, and melody statistics of
/// the held-out tunes and of tunes the model composes, compared with the training tunes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MusicEval {
    pub summary: MusicSummary,
    pub temperature: f64,
    pub bars: usize,
    pub held_out: MelodyReport,
    pub generated: MelodyReport,
}

/// Statistics of a set of tunes and their distances to the training tunes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MelodyReport {
    pub stats: crate::music::metrics::MelodyStats,
    /// Total-variation distance of the interval histogram to the training tunes'.
    pub interval_distance: f64,
    pub duration_distance: f64,
    /// Share of note 9-grams (transposition-invariant) found in the training tunes.
    pub copied: f64,
}

impl MusicEval {
    pub fn row(&self) -> String {
        let g = &self.generated;
        format!(
            "{}: held-out NLL {:.3} nats/event (Markov order {}: {:.3}); composed {} tunes: {:.1}% notes in key, range {:.1} semitones, \
             interval TV {:.3}, duration TV {:.3}, full bars {:.1}%, copied 9-grams {:.1}% (held-out tunes: {:.1}% in key, {:.1}% copied)",
            self.summary.arch,
            self.summary.nll_per_event,
            self.summary.markov_order,
            self.summary.markov_nll_per_event,
            g.stats.tunes,
            100.0 * g.stats.notes_in_key,
            g.stats.mean_range,
            g.interval_distance,
            g.duration_distance,
            100.0 * g.stats.full_bars,
            100.0 * g.copied,
            100.0 * self.held_out.stats.notes_in_key,
            100.0 * self.held_out.copied,
        )
    }
}

/// Evaluates a music run: `n` tunes of `bars` bars composed at temperature 1 (plain samples of
/// the model), each in the key and meter of a held-out tune, seeds `seed`, `seed + 1`, ….
pub fn evaluate_music(run: &Path, n: usize, bars: usize, seed: u64, device: &burn::tensor::Device) -> Result<MusicEval> {
    use crate::music::compose::{ComposeRequest, compose};
    use crate::music::metrics::{copied_fraction, duration_distance, melody_stats, ngram_set, tv_distance};
    use crate::sample::text::SamplingConfig;

    if n == 0 {
        return Err(AigcError::bad_argument("--n", "must be at least 1"));
    }
    let (config, data, model) = load_music_run(run, device)?;
    let summary = summarise(&config, &data, &model);
    let sampling = SamplingConfig { temperature: 1.0, top_k: 0, top_p: 1.0 };
    let known = |t: &&Tune| t.meter.is_some_and(|m| data.vocab.id(&crate::music::tokens::meter_token(m)).is_some());
    let headers: Vec<&Tune> = data.corpus.validation.iter().filter(known).collect();
    if headers.is_empty() {
        return Err(AigcError::bad_argument("--run", "no held-out tune has a meter the model knows"));
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
        generated.push(compose(&model, &data.vocab, &request)?.1);
    }
    let training = melody_stats(&data.corpus.train);
    let grams = ngram_set(&data.corpus.train);
    let report = |tunes: &[Tune]| {
        let stats = melody_stats(tunes);
        MelodyReport {
            interval_distance: tv_distance(&stats.intervals, &training.intervals),
            duration_distance: duration_distance(&stats.durations, &training.durations),
            copied: copied_fraction(tunes, &grams),
            stats,
        }
    };
    let eval = MusicEval { summary, temperature: 1.0, bars, held_out: report(&data.corpus.validation), generated: report(&generated) };
    let json = serde_json::to_string_pretty(&eval).expect("an evaluation serialises");
    super::checkpoint::write_atomic(&run.join("eval-music.json"), json.as_bytes())?;
    Ok(eval)
}

//! Measuring melodies: a melody run's held-out likelihoods against its Markov baseline, and the
//! statistics of tunes (composed or held out) compared with the training tunes.

use std::collections::HashSet;

use aigc_music::Tune;
use aigc_music::metrics::{MelodyStats, copied_fraction, duration_distance, melody_stats, ngram_set, tv_distance};
use serde::{Deserialize, Serialize};

/// The held-out likelihoods of a melody run (its `music.json`).
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

/// `aigc eval` of a melody run (`eval-music.json`): held-out likelihoods, and melody statistics
/// of the held-out tunes and of tunes the model composes, compared with the training tunes.
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
    pub stats: MelodyStats,
    /// Total-variation distance of the interval histogram to the training tunes'.
    pub interval_distance: f64,
    pub duration_distance: f64,
    /// Share of note 9-grams (transposition-invariant) found in the training tunes.
    pub copied: f64,
}

/// The training tunes that reports compare with.
pub struct TrainingTunes {
    stats: MelodyStats,
    grams: HashSet<Vec<(i32, i64)>>,
}

impl TrainingTunes {
    pub fn new(training: &[Tune]) -> Self {
        Self { stats: melody_stats(training), grams: ngram_set(training) }
    }

    /// The statistics of `tunes` and their distances to the training tunes.
    pub fn report(&self, tunes: &[Tune]) -> MelodyReport {
        let stats = melody_stats(tunes);
        MelodyReport {
            interval_distance: tv_distance(&stats.intervals, &self.stats.intervals),
            duration_distance: duration_distance(&stats.durations, &self.stats.durations),
            copied: copied_fraction(tunes, &self.grams),
            stats,
        }
    }
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

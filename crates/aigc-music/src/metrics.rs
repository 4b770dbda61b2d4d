//! Melody statistics that compare generated tunes with real ones: notes in key, pitch range,
//! interval and duration histograms (and their total-variation distance to the training data's),
//! bars that sum to the meter, and n-grams copied from the training set (memorisation).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::tune::{Event, Mode, Tune};
use super::tokens::{grid_units, key_class};

/// Intervals between consecutive notes, in semitones, clipped to ±12 (25 bins).
const INTERVAL_RANGE: i32 = 12;
/// Notes per n-gram in the memorisation check.
pub const COPY_NGRAM: usize = 8;

/// Statistics of a set of tunes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MelodyStats {
    pub tunes: usize,
    pub notes: usize,
    /// Share of notes whose pitch class is in the key's scale (natural minor for minor keys).
    pub notes_in_key: f64,
    /// Mean over tunes of highest − lowest pitch, in semitones.
    pub mean_range: f64,
    /// Share of inner bars (neither the first nor the last of a tune, which may be partial) that
    /// last exactly one bar of the meter.
    pub full_bars: f64,
    /// Normalised histogram of melodic intervals −12..=12.
    pub intervals: Vec<f64>,
    /// Normalised histogram of note and rest durations, by 96ths of a whole note.
    pub durations: BTreeMap<i64, f64>,
}

fn scale(mode: Mode) -> [u8; 7] {
    match mode {
        Mode::Minor => [0, 2, 3, 5, 7, 8, 10],
        Mode::Dorian => [0, 2, 3, 5, 7, 9, 10],
        Mode::Mixolydian => [0, 2, 4, 5, 7, 9, 10],
        _ => [0, 2, 4, 5, 7, 9, 11],
    }
}

pub fn melody_stats(tunes: &[Tune]) -> MelodyStats {
    let (mut notes, mut in_key, mut range_sum, mut inner_bars, mut full) = (0usize, 0usize, 0f64, 0usize, 0usize);
    let mut intervals = vec![0f64; (2 * INTERVAL_RANGE + 1) as usize];
    let mut durations: BTreeMap<i64, f64> = BTreeMap::new();
    for tune in tunes {
        let key = key_class(tune.key);
        let degrees = scale(key.mode);
        let pitches: Vec<u8> = tune.events.iter().filter_map(|e| if let Event::Note { pitch, .. } = e { Some(*pitch) } else { None }).collect();
        notes += pitches.len();
        in_key += pitches.iter().filter(|&&p| degrees.contains(&((p + 12 - key.tonic_pc % 12) % 12))).count();
        if let (Some(lo), Some(hi)) = (pitches.iter().min(), pitches.iter().max()) {
            range_sum += (hi - lo) as f64;
        }
        for w in pitches.windows(2) {
            let d = (w[1] as i32 - w[0] as i32).clamp(-INTERVAL_RANGE, INTERVAL_RANGE);
            intervals[(d + INTERVAL_RANGE) as usize] += 1.0;
        }
        for e in &tune.events {
            if let Some(units) = (!matches!(e, Event::Bar)).then(|| grid_units(e.duration())).flatten() {
                *durations.entry(units).or_default() += 1.0;
            }
        }
        if let Some(meter) = tune.meter {
            let bars = bar_lengths(&tune.events);
            for len in bars.iter().skip(1).take(bars.len().saturating_sub(2)) {
                inner_bars += 1;
                full += (*len == meter.bar_length()) as usize;
            }
        }
    }
    normalise(intervals.iter_mut());
    normalise(durations.values_mut());
    MelodyStats {
        tunes: tunes.len(),
        notes,
        notes_in_key: in_key as f64 / notes.max(1) as f64,
        mean_range: range_sum / tunes.len().max(1) as f64,
        full_bars: full as f64 / inner_bars.max(1) as f64,
        intervals,
        durations,
    }
}

/// The duration of each bar (events between bar lines).
pub fn bar_lengths(events: &[Event]) -> Vec<crate::tune::Rational> {
    let mut bars = vec![crate::tune::Rational::ZERO];
    for e in events {
        match e {
            Event::Bar => bars.push(crate::tune::Rational::ZERO),
            e => {
                let last = bars.last_mut().expect("bars starts non-empty");
                *last = last.checked_add(e.duration()).unwrap_or(*last);
            }
        }
    }
    bars.retain(|b| b.is_positive());
    bars
}

fn normalise<'a>(values: impl Iterator<Item = &'a mut f64>) {
    let values: Vec<&mut f64> = values.collect();
    let total: f64 = values.iter().map(|v| **v).sum();
    if total > 0.0 {
        for v in values {
            *v /= total;
        }
    }
}

/// Total-variation distance between two histograms (0 = identical, 1 = disjoint).
pub fn tv_distance(a: &[f64], b: &[f64]) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

/// Total-variation distance between duration histograms.
pub fn duration_distance(a: &BTreeMap<i64, f64>, b: &BTreeMap<i64, f64>) -> f64 {
    let keys: HashSet<i64> = a.keys().chain(b.keys()).copied().collect();
    0.5 * keys.iter().map(|k| (a.get(k).unwrap_or(&0.0) - b.get(k).unwrap_or(&0.0)).abs()).sum::<f64>()
}

/// Transposition-invariant note n-grams of a tune: (interval to the previous note, duration).
fn ngrams(tune: &Tune, n: usize) -> Vec<Vec<(i32, i64)>> {
    let notes: Vec<(u8, i64)> = tune
        .events
        .iter()
        .filter_map(|e| if let Event::Note { pitch, dur } = e { Some((*pitch, grid_units(*dur).unwrap_or(-1))) } else { None })
        .collect();
    let steps: Vec<(i32, i64)> = notes.windows(2).map(|w| (w[1].0 as i32 - w[0].0 as i32, w[1].1)).collect();
    steps.windows(n).map(|w| w.to_vec()).collect()
}

/// Set of the training tunes' n-grams, for [`copied_fraction`].
pub fn ngram_set(training: &[Tune]) -> HashSet<Vec<(i32, i64)>> {
    training.iter().flat_map(|t| ngrams(t, COPY_NGRAM)).collect()
}

/// Share of the tunes' note n-grams (of [`COPY_NGRAM`] + 1 notes, transposition-invariant) that
/// occur in the training set.
pub fn copied_fraction(tunes: &[Tune], training: &HashSet<Vec<(i32, i64)>>) -> f64 {
    let grams: Vec<Vec<(i32, i64)>> = tunes.iter().flat_map(|t| ngrams(t, COPY_NGRAM)).collect();
    grams.iter().filter(|g| training.contains(*g)).count() as f64 / grams.len().max(1) as f64
}

//! Standard MIDI files for [`Tune`]s: [`write_midi`] performs a tune as a one-track MIDI file, and
//! [`read_midi`] extracts a monophonic melody from a MIDI file (parsed with `midly`).
//!
//! Conventions:
//!
//! * Pitches are MIDI note numbers (middle C = 60), as in [`Tune`]; durations are exact
//!   [`Rational`]s in whole notes; a quarter note is `ticks_per_quarter` MIDI ticks.
//! * [`write_midi`] writes format 0 (one track, channel 1 = index 0) at [`TICKS_PER_QUARTER`] ticks
//!   per quarter note. Onsets are summed exactly as rationals and each absolute time is rounded
//!   to the nearest tick, so rounding never accumulates over a tune.
//! * [`read_midi`] takes the melody from one (track, channel) stream, reduced to its highest voice
//!   and quantised to a grid of 1/48 of a whole note ([`GRID`], a sixteenth-note triplet), so
//!   tunes whose durations are multiples of 1/48 (plain and dotted notes down to the sixteenth,
//!   triplets down to the sixteenth-note triplet) survive a write/read round trip exactly, bar
//!   lines included when they fall on the meter's bar lines (no pickup bar).
//! * Bar lines ([`Event::Bar`]) are not stored in MIDI files; [`read_midi`] puts them back from the
//!   meter, counting bars from the start of the file, with the convention of the ABC reader: a
//!   note that crosses a bar line stays one event and the bar follows it.

use std::fmt;


use crate::tune::{Event, Key, Meter, Mode, Rational, Tune};

/// Why a MIDI file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MidiError(pub String);

impl fmt::Display for MidiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MidiError {}

fn error(message: impl Into<String>) -> MidiError {
    MidiError(message.into())
}

// ---------------------------------------------------------------------------------------------
// Limits and constants

/// Ticks per quarter note of the files [`write_midi`] makes.
pub const TICKS_PER_QUARTER: u16 = 480;
/// Ticks per whole note of the files [`write_midi`] makes.
const TICKS_PER_WHOLE: i128 = 4 * TICKS_PER_QUARTER as i128;
/// Latest time [`write_midi`] writes, in ticks (the largest MIDI delta time, 2^28 − 1: about
/// 140 000 whole notes); later times are clamped to it.
const MAX_TICK: u32 = 0x0FFF_FFFF;
/// Velocity of notes, and of the first note of each bar.
const VELOCITY: u8 = 90;
const ACCENT_VELOCITY: u8 = 100;
/// Tempo used when the given one is not a positive number.
const DEFAULT_QPM: f64 = 120.0;
/// Longest track name written, in bytes.
const MAX_TITLE_BYTES: usize = 1000;

/// The grid of [`read_midi`]: onsets and ends are rounded to multiples of 1/`GRID` whole note.
pub const GRID: u64 = 48;
/// Longest note or silence [`read_midi`] accepts, in whole notes.
const MAX_NOTE_WHOLES: u64 = 1000;
/// Most events (MIDI events of the file, and events of the melody) [`read_midi`] accepts.
const MAX_EVENTS: usize = 1_000_000;
/// MIDI channel 10, the General MIDI drum channel (0-based index 9).
const DRUM_CHANNEL: u8 = 9;
/// Largest time-signature denominator, as a power of two (1/64).
const MAX_DEN_POW: u8 = 6;
const DEFAULT_METER: Meter = Meter { num: 4, den: 4 };
const DEFAULT_KEY: Key = Key { tonic_pc: 0, mode: Mode::Major };

// ---------------------------------------------------------------------------------------------
// Writer

mod read;
#[cfg(test)]
mod tests;

pub use read::read_midi;


/// Performs a tune as a standard MIDI file (format 0, one track on channel 1, [`TICKS_PER_QUARTER`]
/// ticks per quarter note) and returns the file's bytes.
///
/// The track starts with meta events at time 0: the track name (the tune's title, if not empty),
/// the tempo (`tempo_qpm` quarter notes per minute; 120 if it is not a positive number), the time
/// signature (`tune.meter`; 4/4 if there is none or it has no MIDI form: a numerator above 255 or
/// a denominator that is not a power of two up to 64), the key signature (sharps or flats of
/// `tune.key`, minor for [`Mode::Minor`]; modes are written as their signature with the major
/// flag, `K:none` as C major), and a program change to `program` (a 0-based General MIDI
/// instrument, at most 127). Then each note is a note-on/note-off pair (velocity 100 for the
/// first note of each bar, 90 otherwise; the melody is legato: a note ends where the next one
/// starts), rests advance time and bar lines produce nothing. The track ends at the end of the
/// tune, so a final rest is kept.
///
/// Notes and rests with non-positive durations are skipped, notes shorter than half a tick
/// vanish, and times past 2^28 − 1 ticks (about 140 000 whole notes) are clamped.
pub fn write_midi(tune: &Tune, tempo_qpm: f64, program: u8) -> Vec<u8> {
    let mut track: Vec<u8> = Vec::new();
    let title = truncate_utf8(tune.title.trim(), MAX_TITLE_BYTES);
    if !title.is_empty() {
        push_meta(&mut track, 0, 0x03, title.as_bytes());
    }
    let micros = micros_per_quarter(tempo_qpm).to_be_bytes();
    push_meta(&mut track, 0, 0x51, micros.get(1..).unwrap_or(&[0x07, 0xA1, 0x20]));
    let (num, den_pow) = time_signature(tune.meter);
    push_meta(&mut track, 0, 0x58, &[num, den_pow, 24, 8]);
    let (sharps, minor) = key_signature(tune.key);
    push_meta(&mut track, 0, 0x59, &[sharps as u8, u8::from(minor)]);
    push_event(&mut track, 0, &[0xC0, program.min(127)]);

    let mut clock = Clock::new();
    let mut last_tick: u32 = 0;
    let mut accent = true;
    for event in &tune.events {
        match *event {
            Event::Bar => accent = true,
            Event::Rest { dur } => {
                clock.advance(dur);
            }
            Event::Note { pitch, dur } => {
                let on = clock.ticks();
                if !clock.advance(dur) {
                    continue;
                }
                let off = clock.ticks();
                if off <= on {
                    continue;
                }
                let key = pitch.min(127);
                let velocity = if accent { ACCENT_VELOCITY } else { VELOCITY };
                accent = false;
                push_event(&mut track, on.saturating_sub(last_tick), &[0x90, key, velocity]);
                push_event(&mut track, off - on, &[0x80, key, 64]);
                last_tick = off;
            }
        }
    }
    push_meta(&mut track, clock.ticks().saturating_sub(last_tick), 0x2F, &[]);

    let mut out = Vec::with_capacity(22 + track.len());
    out.extend_from_slice(b"MThd");
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // format 0
    out.extend_from_slice(&1u16.to_be_bytes()); // one track
    out.extend_from_slice(&TICKS_PER_QUARTER.to_be_bytes());
    out.extend_from_slice(b"MTrk");
    out.extend_from_slice(&u32::try_from(track.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&track);
    out
}

/// The time of the writer: exact while the sum of durations fits a [`Rational`], then a float.
struct Clock {
    exact: Option<Rational>,
    approx: f64,
}

impl Clock {
    fn new() -> Clock {
        Clock { exact: Some(Rational::ZERO), approx: 0.0 }
    }

    /// Advances by `dur` if it is positive; returns whether it was.
    fn advance(&mut self, dur: Rational) -> bool {
        let Some(dur) = Rational::new(dur.num, dur.den).filter(|d| d.is_positive()) else {
            return false;
        };
        self.exact = self.exact.and_then(|t| t.checked_add(dur));
        self.approx += dur.to_f64();
        true
    }

    /// The current time in ticks, rounded to the nearest tick and clamped to `0..=MAX_TICK`.
    fn ticks(&self) -> u32 {
        let ticks: i128 = match self.exact {
            Some(t) if t.den > 0 => {
                let num = i128::from(t.num) * TICKS_PER_WHOLE;
                let den = i128::from(t.den);
                (2 * num + den).div_euclid(2 * den)
            }
            _ => {
                let x = (self.approx * TICKS_PER_WHOLE as f64).round();
                if x.is_nan() { 0 } else { x as i128 }
            }
        };
        ticks.clamp(0, i128::from(MAX_TICK)) as u32
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Microseconds per quarter note for a tempo (120 qpm if it is not a positive number), as a
/// 24-bit value.
fn micros_per_quarter(qpm: f64) -> u32 {
    let qpm = if qpm.is_finite() && qpm > 0.0 { qpm } else { DEFAULT_QPM };
    (60_000_000.0 / qpm).round().clamp(1.0, 16_777_215.0) as u32
}

/// Numerator and denominator power of two of the MIDI time signature of a meter (4/4 if none).
fn time_signature(meter: Option<Meter>) -> (u8, u8) {
    match meter {
        Some(Meter { num, den })
            if (1..=255).contains(&num)
                && den.is_power_of_two()
                && den.trailing_zeros() <= u32::from(MAX_DEN_POW) =>
        {
            (num as u8, den.trailing_zeros() as u8)
        }
        _ => (4, 2),
    }
}

/// Sharps (negative: flats) and minor flag of the MIDI key signature of a key.
fn key_signature(key: Key) -> (i8, bool) {
    (key.sharps().clamp(-7, 7) as i8, key.mode == Mode::Minor)
}

/// Appends a MIDI variable-length number (at most 2^28 − 1; larger values are clamped).
fn push_varlen(out: &mut Vec<u8>, value: u32) {
    let v = value.min(MAX_TICK);
    let mut started = false;
    for shift in [21u32, 14, 7] {
        let byte = ((v >> shift) & 0x7F) as u8;
        if byte != 0 || started {
            out.push(byte | 0x80);
            started = true;
        }
    }
    out.push((v & 0x7F) as u8);
}

/// Appends an event: its delta time, then its bytes.
fn push_event(out: &mut Vec<u8>, delta: u32, bytes: &[u8]) {
    push_varlen(out, delta);
    out.extend_from_slice(bytes);
}

/// Appends a meta event of type `kind` with the given data.
fn push_meta(out: &mut Vec<u8>, delta: u32, kind: u8, data: &[u8]) {
    push_event(out, delta, &[0xFF, kind]);
    push_varlen(out, u32::try_from(data.len()).unwrap_or(MAX_TICK));
    out.extend_from_slice(data);
}


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

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

use super::abc::{Event, Key, Meter, Mode, Rational, Tune};

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

// ---------------------------------------------------------------------------------------------
// Reader

/// Reads the melody of a standard MIDI file (format 0 or 1, metrical timing) as a [`Tune`].
///
/// * Melody: notes on MIDI channel 10 (the drum channel, index 9) are ignored. Each remaining
///   (track, channel) pair is a stream, and the stream with the most note-ons is the melody (the
///   first one in track and channel order on a tie). It is reduced to one voice by keeping, at
///   each onset, the highest note ("highest voice"); a note lasts until its note-off (a note-on
///   with velocity 0 counts as one) or the next onset of the stream, whichever comes first.
/// * Rhythm: onsets and ends are rounded to the nearest multiple of 1/48 of a whole note
///   ([`GRID`]; `ticks_per_quarter / 12` ticks, computed exactly for any ticks per quarter);
///   notes that round to nothing are dropped. Silence before a note becomes [`Event::Rest`]s
///   (split at bar lines), and so does silence after the last note up to the end of the melody's
///   track, at most to the end of that bar.
/// * Bars: [`Event::Bar`] goes between two events when the second starts at or after the next bar
///   line of the meter (bars are counted from time 0); a note that crosses a bar line stays one
///   event and the bar follows it. There is no bar before the first event or after the last.
/// * Header: meter from the first time signature (4/4 if none), key from the first key signature
///   (its sharps or flats and major/minor flag; C major if none), tempo from the first tempo
///   event (`tempo_qpm`, `None` if none), title from the first track name (`"MIDI"` if none);
///   "first" is earliest in time, then in track order, and later changes are ignored. The tune
///   number is 1, and the unit note length is the ABC default for the meter (1/16 below 3/4,
///   else 1/8).
///
/// Errors: not a MIDI file, truncated or malformed files, format 2 (sequential) files, SMPTE
/// time-code timing, files without notes outside the drum channel, a note or silence of more
/// than 1000 whole notes, more than 1 000 000 events. Never panics on any input.
pub fn read_midi(bytes: &[u8]) -> Result<Tune, MidiError> {
    let bytes = check_chunks(bytes)?;
    let smf = Smf::parse(bytes).map_err(|e| error(format!("malformed MIDI file: {e}")))?;
    if smf.header.format == Format::Sequential {
        return Err(error("type 2 (sequential) MIDI files are not supported"));
    }
    let tpq = match smf.header.timing {
        Timing::Metrical(t) => u64::from(t.as_int()),
        Timing::Timecode(..) => {
            return Err(error("SMPTE time code timing is not supported (only ticks per quarter note)"));
        }
    };
    if tpq == 0 {
        return Err(error("invalid MIDI header: 0 ticks per quarter note"));
    }
    let total: usize = smf.tracks.iter().map(Vec::len).sum();
    if total > MAX_EVENTS {
        return Err(error(format!("MIDI file has {total} events, more than the limit of {MAX_EVENTS}")));
    }

    let mut scan = scan(&smf.tracks);
    let mut best: Option<((usize, u8), usize)> = None;
    for (&id, stream) in &scan.streams {
        if stream.notes.len() > best.map_or(0, |b| b.1) {
            best = Some((id, stream.notes.len()));
        }
    }
    let Some((id, _)) = best else {
        return Err(if scan.drum_notes > 0 {
            error("no notes outside the drum channel (MIDI channel 10)")
        } else {
            error("no notes in the MIDI file")
        });
    };
    let notes = scan.streams.remove(&id).map(|s| s.notes).unwrap_or_default();
    let track_end = scan.track_ends.get(id.0).copied().unwrap_or(0);
    let melody = highest_voice(notes, track_end);

    let meter = scan.meter.map_or(DEFAULT_METER, |m| m.1);
    let events = quantise(&melody, track_end, tpq, meter)?;
    let unit = if meter.bar_length() < (Rational { num: 3, den: 4 }) {
        Rational { num: 1, den: 16 }
    } else {
        Rational { num: 1, den: 8 }
    };
    Ok(Tune {
        number: 1,
        title: scan.title.map_or_else(|| "MIDI".to_string(), |t| t.1),
        meter: Some(meter),
        unit,
        key: scan.key.map_or(DEFAULT_KEY, |k| k.1),
        tempo_qpm: scan.tempo.map(|t| (60_000_000.0 / f64::from(t.1)) as f32),
        events,
    })
}

/// Reads a big-endian `u32` at `at`.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Reads a big-endian `u16` at `at`.
fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

/// Checks the chunk structure of a standard MIDI file (`midly` silently accepts cut-off files)
/// and returns the bytes up to the end of its last complete chunk. RIFF-wrapped (RMID) files are
/// passed on unchecked.
fn check_chunks(bytes: &[u8]) -> Result<&[u8], MidiError> {
    if bytes.starts_with(b"RIFF") {
        return Ok(bytes);
    }
    if !bytes.starts_with(b"MThd") {
        return Err(error("not a MIDI file: missing MThd header"));
    }
    let truncated = |what: String| error(format!("truncated MIDI file: {what}"));
    let header_len = be_u32(bytes, 4).ok_or_else(|| truncated("the MThd header is cut short".into()))?;
    if header_len < 6 {
        return Err(error(format!("invalid MIDI file: MThd header of {header_len} bytes (expected 6)")));
    }
    let mut pos = usize::try_from(header_len)
        .ok()
        .and_then(|l| l.checked_add(8))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| truncated("the MThd header is cut short".into()))?;
    let declared = u32::from(be_u16(bytes, 10).unwrap_or(0));
    let mut found: u32 = 0;
    while pos < bytes.len() {
        let id = bytes.get(pos..pos.saturating_add(4));
        let end = be_u32(bytes, pos.saturating_add(4))
            .and_then(|len| usize::try_from(len).ok())
            .and_then(|len| pos.checked_add(8)?.checked_add(len))
            .filter(|&end| end <= bytes.len());
        let (Some(id), Some(end)) = (id, end) else {
            if found < declared {
                return Err(truncated(format!("track {} of {declared} is cut short", found + 1)));
            }
            break; // trailing bytes after the last track
        };
        if id == b"MTrk" {
            found += 1;
        }
        pos = end;
    }
    if found < declared {
        return Err(truncated(format!("the header declares {declared} tracks but only {found} are present")));
    }
    Ok(bytes.get(..pos).unwrap_or(bytes))
}

/// A note of a stream, in ticks; `end` is `u64::MAX` while it sounds.
#[derive(Clone, Copy, Debug)]
struct RawNote {
    start: u64,
    end: u64,
    key: u8,
}

/// The notes of one (track, channel) pair.
struct Stream {
    notes: Vec<RawNote>,
    /// Index in `notes` of the sounding note of each key.
    open: [Option<usize>; 128],
}

impl Stream {
    fn new() -> Stream {
        Stream { notes: Vec::new(), open: [None; 128] }
    }

    fn note_off(&mut self, key: u8, tick: u64) {
        if let Some(i) = self.open.get_mut(usize::from(key)).and_then(Option::take)
            && let Some(n) = self.notes.get_mut(i)
        {
            n.end = tick;
        }
    }

    /// A note-on; a key struck again while sounding ends the earlier note.
    fn note_on(&mut self, key: u8, tick: u64) {
        self.note_off(key, tick);
        if let Some(slot) = self.open.get_mut(usize::from(key)) {
            *slot = Some(self.notes.len());
        }
        self.notes.push(RawNote { start: tick, end: u64::MAX, key });
    }

    /// Ends every sounding note (at the end of the track).
    fn close_all(&mut self, tick: u64) {
        for slot in &mut self.open {
            if let Some(i) = slot.take()
                && let Some(n) = self.notes.get_mut(i)
            {
                n.end = tick;
            }
        }
    }
}

/// The earliest value of a meta event: (time in ticks, track index) and the value.
type First<T> = Option<((u64, usize), T)>;

fn keep_first<T>(slot: &mut First<T>, at: (u64, usize), value: T) {
    if slot.as_ref().is_none_or(|(earlier, _)| at < *earlier) {
        *slot = Some((at, value));
    }
}

/// What [`read_midi`] gathers from the tracks.
struct Scan {
    /// Streams by (track index, 0-based channel); only those with notes.
    streams: BTreeMap<(usize, u8), Stream>,
    /// The time of the last event of each track.
    track_ends: Vec<u64>,
    drum_notes: usize,
    title: First<String>,
    /// Microseconds per quarter note.
    tempo: First<u32>,
    meter: First<Meter>,
    key: First<Key>,
}

fn scan(tracks: &[midly::Track<'_>]) -> Scan {
    let mut scan = Scan {
        streams: BTreeMap::new(),
        track_ends: Vec::with_capacity(tracks.len()),
        drum_notes: 0,
        title: None,
        tempo: None,
        meter: None,
        key: None,
    };
    for (t, track) in tracks.iter().enumerate() {
        let mut tick: u64 = 0;
        for event in track {
            tick = tick.saturating_add(u64::from(event.delta.as_int()));
            let at = (tick, t);
            match event.kind {
                TrackEventKind::Midi { channel, message } => {
                    let channel = channel.as_int();
                    match message {
                        MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                            if channel == DRUM_CHANNEL {
                                scan.drum_notes += 1;
                            } else {
                                scan.streams
                                    .entry((t, channel))
                                    .or_insert_with(Stream::new)
                                    .note_on(key.as_int(), tick);
                            }
                        }
                        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                            if let Some(stream) = scan.streams.get_mut(&(t, channel)) {
                                stream.note_off(key.as_int(), tick);
                            }
                        }
                        _ => {}
                    }
                }
                TrackEventKind::Meta(meta) => match meta {
                    MetaMessage::TrackName(name) => {
                        let text = String::from_utf8_lossy(name);
                        let text = text.trim_matches(|c: char| c.is_whitespace() || c.is_control());
                        if !text.is_empty() {
                            keep_first(&mut scan.title, at, truncate_utf8(text, MAX_TITLE_BYTES).to_string());
                        }
                    }
                    MetaMessage::Tempo(micros) if micros.as_int() > 0 => {
                        keep_first(&mut scan.tempo, at, micros.as_int());
                    }
                    MetaMessage::TimeSignature(num, den_pow, _, _) if num > 0 && den_pow <= MAX_DEN_POW => {
                        keep_first(&mut scan.meter, at, Meter { num: u32::from(num), den: 1u32 << den_pow });
                    }
                    MetaMessage::KeySignature(sharps, minor) if (-7..=7).contains(&sharps) => {
                        keep_first(&mut scan.key, at, key_from_signature(sharps, minor));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        for (_, stream) in scan.streams.range_mut((t, 0)..=(t, u8::MAX)) {
            stream.close_all(tick);
        }
        scan.track_ends.push(tick);
    }
    scan
}

/// The key of a MIDI key signature: `sharps` sharps (negative: flats), major or minor.
fn key_from_signature(sharps: i8, minor: bool) -> Key {
    let major_tonic = (7 * i32::from(sharps)).rem_euclid(12);
    if minor {
        Key { tonic_pc: ((major_tonic + 9) % 12) as u8, mode: Mode::Minor }
    } else {
        Key { tonic_pc: major_tonic as u8, mode: Mode::Major }
    }
}

/// The highest voice of a stream: at each onset the highest note, lasting until its note-off,
/// the next onset or the end of the track, whichever comes first. Returns (start, end, key) in
/// ticks, in time order, not overlapping.
fn highest_voice(mut notes: Vec<RawNote>, track_end: u64) -> Vec<(u64, u64, u8)> {
    notes.sort_by_key(|n| (n.start, Reverse(n.key)));
    let groups: Vec<&[RawNote]> = notes.chunk_by(|a, b| a.start == b.start).collect();
    let mut melody = Vec::with_capacity(groups.len());
    for (i, group) in groups.iter().enumerate() {
        let Some(top) = group.first() else { continue };
        let next_onset = groups.get(i + 1).and_then(|g| g.first()).map_or(u64::MAX, |n| n.start);
        let end = top.end.min(next_onset).min(track_end);
        if end > top.start {
            melody.push((top.start, end, top.key));
        }
    }
    melody
}

/// Builds the events of the melody on the grid, in units of 1/(48·meter.den) whole note (so a
/// bar is a whole number of units).
struct Builder {
    /// Units per bar (48·meter.num).
    bar: u64,
    /// Units per whole note (48·meter.den).
    per_whole: u64,
    /// (start, event), in time order; no bar lines yet.
    items: Vec<(u64, Event)>,
}

impl Builder {
    fn push(&mut self, start: u64, event: Event) -> Result<(), MidiError> {
        if self.items.len() >= MAX_EVENTS {
            return Err(error(format!("melody has more than {MAX_EVENTS} events")));
        }
        self.items.push((start, event));
        Ok(())
    }

    fn duration(&self, units: u64) -> Result<Rational, MidiError> {
        i64::try_from(units)
            .ok()
            .zip(i64::try_from(self.per_whole).ok())
            .and_then(|(n, d)| Rational::new(n, d))
            .ok_or_else(|| error("time out of range"))
    }

    /// Rests from `from` to `to`, split at bar lines; `tick` names the place in errors.
    fn rest(&mut self, from: u64, to: u64, tick: u64) -> Result<(), MidiError> {
        if to.saturating_sub(from) > MAX_NOTE_WHOLES * self.per_whole {
            return Err(error(format!(
                "silence before tick {tick} lasts longer than {MAX_NOTE_WHOLES} whole notes"
            )));
        }
        let mut t = from;
        while t < to {
            let next_bar = (t / self.bar).saturating_add(1).saturating_mul(self.bar);
            let end = next_bar.min(to);
            let dur = self.duration(end - t)?;
            self.push(t, Event::Rest { dur })?;
            t = end;
        }
        Ok(())
    }
}

/// Quantises the melody (ticks) to the grid and returns its events, with rests and bar lines.
fn quantise(melody: &[(u64, u64, u8)], track_end: u64, tpq: u64, meter: Meter) -> Result<Vec<Event>, MidiError> {
    let den = u64::from(meter.den.max(1));
    let per_whole = GRID * den;
    let mut b = Builder { bar: (GRID * u64::from(meter.num)).max(1), per_whole, items: Vec::new() };
    // round(tick · 12 / tpq) grid steps (12 per quarter note), then units.
    let units = |tick: u64| -> Result<u64, MidiError> {
        let steps = (u128::from(tick) * 2 * (GRID as u128 / 4) + u128::from(tpq)) / (2 * u128::from(tpq));
        u64::try_from(steps)
            .ok()
            .and_then(|s| s.checked_mul(den))
            .ok_or_else(|| error(format!("time out of range at tick {tick}")))
    };

    let mut cursor = 0u64;
    let mut any_note = false;
    for &(start_tick, end_tick, key) in melody {
        let start = units(start_tick)?.max(cursor);
        let end = units(end_tick)?;
        if end <= start {
            continue;
        }
        if end - start > MAX_NOTE_WHOLES * per_whole {
            return Err(error(format!("note at tick {start_tick} lasts longer than {MAX_NOTE_WHOLES} whole notes")));
        }
        if start > cursor {
            b.rest(cursor, start, start_tick)?;
        }
        let dur = b.duration(end - start)?;
        b.push(start, Event::Note { pitch: key.min(127), dur })?;
        cursor = end;
        any_note = true;
    }
    if !any_note {
        return Err(error("no notes left after quantising to 1/48 of a whole note"));
    }
    let stop = units(track_end)?.min(cursor.div_ceil(b.bar).saturating_mul(b.bar));
    if stop > cursor {
        b.rest(cursor, stop, track_end)?;
    }

    let mut events = Vec::with_capacity(b.items.len() + b.items.len() / 4);
    let mut previous_bar: Option<u64> = None;
    for (start, event) in b.items {
        let bar = start / b.bar;
        if previous_bar.is_some_and(|p| bar > p) {
            events.push(Event::Bar);
        }
        events.push(event);
        previous_bar = Some(bar);
    }
    if events.len() > MAX_EVENTS {
        return Err(error(format!("melody has more than {MAX_EVENTS} events")));
    }
    Ok(events)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[cfg(test)]
mod tests {
    use super::*;
    use midly::num::{u4, u7, u15, u24, u28};
    use midly::{Fps, Header, TrackEvent};

    use super::super::abc::testing::*;

    fn tune(title: &str, meter: Meter, key: Key, events: Vec<Event>) -> Tune {
        Tune {
            number: 1,
            title: title.to_string(),
            meter: Some(meter),
            unit: r(1, 8),
            key,
            tempo_qpm: None,
            events,
        }
    }

    /// Writes and reads back a tune; checks events (without a final bar line), meter and key.
    fn round_trip(t: &Tune) -> Tune {
        let bytes = write_midi(t, 120.0, 0);
        let back = read_midi(&bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut want = t.events.clone();
        while want.last() == Some(&Event::Bar) {
            want.pop();
        }
        assert_eq!(back.events, want);
        assert_eq!(back.meter, Some(t.meter.unwrap_or(DEFAULT_METER)));
        assert_eq!(back.key, t.key);
        back
    }

    fn read_err(bytes: &[u8]) -> String {
        match read_midi(bytes) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn ev(delta: u32, kind: TrackEventKind<'static>) -> TrackEvent<'static> {
        TrackEvent { delta: u28::new(delta), kind }
    }

    fn on(channel: u8, key: u8, vel: u8) -> TrackEventKind<'static> {
        TrackEventKind::Midi {
            channel: u4::new(channel),
            message: MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(vel) },
        }
    }

    fn off(channel: u8, key: u8) -> TrackEventKind<'static> {
        TrackEventKind::Midi {
            channel: u4::new(channel),
            message: MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(64) },
        }
    }

    fn end_of_track() -> TrackEventKind<'static> {
        TrackEventKind::Meta(MetaMessage::EndOfTrack)
    }

    /// A MIDI file written with midly.
    fn smf_bytes(format: Format, timing: Timing, tracks: Vec<Vec<TrackEvent<'static>>>) -> Vec<u8> {
        let mut smf = Smf::new(Header::new(format, timing));
        smf.tracks = tracks;
        let mut out = Vec::new();
        smf.write_std(&mut out).unwrap();
        out
    }

    fn metrical(tpq: u16) -> Timing {
        Timing::Metrical(u15::new(tpq))
    }

    #[test]
    fn round_trip_six_eight_in_g() {
        let g_major = Key { tonic_pc: 7, mode: Mode::Major };
        let t = tune(
            "Six Eight",
            Meter { num: 6, den: 8 },
            g_major,
            vec![
                rest(1, 4),
                note(67, 1, 8),
                note(71, 3, 8),
                BAR,
                note(74, 3, 16),
                note(72, 1, 16),
                note(71, 1, 8),
                rest(1, 8),
                note(69, 1, 8),
                // Crosses the bar line: one note, then the bar.
                note(67, 1, 4),
                BAR,
                note(66, 1, 8),
                note(64, 1, 8),
                note(62, 3, 8),
                BAR,
                note(67, 3, 4),
                BAR,
                note(79, 1, 8),
                rest(5, 8),
            ],
        );
        let back = round_trip(&t);
        assert_eq!(back.title, "Six Eight");
        assert_eq!(back.number, 1);
        assert_eq!(back.tempo_qpm, Some(120.0));
        assert_eq!(back.unit, r(1, 8));
        // Repeated notes of the same pitch stay separate.
        let t = tune("", DEFAULT_METER, DEFAULT_KEY, vec![note(60, 1, 4), note(60, 1, 4), note(60, 1, 2)]);
        let back = round_trip(&t);
        assert_eq!(back.title, "MIDI");
    }

    #[test]
    fn round_trip_triplets_in_a_minor() {
        let a_minor = Key { tonic_pc: 9, mode: Mode::Minor };
        let t = tune(
            "Triplets",
            Meter { num: 4, den: 4 },
            a_minor,
            vec![
                note(69, 1, 12),
                note(71, 1, 12),
                note(72, 1, 12),
                note(76, 1, 4),
                note(74, 1, 6),
                note(72, 1, 6),
                note(71, 1, 6),
                BAR,
                rest(1, 12),
                note(64, 1, 12),
                note(69, 1, 12),
                note(69, 3, 4),
            ],
        );
        round_trip(&t);
        // Other keys and modes: the signature survives (modes come back as major or minor).
        for (tonic_pc, mode) in [(2, Mode::Major), (3, Mode::Major), (6, Mode::Minor), (0, Mode::Minor), (11, Mode::Major)] {
            let key = Key { tonic_pc, mode };
            round_trip(&tune("k", DEFAULT_METER, key, vec![note(60, 1, 4)]));
        }
        let dorian = tune("k", DEFAULT_METER, Key { tonic_pc: 2, mode: Mode::Dorian }, vec![note(62, 1, 4)]);
        let back = read_midi(&write_midi(&dorian, 90.0, 0)).unwrap();
        assert_eq!(back.key, DEFAULT_KEY);
        assert_eq!(back.key.signature(), dorian.key.signature());
    }

    #[test]
    fn round_trip_abc_jig() {
        let text = "X:7\nT:Test Jig\nM:6/8\nL:1/8\nK:D\n\
                    |: DFA dAF | GBd gfe | dcB A2F | E3 z3 :|\n\
                    |: fdf ace | d2B AFA |1 B3 z3 :|2 d3 d3 |]\n";
        let t = super::super::abc::parse_tune(text).unwrap();
        assert!(t.events.contains(&rest(3, 8)));
        let back = round_trip(&t);
        assert_eq!(back.title, "Test Jig");
        assert_eq!(back.key, Key { tonic_pc: 2, mode: Mode::Major });
        // A tune without a meter is written (and read) as 4/4.
        let mut free = t.clone();
        free.meter = None;
        let back = read_midi(&write_midi(&free, 100.0, 0)).unwrap();
        assert_eq!(back.meter, Some(DEFAULT_METER));
        assert_eq!(back.unit, r(1, 8));
    }

    #[test]
    fn written_file_has_the_expected_events() {
        let t = tune(
            "Meta",
            Meter { num: 6, den: 8 },
            Key { tonic_pc: 4, mode: Mode::Minor },
            vec![note(64, 3, 8), note(66, 3, 8), BAR, note(67, 3, 4)],
        );
        let bytes = write_midi(&t, 90.0, 40);
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.header, Header::new(Format::SingleTrack, metrical(480)));
        assert_eq!(smf.tracks.len(), 1);
        let kinds: Vec<TrackEventKind> = smf.tracks[0].iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&TrackEventKind::Meta(MetaMessage::TrackName(b"Meta"))));
        assert!(kinds.contains(&TrackEventKind::Meta(MetaMessage::Tempo(u24::new(666_667)))));
        assert!(kinds.contains(&TrackEventKind::Meta(MetaMessage::TimeSignature(6, 3, 24, 8))));
        assert!(kinds.contains(&TrackEventKind::Meta(MetaMessage::KeySignature(1, true))));
        assert!(kinds.contains(&TrackEventKind::Midi {
            channel: u4::new(0),
            message: MidiMessage::ProgramChange { program: u7::new(40) }
        }));
        assert_eq!(kinds.last(), Some(&end_of_track()));
        // Note-ons: accented on the first note of each bar; exact tick times.
        let mut tick = 0u32;
        let mut ons = Vec::new();
        for e in &smf.tracks[0] {
            tick += e.delta.as_int();
            if let TrackEventKind::Midi { message: MidiMessage::NoteOn { key, vel }, .. } = e.kind {
                ons.push((tick, key.as_int(), vel.as_int()));
            }
        }
        assert_eq!(ons, vec![(0, 64, 100), (720, 66, 90), (1440, 67, 100)]);
        assert_eq!(tick, 2880);
        // Durations that are not multiples of a tick do not drift: 1/7 whole notes.
        let sevenths = tune("", DEFAULT_METER, DEFAULT_KEY, vec![note(60, 1, 7); 70]);
        let smf_bytes = write_midi(&sevenths, 120.0, 0);
        let smf = Smf::parse(&smf_bytes).unwrap();
        let total: u32 = smf.tracks[0].iter().map(|e| e.delta.as_int()).sum();
        assert_eq!(total, 1920 * 10);
    }

    #[test]
    fn polyphony_reads_as_the_highest_voice() {
        let conductor = vec![
            ev(0, TrackEventKind::Meta(MetaMessage::TrackName(b"Poly"))),
            ev(0, TrackEventKind::Meta(MetaMessage::Tempo(u24::new(600_000)))),
            ev(0, TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, 24, 8))),
            ev(0, end_of_track()),
        ];
        let melody = vec![
            ev(0, on(0, 60, 80)),
            ev(0, on(0, 64, 80)),
            ev(96, off(0, 60)),
            ev(0, on(0, 64, 0)), // note-on with velocity 0: a note-off
            ev(0, on(0, 67, 80)),
            ev(0, on(0, 48, 80)), // a lower note at the same onset: dropped
            ev(48, off(0, 67)),
            ev(48, on(0, 65, 80)),
            ev(96, off(0, 65)),
            ev(0, off(0, 48)),
            ev(0, end_of_track()),
        ];
        // More drum notes than melody notes, and a bass line with fewer notes: both ignored.
        let mut others = vec![ev(0, on(1, 40, 80))];
        for _ in 0..10 {
            others.push(ev(0, on(9, 36, 100)));
            others.push(ev(24, off(9, 36)));
        }
        others.push(ev(48, off(1, 40)));
        others.push(ev(0, end_of_track()));
        let bytes = smf_bytes(Format::Parallel, metrical(96), vec![conductor, melody, others]);
        let t = read_midi(&bytes).unwrap();
        assert_eq!(t.events, vec![note(64, 1, 4), note(67, 1, 8), rest(1, 8), note(65, 1, 4)]);
        assert_eq!(t.meter, Some(Meter { num: 3, den: 4 }));
        assert_eq!(t.title, "Poly");
        assert_eq!(t.tempo_qpm, Some(100.0));
        assert_eq!(t.key, DEFAULT_KEY);
        assert_eq!(t.unit, r(1, 8));
    }

    #[test]
    fn quantises_to_the_grid() {
        // 96 ticks per quarter: the grid is 8 ticks.
        let track = vec![
            ev(2, on(0, 60, 80)),  // 2..46 → 0..6 steps
            ev(44, off(0, 60)),
            ev(4, on(0, 62, 80)),  // 50..95 → 6..12
            ev(45, off(0, 62)),
            ev(1, on(0, 64, 80)),  // 96..97 → 12..12: dropped
            ev(1, off(0, 64)),
            ev(95, on(0, 65, 80)), // 192..288 → 24..36
            ev(96, off(0, 65)),
            ev(0, end_of_track()),
        ];
        let bytes = smf_bytes(Format::SingleTrack, metrical(96), vec![track]);
        let t = read_midi(&bytes).unwrap();
        assert_eq!(t.events, vec![note(60, 1, 8), note(62, 1, 8), rest(1, 4), note(65, 1, 4)]);
        assert_eq!(t.title, "MIDI");
        assert_eq!(t.tempo_qpm, None);
        assert_eq!(t.meter, Some(DEFAULT_METER));
        // Odd ticks per quarter: 1/48 of a whole note is 25/12 ticks at 25 ticks per quarter.
        let track = vec![
            ev(0, on(0, 60, 80)),
            ev(25, off(0, 60)),
            ev(0, on(0, 62, 80)),
            ev(8, off(0, 62)), // 1/12 of a whole note ≈ 8.33 ticks
            ev(0, end_of_track()),
        ];
        let bytes = smf_bytes(Format::SingleTrack, metrical(25), vec![track]);
        assert_eq!(read_midi(&bytes).unwrap().events, vec![note(60, 1, 4), note(62, 1, 12)]);
        // A long silence is split at bar lines, and a note stops at the next onset.
        let track = vec![
            ev(0, on(0, 60, 80)),
            ev(96, on(0, 62, 80)), // 60 is never released
            ev(48, off(0, 62)),
            ev(672, on(0, 64, 80)), // tick 816: 1/8 into the third bar
            ev(96, off(0, 64)),
            ev(0, off(0, 60)),
            ev(0, end_of_track()),
        ];
        let bytes = smf_bytes(Format::SingleTrack, metrical(96), vec![track]);
        assert_eq!(
            read_midi(&bytes).unwrap().events,
            vec![note(60, 1, 4), note(62, 1, 8), rest(5, 8), BAR, rest(1, 1), BAR, rest(1, 8), note(64, 1, 4)]
        );
    }

    #[test]
    fn rejects_bad_files() {
        assert!(read_err(&[]).contains("not a MIDI file"));
        assert!(read_err(b"MTh").contains("not a MIDI file"));
        // Pseudo-random bytes.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u8> = (0..500)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        assert!(!random.starts_with(b"MThd") && !random.starts_with(b"RIFF"));
        assert!(read_err(&random).contains("not a MIDI file"));
        // Truncated: every proper prefix of a valid file is an error.
        let t = tune("Cut", DEFAULT_METER, DEFAULT_KEY, vec![note(60, 1, 4), note(62, 1, 4), note(64, 1, 2)]);
        let bytes = write_midi(&t, 120.0, 0);
        assert!(read_err(bytes.get(..bytes.len() / 2).unwrap()).contains("truncated MIDI file"));
        for cut in 4..bytes.len() {
            let e = read_err(bytes.get(..cut).unwrap());
            assert!(e.contains("truncated"), "{cut}: {e}");
        }
        // Trailing bytes after the last track are ignored.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(read_midi(&padded).unwrap().events, t.events);
        // Type 2.
        let track = vec![ev(0, on(0, 60, 80)), ev(96, off(0, 60)), ev(0, end_of_track())];
        let bytes = smf_bytes(Format::Sequential, metrical(96), vec![track.clone()]);
        assert_eq!(read_err(&bytes), "type 2 (sequential) MIDI files are not supported");
        // SMPTE timing.
        let bytes = smf_bytes(Format::SingleTrack, Timing::Timecode(Fps::Fps25, 40), vec![track]);
        assert!(read_err(&bytes).contains("SMPTE"));
        // Only drums.
        let drums = vec![ev(0, on(9, 36, 100)), ev(96, off(9, 36)), ev(0, on(9, 38, 100)), ev(96, off(9, 38))];
        let bytes = smf_bytes(Format::SingleTrack, metrical(96), vec![drums]);
        assert!(read_err(&bytes).contains("no notes outside the drum channel"));
        // No notes at all.
        let bytes = smf_bytes(Format::SingleTrack, metrical(96), vec![vec![ev(0, end_of_track())]]);
        assert!(read_err(&bytes).contains("no notes"));
        // A note of 1250 whole notes.
        let long = vec![ev(0, on(0, 60, 80)), ev(5000, off(0, 60)), ev(0, end_of_track())];
        let bytes = smf_bytes(Format::SingleTrack, metrical(1), vec![long]);
        assert_eq!(read_err(&bytes), "note at tick 0 lasts longer than 1000 whole notes");
        // A silence of 1250 whole notes.
        let late = vec![ev(5000, on(0, 60, 80)), ev(1, off(0, 60)), ev(0, end_of_track())];
        let bytes = smf_bytes(Format::SingleTrack, metrical(1), vec![late]);
        assert!(read_err(&bytes).contains("silence before tick 5000"));
        // Zero ticks per quarter note.
        let mut bytes = write_midi(&t, 120.0, 0);
        if let Some(b) = bytes.get_mut(12..14) {
            b.copy_from_slice(&[0, 0]);
        }
        assert!(read_err(&bytes).contains("0 ticks per quarter"));
    }

    #[test]
    fn never_panics_on_damaged_files() {
        let t = super::super::abc::parse_tune(
            "X:1\nT:Damage\nM:3/4\nL:1/8\nK:Bb\nB2 d2 f2 | (3gfe d2 c2 | B6 | z2 F4 |\n",
        )
        .unwrap();
        let bytes = write_midi(&t, 120.0, 0);
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let mut read = 0;
        for _ in 0..3000 {
            let mut damaged = bytes.clone();
            for _ in 0..(1 + next() % 4) {
                let at = next() % damaged.len();
                if let Some(b) = damaged.get_mut(at) {
                    *b = (next() % 256) as u8;
                }
            }
            if let Ok(back) = read_midi(&damaged) {
                read += 1;
                assert!(back.events.iter().any(|e| matches!(e, Event::Note { .. })));
                assert!(back.events.first() != Some(&Event::Bar) && back.events.last() != Some(&Event::Bar));
            }
        }
        assert!(read > 100, "{read}");
    }

    #[test]
    fn writer_survives_odd_tunes() {
        // Non-positive and unreduced durations, out-of-range pitch, empty tune, absurd lengths.
        let t = tune(
            "Odd",
            Meter { num: 256, den: 3 },
            Key { tonic_pc: 1, mode: Mode::Locrian },
            vec![
                Event::Note { pitch: 200, dur: Rational { num: -1, den: -4 } },
                Event::Note { pitch: 60, dur: Rational { num: 0, den: 1 } },
                Event::Rest { dur: Rational { num: 1, den: 0 } },
                Event::Note { pitch: 62, dur: Rational { num: -1, den: 4 } },
                note(64, 1, 4),
            ],
        );
        let back = read_midi(&write_midi(&t, f64::NAN, 255)).unwrap();
        assert_eq!(back.events, vec![note(127, 1, 4), note(64, 1, 4)]);
        assert_eq!(back.meter, Some(DEFAULT_METER));
        assert_eq!(back.tempo_qpm, Some(120.0));
        let empty = tune("Empty", DEFAULT_METER, DEFAULT_KEY, vec![]);
        assert!(read_err(&write_midi(&empty, 120.0, 0)).contains("no notes"));
        let huge = tune(
            "Huge",
            DEFAULT_METER,
            DEFAULT_KEY,
            vec![note(60, i64::MAX, 1), note(62, 1, i64::MAX), note(64, i64::MAX - 1, 3)],
        );
        let bytes = write_midi(&huge, 1e-300, 0);
        assert!(read_midi(&bytes).is_err());
    }
}

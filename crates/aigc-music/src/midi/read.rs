//! Reading a monophonic melody out of a MIDI file.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

use super::*;

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


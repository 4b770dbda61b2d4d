use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};
use super::*;
use midly::num::{u4, u7, u15, u24, u28};
use midly::{Fps, Header, TrackEvent};

use crate::abc::testing::*;

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
    let t = crate::abc::parse_tune(text).unwrap();
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
    let t = crate::abc::parse_tune(
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

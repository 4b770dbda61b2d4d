//! Melodies as event tokens (MelodyRNN/folk-rnn style), the vocabulary models are trained on.
//!
//! A tune is `<tune> K:<key> M:<meter>` followed by its events and `</tune>`: a note is two
//! tokens, its pitch `P<midi>` and its duration `D<n>/<d>` (in whole notes); a rest is `rest`
//! and a duration; a bar line is `|`. The key token names the tonic's pitch class and one of four
//! modes (major, minor, dorian, mixolydian; lydian counts as major, phrygian and locrian as
//! minor), so a model can be asked for a tune in a key and meter. Pitches (all 128 MIDI numbers),
//! keys and the special tokens are fixed; meters and durations are those of the training data
//! (durations on a 1/96-whole-note grid, up to four whole notes), and the vocabulary is saved with
//! every run (`vocab.json`).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::tune::{Event, Key, Meter, Mode, Rational, Tune};

pub const TUNE_START: &str = "<tune>";
pub const TUNE_END: &str = "</tune>";
pub const BAR: &str = "|";
pub const REST: &str = "rest";
const PITCH_NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const MODES: [(Mode, &str); 4] = [(Mode::Major, ""), (Mode::Minor, "m"), (Mode::Dorian, "dor"), (Mode::Mixolydian, "mix")];
/// Durations are multiples of a 96th of a whole note (so 1/32, 1/24 triplets and 1/48 all fit).
const GRID: i64 = 96;
const MAX_DURATION: i64 = 4;

/// The key a model is conditioned on: the tonic and the nearest of the four modes.
pub fn key_class(key: Key) -> Key {
    let mode = match key.mode {
        Mode::Major | Mode::Lydian | Mode::NoSignature => Mode::Major,
        Mode::Minor | Mode::Phrygian | Mode::Locrian => Mode::Minor,
        m => m,
    };
    let tonic_pc = if key.mode == Mode::NoSignature { 0 } else { key.tonic_pc % 12 };
    Key { tonic_pc, mode }
}

pub fn key_token(key: Key) -> String {
    let k = key_class(key);
    let suffix = MODES.iter().find(|(m, _)| *m == k.mode).map_or("", |(_, s)| s);
    format!("K:{}{}", PITCH_NAMES[k.tonic_pc as usize], suffix)
}

pub fn meter_token(meter: Meter) -> String {
    format!("M:{}/{}", meter.num, meter.den)
}

pub fn pitch_token(pitch: u8) -> String {
    format!("P{pitch}")
}

/// `D<n>/<d>`, or `None` for a duration off the 1/96 grid or longer than four whole notes.
pub fn duration_token(dur: Rational) -> Option<String> {
    let units = grid_units(dur)?;
    let r = Rational::new(units, GRID)?;
    Some(format!("D{}/{}", r.num, r.den))
}

/// A duration in 96ths of a whole note, when it is a positive multiple of that within the limit.
pub fn grid_units(dur: Rational) -> Option<i64> {
    let scaled = dur.num.checked_mul(GRID)?;
    (dur.is_positive() && scaled % dur.den == 0 && scaled / dur.den <= MAX_DURATION * GRID).then(|| scaled / dur.den)
}

/// The token vocabulary of a model (token id = index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MusicVocab {
    pub tokens: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

/// What a token means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    TuneStart,
    TuneEnd,
    Bar,
    Rest,
    Key(Key),
    Meter(Meter),
    Pitch(u8),
    /// A duration in 96ths of a whole note.
    Duration(i64),
}

impl MusicVocab {
    /// The fixed tokens plus the meters and durations of `tunes` (those tokenisable).
    pub fn from_tunes<'a>(tunes: impl IntoIterator<Item = &'a Tune>) -> Self {
        let mut meters = BTreeSet::new();
        let mut durations = BTreeSet::new();
        for tune in tunes {
            if let Some(m) = tune.meter {
                meters.insert((m.num, m.den));
            }
            for e in &tune.events {
                if let Some(units) = (!matches!(e, Event::Bar)).then(|| grid_units(e.duration())).flatten() {
                    durations.insert(units);
                }
            }
        }
        let mut tokens: Vec<String> = [TUNE_START, TUNE_END, BAR, REST].iter().map(|s| s.to_string()).collect();
        for pc in 0..12u8 {
            for (mode, _) in MODES {
                tokens.push(key_token(Key { tonic_pc: pc, mode }));
            }
        }
        tokens.extend(meters.into_iter().map(|(num, den)| meter_token(Meter { num, den })));
        tokens.extend((0..=127u8).map(pitch_token));
        tokens.extend(durations.into_iter().filter_map(|u| Rational::new(u, GRID).and_then(duration_token)));
        Self::from_tokens(tokens)
    }

    fn from_tokens(tokens: Vec<String>) -> Self {
        let index = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Self { tokens, index }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// The id of a token every vocabulary has.
    pub fn fixed(&self, token: &str) -> u32 {
        self.id(token).unwrap_or_else(|| panic!("every music vocabulary has the token {token:?}"))
    }

    pub fn kind(&self, id: u32) -> Option<TokenKind> {
        let t = self.tokens.get(id as usize)?;
        Some(match t.as_str() {
            TUNE_START => TokenKind::TuneStart,
            TUNE_END => TokenKind::TuneEnd,
            BAR => TokenKind::Bar,
            REST => TokenKind::Rest,
            _ => {
                if let Some(p) = t.strip_prefix('P') {
                    TokenKind::Pitch(p.parse().ok()?)
                } else if let Some(d) = t.strip_prefix('D') {
                    let (n, dd) = d.split_once('/')?;
                    TokenKind::Duration(grid_units(Rational::new(n.parse().ok()?, dd.parse().ok()?)?)?)
                } else if let Some(m) = t.strip_prefix("M:") {
                    let (n, d) = m.split_once('/')?;
                    TokenKind::Meter(Meter { num: n.parse().ok()?, den: d.parse().ok()? })
                } else if let Some(k) = t.strip_prefix("K:") {
                    let (pc, mode) = (0..12u8)
                        .rev()
                        .find_map(|pc| k.strip_prefix(PITCH_NAMES[pc as usize]).map(|rest| (pc, rest)))
                        .filter(|(pc, rest)| !(PITCH_NAMES[*pc as usize].len() == 1 && rest.starts_with('#')))?;
                    let mode = MODES.iter().find(|(_, s)| *s == mode)?.0;
                    TokenKind::Key(Key { tonic_pc: pc, mode })
                } else {
                    return None;
                }
            }
        })
    }

    /// Token ids of a tune, or why it cannot be written in this vocabulary.
    pub fn encode(&self, tune: &Tune) -> std::result::Result<Vec<u32>, String> {
        let meter = tune.meter.ok_or("no meter (M:none or free meter)")?;
        let meter_id = self.id(&meter_token(meter)).ok_or_else(|| format!("meter {}/{} is not in the vocabulary", meter.num, meter.den))?;
        let mut ids = vec![self.fixed(TUNE_START), self.fixed(&key_token(tune.key)), meter_id];
        for e in &tune.events {
            match e {
                Event::Bar => ids.push(self.fixed(BAR)),
                Event::Note { pitch, dur } => {
                    ids.push(self.fixed(&pitch_token(*pitch)));
                    ids.push(self.duration_id(*dur)?);
                }
                Event::Rest { dur } => {
                    ids.push(self.fixed(REST));
                    ids.push(self.duration_id(*dur)?);
                }
            }
        }
        ids.push(self.fixed(TUNE_END));
        Ok(ids)
    }

    fn duration_id(&self, dur: Rational) -> std::result::Result<u32, String> {
        duration_token(dur).and_then(|t| self.id(&t)).ok_or_else(|| format!("duration {dur} (whole notes) is not in the vocabulary"))
    }

    /// The tune a token sequence spells (`<tune> K M events [</tune>]`), for generated sequences:
    /// tokens out of place are an error.
    pub fn decode(&self, ids: &[u32], title: &str) -> Result<Tune, String> {
        let bad = |i: usize, what: &str| format!("token {i} ({:?}): {what}", ids.get(i).map(|&t| self.tokens.get(t as usize)));
        let (Some(TokenKind::TuneStart), Some(TokenKind::Key(key)), Some(TokenKind::Meter(meter))) =
            (ids.first().and_then(|&t| self.kind(t)), ids.get(1).and_then(|&t| self.kind(t)), ids.get(2).and_then(|&t| self.kind(t)))
        else {
            return Err(bad(0, "a tune starts with <tune>, a key and a meter"));
        };
        let mut events = Vec::new();
        let mut i = 3;
        while i < ids.len() {
            match self.kind(ids[i]) {
                Some(TokenKind::Bar) => events.push(Event::Bar),
                Some(TokenKind::TuneEnd) => break,
                Some(head @ (TokenKind::Pitch(_) | TokenKind::Rest)) => {
                    let Some(TokenKind::Duration(units)) = ids.get(i + 1).and_then(|&t| self.kind(t)) else {
                        return Err(bad(i + 1, "a note or rest is followed by its duration"));
                    };
                    let dur = Rational::new(units, GRID).ok_or_else(|| bad(i + 1, "bad duration"))?;
                    events.push(match head {
                        TokenKind::Pitch(pitch) => Event::Note { pitch, dur },
                        _ => Event::Rest { dur },
                    });
                    i += 1;
                }
                _ => return Err(bad(i, "expected a note, a rest, a bar line or </tune>")),
            }
            i += 1;
        }
        Ok(Tune {
            number: 1,
            title: title.into(),
            meter: Some(meter),
            unit: Rational::new(1, 8).unwrap_or(Rational::ZERO),
            key,
            tempo_qpm: None,
            events,
        })
    }

    /// The vocabulary as JSON (the list of tokens; a run's `vocab.json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.tokens).expect("a list of strings serialises")
    }

    /// Reads [`to_json`](Self::to_json)'s output; the error says what is wrong with it.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let tokens: Vec<String> = serde_json::from_str(text).map_err(|e| format!("not a music vocabulary: {e}"))?;
        let vocab = Self::from_tokens(tokens);
        if vocab.index.len() != vocab.len() || [TUNE_START, TUNE_END, BAR, REST].iter().any(|t| vocab.id(t).is_none()) {
            return Err("a music vocabulary lists distinct tokens including <tune>, </tune>, | and rest".into());
        }
        Ok(vocab)
    }
}

/// `tune` moved by `semitones` (pitches and key), or `None` when a note would leave MIDI's range.
pub fn transpose(tune: &Tune, semitones: i32) -> Option<Tune> {
    let mut out = tune.clone();
    for e in &mut out.events {
        if let Event::Note { pitch, .. } = e {
            *pitch = u8::try_from(*pitch as i32 + semitones).ok().filter(|p| *p <= 127)?;
        }
    }
    out.key.tonic_pc = ((tune.key.tonic_pc as i32 + semitones).rem_euclid(12)) as u8;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abc::parse_tune;

    #[test]
    fn tokens_round_trip_and_name_their_meaning() {
        let tune = parse_tune("X:1\nT:t\nM:6/8\nL:1/8\nK:Ador\n|:e2A A2B|c3 z (3Bcd|e>f g2-g/a/:|\n").unwrap();
        let vocab = MusicVocab::from_tunes([&tune]);
        let ids = vocab.encode(&tune).unwrap();
        assert_eq!(vocab.tokens[ids[1] as usize], "K:Ador");
        assert_eq!(vocab.tokens[ids[2] as usize], "M:6/8");
        let back = vocab.decode(&ids, "t").unwrap();
        assert_eq!(back.events, tune.events);
        assert_eq!((back.meter, key_class(back.key)), (tune.meter, key_class(tune.key)));
        for id in 0..vocab.len() as u32 {
            assert!(vocab.kind(id).is_some(), "token {:?} has a meaning", vocab.tokens[id as usize]);
        }
        assert_eq!(vocab.kind(vocab.fixed("K:C#m")), Some(TokenKind::Key(Key { tonic_pc: 1, mode: Mode::Minor })));
        let up = transpose(&tune, 3).unwrap();
        assert_eq!(key_token(up.key), "K:Cdor");
        assert!(transpose(&tune, 100).is_none());
    }
}

//! A dependency-free parser and writer for the melody subset of ABC notation (standard 2.1) that
//! folk-tune collections use (O'Neill's Music of Ireland, the Essen folk-song collection, ...).
//!
//! [`parse_tune`] reads one tune and [`parse_collection`] a whole file of tunes into [`Tune`]s:
//! the header (`X:` number, first `T:` title, `M:` meter, `L:` unit note length, `K:` key, `Q:`
//! tempo) and the *performed* melody as a flat list of [`Event`]s — notes as MIDI pitches with exact
//! durations in whole notes ([`Rational`]), rests and bar lines, with repeats and first/second
//! endings played out, ties merged, chords reduced to their highest note, and grace notes,
//! decorations, slurs, chord symbols and annotations dropped. [`write_abc`] turns a tune back
//! into ABC text that parses to the same events.
//!
//! Supported in the tune body: notes `A`–`G`, `a`–`g` with accidentals `^ ^^ _ __ =`, octave marks
//! `'` and `,`; lengths `A2 A/2 A/ A// A3/2`; rests `z`, invisible rests `x`, whole-measure rests
//! `Z`/`X` (optionally `Z4`); ties `-`; bar lines `| || |] [| .|`; repeats `|: :| :: :|:` with
//! endings `[1 |1 :|2 [1,3 [1-2`; tuplets `(3` and `(p:q:r`; broken rhythm `> < >> <<`; chords
//! `[CEG]` and abc-1.6 `+CEG+`; grace notes `{..}`; decorations `!..!`, `+..+`, `~ . H`–`W`,
//! `h`–`w`; chord symbols and annotations `".."`; inline fields `[K:..] [M:..] [L:..] [Q:..]` (and
//! other inline fields, ignored); field lines in the body (`K: M: L:` take effect, others are
//! ignored); comments `%` and directives `%%`; line continuation `\`; a single voice `V:`.
//!
//! Not supported (the tune is rejected with an [`AbcError`]): several voices (`V:` with a second
//! voice, `&` overlays), microtonal accidentals (`^/`); unknown characters. Ignored: `P:` part
//! orders (the tune is played as written), file-header fields of a collection, `U:` redefinitions
//! (every `H`–`W`/`h`–`w` letter counts as a decoration), the clef/octave/transpose options of `K:`.
//!
//! Conventions: `C` is middle C, MIDI 60 (`c` = 72, `c'` = 84, `C,` = 48). An accidental holds for
//! the rest of the bar for notes of the same letter in the same octave; a note tied over a bar
//! line keeps the tied note's accidental. `K:HP` and `K:Hp` (Highland bagpipe) are read as
//! A mixolydian (F♯ and C♯), `K:none` as no key signature.


mod body;
mod perform;
mod write;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::tune::{LETTER_FIFTHS, LETTERS_UPPER, NATURAL_PC, signature_from_sharps};

pub use crate::tune::{Event, Key, Meter, Mode, Rational, Tune};
pub use write::write_abc;
use body::*;
use perform::*;

/// Why a tune could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbcError {
    /// The tune's `X:` number, if it was read.
    pub tune: Option<u32>,
    /// 1-based line number in the text given to [`parse_tune`] or [`parse_collection`].
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AbcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tune {
            Some(n) => write!(f, "tune X:{}, line {}: {}", n, self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl std::error::Error for AbcError {}

/// A tune of a collection that [`parse_collection`] left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// The tune's `X:` number (0 if it could not be read).
    pub number: u32,
    /// 1-based line number in the collection where the problem is.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tune X:{}, line {}: {}", self.number, self.line, self.reason)
    }
}

// ---------------------------------------------------------------------------------------------
// Limits

/// Largest number written in a note length (`A10000`), and largest denominator (`A/10000`).
const MAX_LENGTH_NUM: i64 = 10_000;
const MAX_LENGTH_DEN: i64 = 10_000;
/// Most events of a performed tune (repeats played out).
const MAX_EVENTS: usize = 200_000;
/// Highest ending number (`[1`, `[2`, ...).
const MAX_ENDING: u32 = 16;

// ---------------------------------------------------------------------------------------------
// Entry points

/// Parses one tune. The text must start (after blank and `%` comment lines) with an `X:` line; the
/// tune ends at the first empty line (or the next `X:` line), and anything after it is ignored.
pub fn parse_tune(text: &str) -> Result<Tune, AbcError> {
    let lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect();
    let mut i = 0;
    while let Some((_, l)) = lines.get(i) {
        if l.trim().is_empty() || l.starts_with('%') {
            i += 1;
        } else {
            break;
        }
    }
    match lines.get(i) {
        Some((_, l)) if is_x_line(l) => {}
        Some((n, _)) => {
            return Err(AbcError { tune: None, line: *n, message: "missing X: field".into() });
        }
        None => {
            let line = lines.len().max(1);
            return Err(AbcError { tune: None, line, message: "empty tune (no X: field)".into() });
        }
    }
    let end = tune_end(&lines, i);
    parse_lines(lines.get(i..end).unwrap_or(&[]))
}

/// Parses every tune of a collection (tunes start with `X:` and end at an empty line). Tunes that
/// cannot be read are reported as [`Skip`]s; text outside tunes is ignored.
pub fn parse_collection(text: &str) -> (Vec<Tune>, Vec<Skip>) {
    let lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect();
    let (mut tunes, mut skips) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        if !lines.get(i).is_some_and(|(_, l)| is_x_line(l)) {
            i += 1;
            continue;
        }
        let end = tune_end(&lines, i);
        match parse_lines(lines.get(i..end).unwrap_or(&[])) {
            Ok(t) => tunes.push(t),
            Err(e) => skips.push(Skip { number: e.tune.unwrap_or(0), line: e.line, reason: e.message }),
        }
        i = end.max(i + 1);
    }
    (tunes, skips)
}

fn is_x_line(l: &str) -> bool {
    l.starts_with("X:")
}

/// Index one past the last line of the tune starting at `start`.
fn tune_end(lines: &[(usize, &str)], start: usize) -> usize {
    let mut end = start + 1;
    while let Some((_, l)) = lines.get(end) {
        if l.trim().is_empty() || is_x_line(l) {
            break;
        }
        end += 1;
    }
    end
}

/// A field line: `K:G`, `w: lyrics`, `+: continued`. Lowercase letters other than the field
/// letters `m r s w` start music (`a:|` is not a field).
fn field_of(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let c = chars.next()?;
    if chars.next()? != ':' {
        return None;
    }
    if c.is_ascii_uppercase() || matches!(c, 'm' | 'r' | 's' | 'w' | '+') {
        Some((c, line.get(2..).unwrap_or("")))
    } else {
        None
    }
}

/// A field value without its trailing `%` comment.
fn strip_comment(v: &str) -> &str {
    let mut prev = ' ';
    for (i, c) in v.char_indices() {
        if c == '%' && prev != '\\' {
            return v.get(..i).unwrap_or(v);
        }
        prev = c;
    }
    v
}

fn parse_lines(lines: &[(usize, &str)]) -> Result<Tune, AbcError> {
    let Some(&(x_line, x_text)) = lines.first() else {
        return Err(AbcError { tune: None, line: 1, message: "empty tune".into() });
    };
    let x_value = x_text.get(2..).unwrap_or("").trim();
    let digits: String = x_value.chars().take_while(|c| c.is_ascii_digit()).collect();
    let number: u32 = digits.parse().map_err(|_| AbcError {
        tune: None,
        line: x_line,
        message: format!("bad X: field `{}` (expected a number)", x_text.trim()),
    })?;
    let err = |line: usize, message: String| AbcError { tune: Some(number), line, message };

    let mut title: Option<String> = None;
    let mut meter: Option<Meter> = None;
    let mut unit: Option<Rational> = None;
    let mut tempo: Option<String> = None;
    let mut voice: Option<String> = None;
    let mut key: Option<(Key, [i8; 7], usize)> = None;
    for (idx, &(n, l)) in lines.iter().enumerate().skip(1) {
        if l.starts_with('%') || l.trim().is_empty() {
            continue;
        }
        let Some((field, value)) = field_of(l) else {
            return Err(err(n, "missing K: field before the music".into()));
        };
        let value = strip_comment(value).trim();
        match field {
            'T' if title.is_none() => title = Some(value.to_string()),
            'M' => meter = parse_meter(value).map_err(|m| err(n, m))?,
            'L' => unit = Some(parse_unit(value).map_err(|m| err(n, m))?),
            'Q' => tempo = Some(value.to_string()),
            'V' => voice = Some(voice_id(value)),
            'K' => {
                let (k, sig) = parse_key(value).map_err(|m| err(n, m))?;
                key = Some((k, sig, idx + 1));
                break;
            }
            _ => {}
        }
    }
    let last_line = lines.last().map(|l| l.0).unwrap_or(x_line);
    let Some((key, sig, body_start)) = key else {
        return Err(err(last_line, "missing K: field".into()));
    };
    let unit = unit.unwrap_or_else(|| default_unit(meter));
    let tempo_qpm = tempo.as_deref().and_then(|q| parse_tempo(q, unit));

    let mut body = Body {
        line: x_line,
        unit,
        meter,
        sig,
        bar_acc: HashMap::new(),
        items: Vec::new(),
        pending_broken: None,
        tuplet: None,
        tie_carry: None,
        last_spell: None,
        voice,
    };
    for &(n, l) in lines.get(body_start..).unwrap_or(&[]) {
        body.line = n;
        body.line_of(l).map_err(|m| err(n, m))?;
    }
    if body.pending_broken.is_some() {
        return Err(err(last_line, "broken rhythm `>`/`<` at the end of the tune".into()));
    }
    if body.tuplet.is_some() {
        return Err(err(last_line, "unfinished tuplet at the end of the tune".into()));
    }
    let events = perform(&body.items).map_err(|m| err(last_line, m))?;
    if !events.iter().any(|e| matches!(e, Event::Note { .. })) {
        return Err(err(last_line, "tune has no notes".into()));
    }
    Ok(Tune { number, title: title.unwrap_or_default(), meter, unit, key, tempo_qpm, events })
}

// ---------------------------------------------------------------------------------------------
// Header fields

fn default_unit(meter: Option<Meter>) -> Rational {
    match meter {
        Some(m) if (m.num as u64) * 4 < (m.den as u64) * 3 => Rational { num: 1, den: 16 },
        _ => Rational { num: 1, den: 8 },
    }
}

fn small_number(s: &str, max: u32) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 6 || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|&n| n >= 1 && n <= max)
}

/// `M:` value: `6/8`, `C`, `C|`, `2+3/8`, `(2+3)/8`, `none`.
fn parse_meter(v: &str) -> Result<Option<Meter>, String> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    if v == "C" {
        return Ok(Some(Meter { num: 4, den: 4 }));
    }
    if v == "C|" {
        return Ok(Some(Meter { num: 2, den: 2 }));
    }
    let bad = || format!("unsupported meter `M:{v}`");
    let (top, bottom) = v.split_once('/').ok_or_else(bad)?;
    let top = top.trim().trim_start_matches('(').trim_end_matches(')');
    let mut num = 0u32;
    for part in top.split('+') {
        num += small_number(part, 256).ok_or_else(bad)?;
    }
    let den = small_number(bottom, 64).ok_or_else(bad)?;
    if num > 256 {
        return Err(bad());
    }
    Ok(Some(Meter { num, den }))
}

/// `L:` value: `1/8`, `1/16`, `1` ... (at most a whole note).
fn parse_unit(v: &str) -> Result<Rational, String> {
    let v = v.trim();
    let bad = || format!("bad unit note length `L:{v}`");
    let (num, den) = match v.split_once('/') {
        Some((a, b)) => (small_number(a, 1024).ok_or_else(bad)?, small_number(b, 1024).ok_or_else(bad)?),
        None => (small_number(v, 1).ok_or_else(bad)?, 1),
    };
    if num > den {
        return Err(bad());
    }
    Rational::new(num as i64, den as i64).ok_or_else(bad)
}

/// `Q:` value in quarter notes per minute: `1/4=120`, `3/8=60`, `"Allegro" 1/4=120`, `120` (unit
/// notes per minute), `C=100` (old: unit notes). Unreadable values give `None`.
fn parse_tempo(v: &str, unit: Rational) -> Option<f32> {
    let mut text = String::new();
    let mut in_quote = false;
    for c in v.chars() {
        if c == '"' {
            in_quote = !in_quote;
        } else if !in_quote {
            text.push(c);
        }
    }
    let (beats, bpm) = match text.split_once('=') {
        Some((b, n)) => (b.trim().to_string(), n.trim().to_string()),
        None => (String::new(), text.trim().to_string()),
    };
    let bpm_text: String = bpm.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let bpm: f64 = bpm_text.parse().ok()?;
    let mut beat = Rational::ZERO;
    if beats.is_empty() || beats == "C" || beats == "L" {
        beat = unit;
    } else {
        for b in beats.split_whitespace() {
            let (n, d) = b.split_once('/')?;
            let f = Rational::new(small_number(n, 64)? as i64, small_number(d, 1024)? as i64)?;
            beat = beat.checked_add(f)?;
        }
    }
    let qpm = bpm * beat.to_f64() * 4.0;
    (qpm.is_finite() && qpm > 0.0 && qpm < 100_000.0).then_some(qpm as f32)
}

fn voice_id(v: &str) -> String {
    v.split_whitespace().next().unwrap_or("").to_string()
}

fn parse_mode(word: &str) -> Option<Mode> {
    let w = word.to_ascii_lowercase();
    if w == "m" {
        return Some(Mode::Minor);
    }
    if w.len() < 3 {
        return None;
    }
    let modes = [
        ("maj", Mode::Major),
        ("ion", Mode::Major),
        ("min", Mode::Minor),
        ("aeo", Mode::Minor),
        ("dor", Mode::Dorian),
        ("phr", Mode::Phrygian),
        ("lyd", Mode::Lydian),
        ("mix", Mode::Mixolydian),
        ("loc", Mode::Locrian),
    ];
    let prefix = w.get(..3)?;
    let (name, mode) = modes.iter().find(|(n, _)| *n == prefix)?;
    // The whole word must be a prefix of the mode's name, e.g. `mixolydian`, `minor`, `dor`.
    let full = match *name {
        "maj" => "major",
        "ion" => "ionian",
        "min" => "minor",
        "aeo" => "aeolian",
        "dor" => "dorian",
        "phr" => "phrygian",
        "lyd" => "lydian",
        "mix" => "mixolydian",
        _ => "locrian",
    };
    full.starts_with(w.as_str()).then_some(*mode)
}

const CLEFS: [&str; 8] = ["treble", "bass", "alto", "tenor", "perc", "bass3", "alto1", "alto2"];

/// `K:` value: the key and the key signature (alteration per letter C..B).
fn parse_key(v: &str) -> Result<(Key, [i8; 7]), String> {
    let v = v.trim();
    let bad = |what: &str| format!("{what} in `K:{v}`");
    let chars: Vec<char> = v.chars().collect();
    let mut pos = 0;
    let (mut key, mut sharps) = (Key { tonic_pc: 0, mode: Mode::Major }, 0i32);
    let first: String = chars.iter().take_while(|c| c.is_ascii_alphanumeric()).collect();
    if v.is_empty() || first.eq_ignore_ascii_case("none") {
        key.mode = Mode::NoSignature;
        pos = first.chars().count();
    } else if first == "HP" || first == "Hp" {
        key = Key { tonic_pc: 9, mode: Mode::Mixolydian };
        sharps = 2;
        pos = 2;
    } else if let Some(letter) = chars.first().and_then(|c| LETTERS_UPPER.iter().position(|l| l == c)) {
        pos = 1;
        let mut acc = 0i32;
        match chars.get(1) {
            Some('#') => {
                acc = 1;
                pos = 2;
            }
            Some('b') => {
                acc = -1;
                pos = 2;
            }
            _ => {}
        }
        while chars.get(pos) == Some(&' ') {
            pos += 1;
        }
        let word: String = chars.iter().skip(pos).take_while(|c| c.is_ascii_alphabetic()).collect();
        let mut mode = Mode::Major;
        if !word.is_empty() && chars.get(pos + word.len()) != Some(&'=') {
            if let Some(m) = parse_mode(&word) {
                mode = m;
                pos += word.len();
            } else if !CLEFS.contains(&word.to_ascii_lowercase().as_str()) && word != "exp" {
                return Err(bad(&format!("unknown mode `{word}`")));
            }
        }
        key = Key { tonic_pc: (NATURAL_PC[letter] + acc).rem_euclid(12) as u8, mode };
        sharps = LETTER_FIFTHS[letter] + 7 * acc + mode.sharp_offset();
        if sharps.abs() > 14 {
            return Err(bad("key signature with too many sharps or flats"));
        }
    } else if !CLEFS.contains(&first.to_ascii_lowercase().as_str()) && !v.starts_with("clef=") {
        return Err(bad("unknown key"));
    }
    let mut sig = signature_from_sharps(sharps);
    let rest: String = chars.iter().skip(pos).collect();
    let mut explicit_only = false;
    let mut explicit: Vec<(usize, i8)> = Vec::new();
    for tok in rest.split_whitespace() {
        let t: Vec<char> = tok.chars().collect();
        let (acc, n) = match (t.first(), t.get(1)) {
            (Some('^'), Some('^')) => (Some(2i8), 2),
            (Some('_'), Some('_')) => (Some(-2), 2),
            (Some('^'), _) => (Some(1), 1),
            (Some('_'), _) => (Some(-1), 1),
            (Some('='), _) => (Some(0), 1),
            _ => (None, 0),
        };
        if let Some(acc) = acc {
            let letter = t
                .get(n)
                .and_then(|c| LETTERS_UPPER.iter().position(|l| *l == c.to_ascii_uppercase()))
                .ok_or_else(|| bad(&format!("bad accidental `{tok}`")))?;
            explicit.push((letter, acc));
        } else if tok == "exp" {
            explicit_only = true;
        } else if tok.contains('=') || CLEFS.contains(&tok.to_ascii_lowercase().as_str()) {
            // clef=, octave=, transpose=, middle=, ...: notation only.
        } else {
            return Err(bad(&format!("unknown `{tok}`")));
        }
    }
    if explicit_only {
        sig = [0; 7];
    }
    for (letter, acc) in explicit {
        sig[letter] = acc;
    }
    Ok((key, sig))
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Shorthands for tests of this module and of `midi`.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Event, Rational};

    pub fn r(n: i64, d: i64) -> Rational {
        Rational::new(n, d).unwrap()
    }

    pub fn note(pitch: u8, n: i64, d: i64) -> Event {
        Event::Note { pitch, dur: r(n, d) }
    }

    pub fn rest(n: i64, d: i64) -> Event {
        Event::Rest { dur: r(n, d) }
    }

    pub const BAR: Event = Event::Bar;
}


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

use std::collections::HashMap;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Rational

/// An exact fraction, used for durations (in whole notes: a quarter note is 1/4).
///
/// Values made by [`Rational::new`] and the `checked_*` operations are reduced with a positive
/// denominator, so the derived equality is equality of values. All arithmetic is checked and
/// returns `None` on overflow or division by zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    /// Numerator (carries the sign).
    pub num: i64,
    /// Denominator (positive).
    pub den: i64,
}

fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Rational {
    /// Zero.
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    /// One (a whole note).
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// `num/den` reduced; `None` if `den` is 0.
    pub fn new(num: i64, den: i64) -> Option<Rational> {
        Self::from_i128(num as i128, den as i128)
    }

    /// The integer `n`.
    pub fn integer(n: i64) -> Rational {
        Rational { num: n, den: 1 }
    }

    fn from_i128(num: i128, den: i128) -> Option<Rational> {
        if den == 0 || den == i128::MIN || num == i128::MIN {
            return None;
        }
        let g = gcd_u128(num.unsigned_abs(), den.unsigned_abs());
        let g = i128::try_from(g).ok()?; // g >= 1 because den != 0
        let (mut n, mut d) = (num / g, den / g);
        if d < 0 {
            n = -n;
            d = -d;
        }
        Some(Rational { num: i64::try_from(n).ok()?, den: i64::try_from(d).ok()? })
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Rational) -> Option<Rational> {
        let a = (self.num as i128).checked_mul(other.den as i128)?;
        let b = (other.num as i128).checked_mul(self.den as i128)?;
        let d = (self.den as i128).checked_mul(other.den as i128)?;
        Self::from_i128(a.checked_add(b)?, d)
    }

    /// `self - other`, `None` on overflow.
    pub fn checked_sub(self, other: Rational) -> Option<Rational> {
        self.checked_add(Rational { num: other.num.checked_neg()?, den: other.den })
    }

    /// `self * other`, `None` on overflow.
    pub fn checked_mul(self, other: Rational) -> Option<Rational> {
        Self::from_i128(self.num as i128 * other.num as i128, self.den as i128 * other.den as i128)
    }

    /// `self / other`, `None` on overflow or if `other` is zero.
    pub fn checked_div(self, other: Rational) -> Option<Rational> {
        Self::from_i128(self.num as i128 * other.den as i128, self.den as i128 * other.num as i128)
    }

    /// True if the value is greater than zero.
    pub fn is_positive(self) -> bool {
        self.num != 0 && self.den != 0 && (self.num > 0) == (self.den > 0)
    }

    /// The value as a float.
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    /// Compares values (for reduced fractions with positive denominators).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.num as i128 * other.den as i128).cmp(&(other.num as i128 * self.den as i128))
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 { write!(f, "{}", self.num) } else { write!(f, "{}/{}", self.num, self.den) }
    }
}

// ---------------------------------------------------------------------------------------------
// Tune, key, meter, events

/// A time signature such as 6/8 (`M:C` is 4/4, `M:C|` is 2/2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Meter {
    /// Beats per bar (the upper number).
    pub num: u32,
    /// Beat unit (the lower number).
    pub den: u32,
}

impl Meter {
    /// The length of a full bar in whole notes (6/8 → 3/4).
    pub fn bar_length(self) -> Rational {
        Rational::new(self.num as i64, self.den as i64).unwrap_or(Rational::ZERO)
    }
}

/// The mode of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Major (Ionian): `K:G`, `K:Gmaj`, `K:Gion`.
    Major,
    /// Natural minor (Aeolian): `K:Em`, `K:Emin`, `K:Eaeo`.
    Minor,
    /// Dorian: `K:Ador`.
    Dorian,
    /// Phrygian: `K:Ephr`.
    Phrygian,
    /// Lydian: `K:Flyd`.
    Lydian,
    /// Mixolydian: `K:Dmix` (also `K:HP`/`K:Hp`, read as A mixolydian).
    Mixolydian,
    /// Locrian: `K:Bloc`.
    Locrian,
    /// `K:none`: no key signature (the tonic is reported as C).
    NoSignature,
}

impl Mode {
    /// Sharps of the mode's signature relative to the major key on the same tonic.
    fn sharp_offset(self) -> i32 {
        match self {
            Mode::Major | Mode::NoSignature => 0,
            Mode::Minor => -3,
            Mode::Dorian => -2,
            Mode::Phrygian => -4,
            Mode::Lydian => 1,
            Mode::Mixolydian => -1,
            Mode::Locrian => -5,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Mode::Major | Mode::NoSignature => "",
            Mode::Minor => "m",
            Mode::Dorian => "dor",
            Mode::Phrygian => "phr",
            Mode::Lydian => "lyd",
            Mode::Mixolydian => "mix",
            Mode::Locrian => "loc",
        }
    }
}

/// A key: tonic pitch class (0 = C, 1 = C♯/D♭, ..., 11 = B) and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// Pitch class of the tonic, 0..12.
    pub tonic_pc: u8,
    /// The mode.
    pub mode: Mode,
}

/// Letters are indexed C D E F G A B = 0..7.
const LETTERS_UPPER: [char; 7] = ['C', 'D', 'E', 'F', 'G', 'A', 'B'];
/// Pitch class of each natural letter.
const NATURAL_PC: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
/// Position of each natural letter on the circle of fifths (sharps of its major key).
const LETTER_FIFTHS: [i32; 7] = [0, 2, 4, -1, 1, 3, 5];
/// Letters in the order sharps are added (F C G D A E B).
const SHARP_ORDER: [usize; 7] = [3, 0, 4, 1, 5, 2, 6];
/// Letters in the order flats are added (B E A D G C F).
const FLAT_ORDER: [usize; 7] = [6, 2, 5, 1, 4, 0, 3];

/// Key signature (alteration per letter C..B) of a key with `sharps` sharps (negative: flats).
fn signature_from_sharps(sharps: i32) -> [i8; 7] {
    let mut sig = [0i8; 7];
    let n = sharps.clamp(-14, 14);
    for k in 0..n.unsigned_abs() as usize {
        if n > 0 {
            sig[SHARP_ORDER[k % 7]] += 1;
        } else {
            sig[FLAT_ORDER[k % 7]] -= 1;
        }
    }
    sig
}

impl Key {
    /// The spelling of the tonic with the fewest sharps or flats in the signature:
    /// (letter index, alteration of the tonic, sharps of the signature).
    fn spelling(&self) -> (usize, i8, i32) {
        if self.mode == Mode::NoSignature {
            return (0, 0, 0);
        }
        let pc = (self.tonic_pc % 12) as i32;
        let mut best: Option<(usize, i8, i32)> = None;
        for acc in [0i8, 1, -1] {
            for letter in 0..7 {
                if (NATURAL_PC[letter] + acc as i32).rem_euclid(12) != pc {
                    continue;
                }
                let sharps = LETTER_FIFTHS[letter] + 7 * acc as i32 + self.mode.sharp_offset();
                if best.is_none_or(|b| sharps.abs() < b.2.abs()) {
                    best = Some((letter, acc, sharps));
                }
            }
        }
        best.unwrap_or((0, 0, 0))
    }

    /// The key signature: the alteration (+1 sharp, -1 flat) of each letter C D E F G A B.
    pub fn signature(&self) -> [i8; 7] {
        signature_from_sharps(self.spelling().2)
    }

    /// Sharps in the key signature (negative: flats).
    pub fn sharps(&self) -> i32 {
        self.spelling().2
    }

    /// The key as an ABC `K:` value, e.g. `G`, `F#m`, `Bbmix`, `none`.
    pub fn abc_name(&self) -> String {
        if self.mode == Mode::NoSignature {
            return "none".to_string();
        }
        let (letter, acc, _) = self.spelling();
        let mut s = LETTERS_UPPER[letter].to_string();
        match acc {
            1 => s.push('#'),
            -1 => s.push('b'),
            _ => {}
        }
        s.push_str(self.mode.suffix());
        s
    }
}

/// One event of the performed melody.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A note: MIDI pitch (ABC `C` = 60) and duration in whole notes. Tied notes are one event; a
    /// note tied over a bar line comes before the [`Event::Bar`] it crosses.
    Note {
        /// MIDI note number.
        pitch: u8,
        /// Duration in whole notes.
        dur: Rational,
    },
    /// A rest (`z`, `x`, `Z`) of the given duration in whole notes.
    Rest {
        /// Duration in whole notes.
        dur: Rational,
    },
    /// A bar line, in performed order. There is never a bar line before the first note or rest,
    /// nor two in a row.
    Bar,
}

impl Event {
    /// The duration of a note or rest; zero for a bar line.
    pub fn duration(&self) -> Rational {
        match self {
            Event::Note { dur, .. } | Event::Rest { dur } => *dur,
            Event::Bar => Rational::ZERO,
        }
    }
}

/// A parsed tune: header fields and the performed melody.
#[derive(Clone, Debug, PartialEq)]
pub struct Tune {
    /// The reference number (`X:`).
    pub number: u32,
    /// The first title (`T:`), empty if none.
    pub title: String,
    /// The meter of the header (`M:`); `None` for `M:none`, a missing `M:` or free meter.
    pub meter: Option<Meter>,
    /// The unit note length of the header (`L:`, or the ABC default: 1/16 if the meter is below
    /// 3/4, else 1/8).
    pub unit: Rational,
    /// The key of the header (`K:`).
    pub key: Key,
    /// Tempo in quarter notes per minute (`Q:`), if given.
    pub tempo_qpm: Option<f32>,
    /// The performed melody: repeats played out, ties merged, chords reduced to the top note.
    pub events: Vec<Event>,
}

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
// Tune body

/// An element of the written tune, before repeats are played out.
#[derive(Clone, Debug)]
enum Item {
    Note {
        pitch: u8,
        dur: Rational,
        tie: bool,
    },
    Rest {
        dur: Rational,
    },
    /// A bar line; `section` for `||`, `|]`, `[|` (ends a section, not a repeat sign).
    Bar {
        section: bool,
    },
    RepeatStart,
    RepeatEnd,
    /// Start of an ending, for the passes in the bit mask (bit n = pass n).
    Ending(u32),
}

/// A note as written: letter index, octave (4 for `C`..`B`, 5 for `c`..`b`), accidental, length.
struct NoteTok {
    letter: usize,
    octave: i32,
    acc: Option<i8>,
    mult: Rational,
}

struct Body {
    line: usize,
    unit: Rational,
    meter: Option<Meter>,
    sig: [i8; 7],
    /// Accidentals met in the current bar, by (letter, octave).
    bar_acc: HashMap<(usize, i32), i8>,
    items: Vec<Item>,
    /// Factor for the next note's duration, after `>` or `<`.
    pending_broken: Option<Rational>,
    /// Active tuplet: duration factor and notes left.
    tuplet: Option<(Rational, u32)>,
    /// After a tie: the tied note's letter, octave and pitch, which the next note keeps.
    tie_carry: Option<(usize, i32, u8)>,
    /// Letter and octave of the last note or chord top (for a following `-`).
    last_spell: Option<(usize, i32)>,
    voice: Option<String>,
}

fn find_from(chars: &[char], from: usize, c: char) -> Option<usize> {
    chars.iter().skip(from).position(|&x| x == c).map(|p| p + from)
}

fn collect(chars: &[char], from: usize, to: usize) -> String {
    chars.iter().skip(from).take(to.saturating_sub(from)).collect()
}

/// Reads a decimal number of at most `max`; `Ok(None)` if there are no digits.
fn read_number(chars: &[char], pos: &mut usize, max: i64, what: &str) -> Result<Option<i64>, String> {
    let mut n: Option<i64> = None;
    while let Some(d) = chars.get(*pos).and_then(|c| c.to_digit(10)) {
        let v = n.unwrap_or(0) * 10 + d as i64;
        if v > max {
            return Err(format!("absurd {what} (more than {max})"));
        }
        n = Some(v);
        *pos += 1;
    }
    Ok(n)
}

/// A note length multiplier: `2`, `/2`, `/`, `//`, `3/2`.
fn read_length(chars: &[char], pos: &mut usize) -> Result<Rational, String> {
    let num = read_number(chars, pos, MAX_LENGTH_NUM, "note length")?.unwrap_or(1);
    if num == 0 {
        return Err("zero note length".into());
    }
    let mut den: i64 = 1;
    while chars.get(*pos) == Some(&'/') {
        *pos += 1;
        let d = read_number(chars, pos, MAX_LENGTH_DEN, "note length denominator")?.unwrap_or(2);
        if d == 0 {
            return Err("zero denominator in note length".into());
        }
        den *= d;
        if den > MAX_LENGTH_DEN {
            return Err(format!("absurd note length denominator (more than {MAX_LENGTH_DEN})"));
        }
    }
    Rational::new(num, den).ok_or_else(|| "bad note length".to_string())
}

/// A note: accidentals, letter, octave marks, length.
fn read_note(chars: &[char], pos: &mut usize) -> Result<NoteTok, String> {
    let mut acc: Option<i8> = None;
    loop {
        let a = match chars.get(*pos) {
            Some('^') => 1,
            Some('_') => -1,
            Some('=') => 0,
            _ => break,
        };
        if chars.get(*pos + 1) == Some(&'/') || chars.get(*pos + 1).is_some_and(|c| c.is_ascii_digit()) {
            return Err("unsupported construct: microtonal accidental".into());
        }
        acc = Some(match (acc, a) {
            (None, a) => a,
            (Some(1), 1) => 2,
            (Some(-1), -1) => -2,
            _ => return Err("bad accidental".into()),
        });
        *pos += 1;
    }
    let c = chars.get(*pos).copied();
    let (letter, mut octave) = match c {
        Some(c @ 'A'..='G') => (LETTERS_UPPER.iter().position(|&l| l == c).unwrap_or(0), 4),
        Some(c @ 'a'..='g') => {
            (LETTERS_UPPER.iter().position(|&l| l == c.to_ascii_uppercase()).unwrap_or(0), 5)
        }
        Some(c) => return Err(format!("bad note: accidental before `{c}`")),
        None => return Err("bad note: accidental at the end of the line".into()),
    };
    *pos += 1;
    loop {
        match chars.get(*pos) {
            Some('\'') => octave += 1,
            Some(',') => octave -= 1,
            _ => break,
        }
        if !(-10..=20).contains(&octave) {
            return Err("note out of range".into());
        }
        *pos += 1;
    }
    let mult = read_length(chars, pos)?;
    Ok(NoteTok { letter, octave, acc, mult })
}

/// Ending numbers `1`, `2`, `1,3`, `1-3` as a bit mask.
fn read_ending(chars: &[char], pos: &mut usize) -> Result<u32, String> {
    let mut mask = 0u32;
    loop {
        let a = read_number(chars, pos, MAX_ENDING as i64, "ending number")?;
        let Some(a) = a else { return Err("bad ending".into()) };
        let mut b = a;
        if chars.get(*pos) == Some(&'-') && chars.get(*pos + 1).is_some_and(|c| c.is_ascii_digit()) {
            *pos += 1;
            b = read_number(chars, pos, MAX_ENDING as i64, "ending number")?.unwrap_or(a);
        }
        if a < 1 || b < a {
            return Err("bad ending number".into());
        }
        for n in a..=b {
            mask |= 1 << n;
        }
        if chars.get(*pos) == Some(&',') && chars.get(*pos + 1).is_some_and(|c| c.is_ascii_digit()) {
            *pos += 1;
        } else {
            break;
        }
    }
    Ok(mask)
}

impl Body {
    fn line_of(&mut self, line: &str) -> Result<(), String> {
        if line.starts_with('%') {
            return Ok(());
        }
        if let Some((field, value)) = field_of(line) {
            return self.field(field, strip_comment(value).trim());
        }
        self.music(line)
    }

    fn field(&mut self, field: char, value: &str) -> Result<(), String> {
        match field {
            'K' => {
                let (_, sig) = parse_key(value)?;
                self.sig = sig;
                self.bar_acc.clear();
            }
            'L' => self.unit = parse_unit(value)?,
            'M' => self.meter = parse_meter(value)?,
            'V' => {
                let id = voice_id(value);
                match &self.voice {
                    Some(v) if *v != id => {
                        return Err("unsupported construct: several voices (V:)".into());
                    }
                    _ => self.voice = Some(id),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The pitch of a written note, applying key signature, bar accidentals and tie carry-over.
    fn pitch(&mut self, n: &NoteTok) -> Result<u8, String> {
        let carried = self.tie_carry.filter(|&(l, o, _)| l == n.letter && o == n.octave && n.acc.is_none());
        let midi = if let Some((_, _, p)) = carried {
            p as i32
        } else {
            let alt = match n.acc {
                Some(a) => {
                    self.bar_acc.insert((n.letter, n.octave), a);
                    a
                }
                None => self.bar_acc.get(&(n.letter, n.octave)).copied().unwrap_or(self.sig[n.letter]),
            };
            12 * (n.octave + 1) + NATURAL_PC[n.letter] + alt as i32
        };
        u8::try_from(midi).ok().filter(|&p| p <= 127).ok_or_else(|| "note out of MIDI range".to_string())
    }

    /// Appends a note or rest of `base` whole notes, applying tuplet and broken rhythm.
    fn push_timed(&mut self, pitch: Option<u8>, base: Rational) -> Result<(), String> {
        let overflow = || "duration overflow".to_string();
        let mut dur = base;
        if let Some((f, left)) = self.tuplet {
            dur = dur.checked_mul(f).ok_or_else(overflow)?;
            self.tuplet = if left <= 1 { None } else { Some((f, left - 1)) };
        }
        if let Some(f) = self.pending_broken.take() {
            dur = dur.checked_mul(f).ok_or_else(overflow)?;
        }
        if !dur.is_positive() {
            return Err("zero duration".into());
        }
        self.items.push(match pitch {
            Some(pitch) => Item::Note { pitch, dur, tie: false },
            None => Item::Rest { dur },
        });
        Ok(())
    }

    fn bar(&mut self, section: bool, repeat_end: bool, repeat_start: bool) -> Result<(), String> {
        if self.pending_broken.is_some() {
            return Err("broken rhythm `>`/`<` before a bar line".into());
        }
        self.items.push(Item::Bar { section: section && !repeat_end && !repeat_start });
        if repeat_end {
            self.items.push(Item::RepeatEnd);
        }
        if repeat_start {
            self.items.push(Item::RepeatStart);
        }
        self.bar_acc.clear();
        Ok(())
    }

    /// A run of `|` and `:` (and a closing `]`) starting at `pos`; `thick` if it followed `[`.
    fn bar_run(&mut self, chars: &[char], pos: &mut usize, thick: bool) -> Result<(), String> {
        let mut run = Vec::new();
        while let Some(&c) = chars.get(*pos) {
            if c == '|' || c == ':' {
                run.push(c);
                *pos += 1;
            } else {
                break;
            }
        }
        let mut closing = false;
        if chars.get(*pos) == Some(&']') {
            closing = true;
            *pos += 1;
        }
        let bars = run.iter().filter(|&&c| c == '|').count();
        let lead = run.iter().take_while(|&&c| c == ':').count();
        let trail = run.iter().rev().take_while(|&&c| c == ':').count();
        if bars == 0 {
            if run.len() >= 2 {
                self.bar(false, true, true)?; // `::`
            } else {
                return Err("unexpected `:`".into());
            }
        } else {
            self.bar(thick || closing || bars >= 2, lead > 0, trail > 0)?;
        }
        if chars.get(*pos).is_some_and(|c| c.is_ascii_digit()) {
            let mask = read_ending(chars, pos)?;
            self.items.push(Item::Ending(mask));
        }
        Ok(())
    }

    /// A chord `[CEG]` or `+CEG+` starting at `pos` (on the opening character).
    fn chord(&mut self, chars: &[char], pos: &mut usize, close: char) -> Result<(), String> {
        *pos += 1;
        let mut notes: Vec<(u8, usize, i32, Rational, bool)> = Vec::new();
        loop {
            match chars.get(*pos) {
                None => return Err("unterminated chord".into()),
                Some(&c) if c == close => {
                    *pos += 1;
                    break;
                }
                Some(' ' | '\t' | '.' | '~' | '(' | ')') => *pos += 1,
                Some('H'..='W' | 'h'..='w') => *pos += 1,
                Some('!') => match find_from(chars, *pos + 1, '!') {
                    Some(end) => *pos = end + 1,
                    None => return Err("unterminated decoration `!` in chord".into()),
                },
                Some('"') => match find_from(chars, *pos + 1, '"') {
                    Some(end) => *pos = end + 1,
                    None => return Err("unterminated string `\"`".into()),
                },
                Some('-') => {
                    if let Some(last) = notes.last_mut() {
                        last.4 = true;
                    }
                    *pos += 1;
                }
                Some('^' | '_' | '=' | 'A'..='G' | 'a'..='g') => {
                    let tok = read_note(chars, pos)?;
                    let p = self.pitch(&tok)?;
                    notes.push((p, tok.letter, tok.octave, tok.mult, false));
                }
                Some(c) => return Err(format!("unexpected `{c}` in chord")),
            }
        }
        self.tie_carry = None;
        let outer = read_length(chars, pos)?;
        let Some(first) = notes.first() else { return Err("empty chord".into()) };
        let first_mult = first.3;
        let mut top = first;
        for n in &notes {
            if n.0 > top.0 {
                top = n;
            }
        }
        let (pitch, letter, octave, tie) = (top.0, top.1, top.2, top.4);
        let base = self
            .unit
            .checked_mul(first_mult)
            .and_then(|d| d.checked_mul(outer))
            .ok_or_else(|| "duration overflow".to_string())?;
        self.push_timed(Some(pitch), base)?;
        if tie {
            self.tie(letter, octave);
        }
        self.last_spell = Some((letter, octave));
        Ok(())
    }

    fn tie(&mut self, letter: usize, octave: i32) {
        if let Some(Item::Note { pitch, tie, .. }) = self.items.last_mut() {
            *tie = true;
            self.tie_carry = Some((letter, octave, *pitch));
        }
    }

    fn music(&mut self, line: &str) -> Result<(), String> {
        let chars: Vec<char> = line.chars().collect();
        let mut pos = 0usize;
        while let Some(&c) = chars.get(pos) {
            match c {
                ' ' | '\t' | '`' | '*' | '\\' | '$' | ')' | '~' | '.' => pos += 1,
                'H'..='W' | 'h'..='w' => {
                    // Decoration symbols (`T` trill, `H` fermata, `u`/`v` bowing, ...); `y` spacer.
                    pos += 1;
                }
                'y' => {
                    pos += 1;
                    read_number(&chars, &mut pos, MAX_LENGTH_NUM, "spacer")?;
                }
                '%' => break,
                '"' => match find_from(&chars, pos + 1, '"') {
                    Some(end) => pos = end + 1,
                    None => return Err("unterminated chord symbol or annotation `\"`".into()),
                },
                '!' => match find_from(&chars, pos + 1, '!') {
                    Some(end) => pos = end + 1,
                    None => pos += 1, // abc 1.6 line break
                },
                '+' => match find_from(&chars, pos + 1, '+') {
                    Some(end) => {
                        let inner = collect(&chars, pos + 1, end);
                        let chordlike = inner.chars().any(|c| c.is_ascii_alphabetic())
                            && inner.chars().all(|c| "ABCDEFGabcdefg^_=,'/0123456789 ".contains(c))
                            && !matches!(inner.as_str(), "f" | "ff" | "fff" | "ffff");
                        if chordlike {
                            self.chord(&chars, &mut pos, '+')?;
                        } else {
                            pos = end + 1;
                        }
                    }
                    None => pos += 1,
                },
                '{' => match find_from(&chars, pos + 1, '}') {
                    Some(end) => pos = end + 1,
                    None => return Err("unterminated grace notes `{`".into()),
                },
                '(' => {
                    pos += 1;
                    if chars.get(pos).is_some_and(|c| c.is_ascii_digit()) {
                        self.tuplet(&chars, &mut pos)?;
                    }
                }
                '-' => {
                    pos += 1;
                    if let Some((letter, octave)) = self.last_spell {
                        self.tie(letter, octave);
                    }
                }
                '>' | '<' => {
                    let mut n = 0u32;
                    while chars.get(pos) == Some(&c) {
                        n += 1;
                        pos += 1;
                    }
                    self.broken(c, n)?;
                }
                '|' => self.bar_run(&chars, &mut pos, false)?,
                ':' => self.bar_run(&chars, &mut pos, false)?,
                '[' => {
                    let next = chars.get(pos + 1).copied();
                    if next.is_some_and(|c| c.is_ascii_alphabetic()) && chars.get(pos + 2) == Some(&':') {
                        let Some(end) = find_from(&chars, pos + 3, ']') else {
                            return Err("unterminated inline field `[`".into());
                        };
                        let value = collect(&chars, pos + 3, end);
                        self.field(next.unwrap_or(' '), strip_comment(&value).trim())?;
                        pos = end + 1;
                    } else if next.is_some_and(|c| c.is_ascii_digit()) {
                        pos += 1;
                        let mask = read_ending(&chars, &mut pos)?;
                        self.items.push(Item::Ending(mask));
                    } else if next == Some('|') {
                        pos += 1;
                        self.bar_run(&chars, &mut pos, true)?;
                    } else {
                        self.chord(&chars, &mut pos, ']')?;
                    }
                }
                '^' | '_' | '=' | 'A'..='G' | 'a'..='g' => {
                    let tok = read_note(&chars, &mut pos)?;
                    let pitch = self.pitch(&tok)?;
                    self.tie_carry = None;
                    let base =
                        self.unit.checked_mul(tok.mult).ok_or_else(|| "duration overflow".to_string())?;
                    self.push_timed(Some(pitch), base)?;
                    self.last_spell = Some((tok.letter, tok.octave));
                }
                'z' | 'x' => {
                    pos += 1;
                    let mult = read_length(&chars, &mut pos)?;
                    let base = self.unit.checked_mul(mult).ok_or_else(|| "duration overflow".to_string())?;
                    self.push_timed(None, base)?;
                    self.last_spell = None;
                }
                'Z' | 'X' => {
                    pos += 1;
                    let bars = read_number(&chars, &mut pos, MAX_LENGTH_NUM, "number of bars")?.unwrap_or(1);
                    if bars == 0 {
                        return Err("zero-length multi-measure rest".into());
                    }
                    let Some(m) = self.meter else {
                        return Err(format!("multi-measure rest `{c}` without a meter"));
                    };
                    let dur = m.bar_length().checked_mul(Rational::integer(bars));
                    self.push_timed(None, dur.ok_or_else(|| "duration overflow".to_string())?)?;
                    self.last_spell = None;
                }
                '&' => return Err("unsupported construct `&` (voice overlay)".into()),
                ']' => return Err("unexpected `]`".into()),
                c if c.is_ascii_digit() => return Err(format!("unexpected number `{c}`")),
                c => return Err(format!("unexpected character `{c}`")),
            }
        }
        Ok(())
    }

    /// `(p`, `(p:q`, `(p:q:r`, `(p::r` with `pos` after the `(`.
    fn tuplet(&mut self, chars: &[char], pos: &mut usize) -> Result<(), String> {
        let p = read_number(chars, pos, 64, "tuplet")?.unwrap_or(0);
        let mut q: Option<i64> = None;
        let mut r: Option<i64> = None;
        if chars.get(*pos) == Some(&':') {
            *pos += 1;
            q = read_number(chars, pos, 64, "tuplet")?;
            if chars.get(*pos) == Some(&':') {
                *pos += 1;
                r = read_number(chars, pos, 64, "tuplet")?;
            }
        }
        let compound = self.meter.is_some_and(|m| m.num % 3 == 0 && m.num > 3);
        let q = match (q, p) {
            (Some(q), _) => q,
            (None, 2 | 4 | 8) => 3,
            (None, 3 | 6) => 2,
            (None, 5 | 7 | 9) => {
                if compound {
                    3
                } else {
                    2
                }
            }
            _ => return Err(format!("bad tuplet `({p}`")),
        };
        let r = r.unwrap_or(p);
        if p < 2 || q < 1 || r < 1 {
            return Err(format!("bad tuplet `({p}:{q}:{r}`"));
        }
        let f = Rational::new(q, p).ok_or_else(|| "bad tuplet".to_string())?;
        self.tuplet = Some((f, r as u32));
        Ok(())
    }

    /// `>`, `>>`, `<`, ... (`n` marks) between the previous note and the next.
    fn broken(&mut self, c: char, n: u32) -> Result<(), String> {
        if n > 3 {
            return Err("too many broken-rhythm marks".into());
        }
        let half = Rational::new(1, 1 << n).ok_or_else(|| "bad broken rhythm".to_string())?;
        let long = Rational::integer(2).checked_sub(half).ok_or_else(|| "bad broken rhythm".to_string())?;
        let (before, after) = if c == '>' { (long, half) } else { (half, long) };
        match self.items.last_mut() {
            Some(Item::Note { dur, .. } | Item::Rest { dur }) => {
                *dur = dur.checked_mul(before).ok_or_else(|| "duration overflow".to_string())?;
            }
            _ => return Err(format!("broken rhythm `{c}` without a preceding note")),
        }
        self.pending_broken = Some(match self.pending_broken {
            Some(f) => f.checked_mul(after).ok_or_else(|| "duration overflow".to_string())?,
            None => after,
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Performance order

/// Highest ending number from `from` to the end of the section (a section bar or repeat start).
fn max_ending_ahead(items: &[Item], from: usize) -> u32 {
    let mut max = 0;
    for item in items.iter().skip(from) {
        match item {
            Item::RepeatStart | Item::Bar { section: true } => break,
            Item::Ending(mask) if *mask != 0 => max = max.max(31 - mask.leading_zeros()),
            _ => {}
        }
    }
    max
}

/// Plays out repeats and endings, merges ties and drops redundant bar lines.
fn perform(items: &[Item]) -> Result<Vec<Event>, String> {
    let too_long = || format!("tune too long (more than {MAX_EVENTS} events with repeats)");
    let mut played: Vec<&Item> = Vec::new();
    let mut jumps = vec![0u32; items.len()];
    let (mut i, mut start, mut pass) = (0usize, 0usize, 1u32);
    let (mut explicit_start, mut in_ending, mut skipping) = (false, false, false);
    let mut steps = 0usize;
    while let Some(item) = items.get(i) {
        steps += 1;
        if steps > 4 * MAX_EVENTS || played.len() > MAX_EVENTS {
            return Err(too_long());
        }
        match item {
            Item::Note { .. } | Item::Rest { .. } => {
                if !skipping {
                    played.push(item);
                }
            }
            Item::Bar { section } => {
                if skipping && !section {
                    i += 1;
                    continue;
                }
                skipping = false;
                played.push(item);
                if *section {
                    if pass > 1 || in_ending {
                        pass = 1;
                        start = i + 1;
                        explicit_start = false;
                        in_ending = false;
                    } else if !explicit_start {
                        start = i + 1;
                    }
                }
            }
            Item::RepeatStart => {
                skipping = false;
                in_ending = false;
                pass = 1;
                start = i + 1;
                explicit_start = true;
            }
            Item::Ending(mask) => {
                in_ending = true;
                skipping = pass > 31 || mask & (1u32 << pass) == 0;
            }
            Item::RepeatEnd => {
                if skipping {
                    // The end of an ending that is not played on this pass.
                    skipping = false;
                    i += 1;
                    continue;
                }
                let jump = if in_ending {
                    // Without later endings, a first ending is still played once.
                    pass < max_ending_ahead(items, i + 1).max(2)
                } else {
                    jumps.get(i).is_some_and(|&j| j == 0)
                };
                if jump && start <= i {
                    if let Some(j) = jumps.get_mut(i) {
                        *j += 1;
                    }
                    pass += 1;
                    in_ending = false;
                    i = start;
                    continue;
                }
                pass = 1;
                start = i + 1;
                explicit_start = false;
                in_ending = false;
            }
        }
        i += 1;
    }

    // Ties in performed order, then bar lines: none first, none twice in a row.
    let mut events: Vec<Event> = Vec::with_capacity(played.len());
    let mut open_tie: Option<usize> = None;
    for item in played {
        match item {
            Item::Note { pitch, dur, tie } => {
                let merged = match open_tie.and_then(|k| events.get_mut(k)) {
                    Some(Event::Note { pitch: p, dur: d }) if p == pitch => {
                        *d = d.checked_add(*dur).ok_or_else(|| "duration overflow".to_string())?;
                        true
                    }
                    _ => false,
                };
                if merged {
                    if !*tie {
                        open_tie = None;
                    }
                    continue;
                }
                events.push(Event::Note { pitch: *pitch, dur: *dur });
                open_tie = if *tie { Some(events.len() - 1) } else { None };
            }
            Item::Rest { dur } => {
                events.push(Event::Rest { dur: *dur });
                open_tie = None;
            }
            Item::Bar { .. } if !matches!(events.last(), None | Some(Event::Bar)) => events.push(Event::Bar),
            _ => {}
        }
    }
    Ok(events)
}

// ---------------------------------------------------------------------------------------------
// Writer

/// Spells a pitch in a key: (letter index, alteration). In-key notes use the key signature; other
/// notes are natural if possible, else sharp in sharp keys and flat in flat keys.
fn spell(pitch: u8, sig: &[i8; 7], sharp_keys: bool) -> (usize, i8) {
    let pc = (pitch % 12) as i32;
    for (letter, (&natural, &alt)) in NATURAL_PC.iter().zip(sig).enumerate() {
        if (natural + alt as i32).rem_euclid(12) == pc {
            return (letter, alt);
        }
    }
    if let Some(letter) = NATURAL_PC.iter().position(|&n| n == pc) {
        return (letter, 0);
    }
    let (target, alt) = if sharp_keys { ((pc + 11) % 12, 1) } else { ((pc + 1) % 12, -1) };
    let letter = NATURAL_PC.iter().position(|&n| n == target).unwrap_or(0);
    (letter, alt)
}

fn note_name(letter: usize, octave: i32) -> String {
    let mut s = String::new();
    let c = LETTERS_UPPER[letter % 7];
    if octave >= 5 {
        s.push(c.to_ascii_lowercase());
        for _ in 5..octave {
            s.push('\'');
        }
    } else {
        s.push(c);
        for _ in octave..4 {
            s.push(',');
        }
    }
    s
}

fn length_text(m: Rational) -> String {
    match (m.num, m.den) {
        (1, 1) => String::new(),
        (n, 1) => n.to_string(),
        (1, 2) => "/".to_string(),
        (1, d) => format!("/{d}"),
        (n, d) => format!("{n}/{d}"),
    }
}

/// Length multipliers (each within the parser's limits) that add up to `m`.
fn length_pieces(m: Rational) -> Vec<Rational> {
    let mut pieces = Vec::new();
    let mut left = m.num;
    while left > MAX_LENGTH_NUM {
        pieces.push(Rational::new(MAX_LENGTH_NUM, m.den).unwrap_or(Rational::ONE));
        left -= MAX_LENGTH_NUM;
    }
    pieces.push(Rational::new(left, m.den).unwrap_or(Rational::ONE));
    pieces
}

/// ABC text of a tune: `X: T: M: L: (Q:) K:` and the events, with notes spelled for the key
/// (accidentals only where the key signature and the bar's earlier accidentals do not already give
/// the pitch), and `|` for bar lines. [`parse_tune`] of the result gives the same events.
pub fn write_abc(tune: &Tune) -> String {
    let mut out = String::new();
    out.push_str(&format!("X:{}\n", tune.number));
    out.push_str(&format!("T:{}\n", tune.title.replace(['\n', '\r'], " ")));
    match tune.meter {
        Some(m) => out.push_str(&format!("M:{}/{}\n", m.num, m.den)),
        None => out.push_str("M:none\n"),
    }
    let unit_ok = tune.unit.is_positive() && tune.unit <= Rational::ONE && tune.unit.den <= 1024;
    let unit = if unit_ok { tune.unit } else { Rational { num: 1, den: 8 } };
    out.push_str(&format!("L:{}/{}\n", unit.num, unit.den));
    if let Some(q) = tune.tempo_qpm.filter(|q| q.is_finite() && *q > 0.0) {
        out.push_str(&format!("Q:1/4={q}\n"));
    }
    out.push_str(&format!("K:{}\n", tune.key.abc_name()));

    let sig = tune.key.signature();
    let sharp_keys = tune.key.sharps() >= 0;
    let mut bar_acc: HashMap<(usize, i32), i8> = HashMap::new();
    let mut line = String::new();
    for ev in &tune.events {
        let token = match ev {
            Event::Note { pitch, dur } => {
                let (letter, alt) = spell(*pitch, &sig, sharp_keys);
                let octave = (*pitch as i32 - alt as i32).div_euclid(12) - 1;
                let inferred = bar_acc.get(&(letter, octave)).copied().unwrap_or(sig[letter]);
                let mut acc = String::new();
                if alt != inferred {
                    acc.push_str(match alt {
                        2 => "^^",
                        1 => "^",
                        -1 => "_",
                        -2 => "__",
                        _ => "=",
                    });
                    bar_acc.insert((letter, octave), alt);
                }
                let name = note_name(letter, octave);
                let m = dur.checked_div(unit).unwrap_or(Rational::ONE);
                let pieces: Vec<String> =
                    length_pieces(m).into_iter().map(|p| format!("{name}{}", length_text(p))).collect();
                format!("{acc}{}", pieces.join("-"))
            }
            Event::Rest { dur } => {
                let m = dur.checked_div(unit).unwrap_or(Rational::ONE);
                let pieces: Vec<String> =
                    length_pieces(m).into_iter().map(|p| format!("z{}", length_text(p))).collect();
                pieces.join(" ")
            }
            Event::Bar => {
                bar_acc.clear();
                "|".to_string()
            }
        };
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&token);
        if matches!(ev, Event::Bar) && line.len() >= 60 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
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

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    /// Parses a body with the given header lines after X:1.
    fn tune(header: &str, body: &str) -> Tune {
        let text = format!("X:1\n{header}\n{body}\n");
        parse_tune(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// Events of a body in L:1/8, M:4/4, K:C.
    fn ev(body: &str) -> Vec<Event> {
        tune("M:4/4\nL:1/8\nK:C", body).events
    }

    fn pitches(body: &str) -> Vec<u8> {
        ev(body)
            .iter()
            .filter_map(|e| match e {
                Event::Note { pitch, .. } => Some(*pitch),
                _ => None,
            })
            .collect()
    }

    fn err(text: &str) -> AbcError {
        match parse_tune(text) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e,
        }
    }

    fn round_trip(t: &Tune) {
        let text = write_abc(t);
        let back = parse_tune(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.events, t.events, "{text}");
        assert_eq!(back.number, t.number);
        assert_eq!(back.meter, t.meter);
        assert_eq!(back.unit, t.unit);
        assert_eq!(back.key.signature(), t.key.signature());
    }

    #[test]
    fn rational_arithmetic() {
        assert_eq!(r(2, 4), Rational { num: 1, den: 2 });
        assert_eq!(r(3, -6), Rational { num: -1, den: 2 });
        assert_eq!(Rational::new(1, 0), None);
        assert_eq!(r(1, 2).checked_add(r(1, 3)), Some(r(5, 6)));
        assert_eq!(r(1, 2).checked_mul(r(2, 3)), Some(r(1, 3)));
        assert_eq!(r(1, 2).checked_div(Rational::ZERO), None);
        assert_eq!(r(i64::MAX, 1).checked_add(r(1, 1)), None);
        assert!(r(1, 3) < r(1, 2));
        assert_eq!(r(3, 8).to_string(), "3/8");
        assert_eq!(Rational::integer(2).to_string(), "2");
    }

    #[test]
    fn header_fields() {
        let t = tune("T:The Tune\nT:Other title\nM:6/8\nL:1/8\nQ:3/8=60\nR:jig\nK:Em", "EFG ABc|");
        assert_eq!(t.number, 1);
        assert_eq!(t.title, "The Tune");
        assert_eq!(t.meter, Some(Meter { num: 6, den: 8 }));
        assert_eq!(t.unit, r(1, 8));
        assert_eq!(t.key, Key { tonic_pc: 4, mode: Mode::Minor });
        assert_eq!(t.tempo_qpm, Some(90.0));
        assert_eq!(tune("Q:1/4=120\nK:C", "C").tempo_qpm, Some(120.0));
        assert_eq!(tune("Q:\"Allegro\" 1/2=60\nK:C", "C").tempo_qpm, Some(120.0));
        assert_eq!(tune("L:1/8\nQ:200\nK:C", "C").tempo_qpm, Some(100.0));
        assert_eq!(tune("Q:Allegro\nK:C", "C").tempo_qpm, None);
        assert_eq!(tune("K:C", "C").tempo_qpm, None);
        // Comments and other fields in the header; X: with spaces.
        let t = parse_tune("%comment\nX: 12\n% a remark\nN:note\nZ:someone\nK:G % key\nG").unwrap();
        assert_eq!(t.number, 12);
        assert_eq!(t.key, Key { tonic_pc: 7, mode: Mode::Major });
    }

    #[test]
    fn meters_and_default_unit() {
        assert_eq!(tune("M:C\nK:C", "C").meter, Some(Meter { num: 4, den: 4 }));
        assert_eq!(tune("M:C|\nK:C", "C").meter, Some(Meter { num: 2, den: 2 }));
        assert_eq!(tune("M:none\nK:C", "C").meter, None);
        assert_eq!(tune("M:(2+3)/8\nK:C", "C").meter, Some(Meter { num: 5, den: 8 }));
        assert_eq!(tune("M:2/4\nK:C", "C").unit, r(1, 16));
        assert_eq!(tune("M:3/8\nK:C", "C").unit, r(1, 16));
        assert_eq!(tune("M:3/4\nK:C", "C").unit, r(1, 8));
        assert_eq!(tune("M:6/8\nK:C", "C").unit, r(1, 8));
        assert_eq!(tune("M:none\nK:C", "C").unit, r(1, 8));
        assert_eq!(tune("K:C", "C").unit, r(1, 8));
        assert_eq!(tune("M:2/4\nL:1/4\nK:C", "C").unit, r(1, 4));
        assert_eq!(tune("M:2/4\nK:C", "C2").events, vec![note(60, 1, 8)]);
    }

    #[test]
    fn pitches_and_octaves() {
        assert_eq!(
            pitches("C D E F G A B c d e f g a b"),
            vec![60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83]
        );
        assert_eq!(pitches("C, C,, c' c'' B,"), vec![48, 36, 84, 96, 59]);
        assert_eq!(pitches("^C | _B | ^^C | __D | =C"), vec![61, 70, 62, 60, 60]);
    }

    #[test]
    fn key_signatures_and_modes() {
        let p = |k: &str, body: &str| tune(&format!("L:1/8\nK:{k}"), body).events;
        let ps = |k: &str| -> Vec<u8> {
            p(k, "C D E F G A B")
                .iter()
                .filter_map(|e| if let Event::Note { pitch, .. } = e { Some(*pitch) } else { None })
                .collect()
        };
        assert_eq!(ps("G"), vec![60, 62, 64, 66, 67, 69, 71]);
        assert_eq!(ps("F"), vec![60, 62, 64, 65, 67, 69, 70]);
        assert_eq!(ps("D"), vec![61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(ps("Bb"), vec![60, 62, 63, 65, 67, 69, 70]);
        assert_eq!(ps("F#m"), vec![61, 62, 64, 66, 68, 69, 71]);
        assert_eq!(ps("Em"), ps("G"));
        assert_eq!(ps("E minor"), ps("G"));
        assert_eq!(ps("Eaeo"), ps("G"));
        assert_eq!(ps("Gion"), ps("G"));
        assert_eq!(ps("Gmaj"), ps("G"));
        assert_eq!(ps("Ador"), ps("G"));
        assert_eq!(ps("ADor"), ps("G"));
        assert_eq!(ps("Dmix"), ps("G"));
        assert_eq!(ps("D Mixolydian"), ps("G"));
        assert_eq!(ps("Bphr"), ps("G"));
        assert_eq!(ps("Clyd"), ps("G"));
        assert_eq!(ps("F#loc"), ps("G"));
        assert_eq!(ps("none"), ps("C"));
        assert_eq!(ps("HP"), ps("Hp"));
        assert_eq!(ps("HP"), vec![61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(ps("G clef=bass"), ps("G"));
        assert_eq!(ps("D =c"), ps("G")); // explicit accidental in K:
        assert_eq!(ps("C exp ^f"), ps("G"));
        assert_eq!(tune("K:HP", "A").key, Key { tonic_pc: 9, mode: Mode::Mixolydian });
        assert_eq!(tune("K:none", "A").key.mode, Mode::NoSignature);
        assert_eq!(tune("K:Gm", "A").key, Key { tonic_pc: 7, mode: Mode::Minor });
        assert_eq!(tune("K:AMix", "A").key, Key { tonic_pc: 9, mode: Mode::Mixolydian });
        assert_eq!(Key { tonic_pc: 6, mode: Mode::Minor }.abc_name(), "F#m");
        assert_eq!(Key { tonic_pc: 10, mode: Mode::Major }.abc_name(), "Bb");
        assert_eq!(Key { tonic_pc: 2, mode: Mode::Dorian }.abc_name(), "Ddor");
        assert_eq!(Key { tonic_pc: 2, mode: Mode::Dorian }.sharps(), 0);
        // Natural sign in the key of G; the key signature applies in every octave.
        assert_eq!(tune("K:G", "=F f F,").events, vec![note(65, 1, 8), note(78, 1, 8), note(54, 1, 8)]);
    }

    #[test]
    fn accidentals_last_to_the_end_of_the_bar() {
        assert_eq!(pitches("^F F f | F"), vec![66, 66, 77, 65]);
        assert_eq!(tune("K:G", "=F F ^F F | F").events.len(), 6);
        let ps: Vec<u8> = tune("K:G", "=F F | F")
            .events
            .iter()
            .filter_map(|e| if let Event::Note { pitch, .. } = e { Some(*pitch) } else { None })
            .collect();
        assert_eq!(ps, vec![65, 65, 66]);
        // Inside chords too.
        assert_eq!(pitches("[^FA] F"), vec![69, 66]);
    }

    #[test]
    fn lengths() {
        assert_eq!(
            ev("A A2 A/2 A/ A// A3/2 A3 A/4 A3//"),
            vec![
                note(69, 1, 8),
                note(69, 1, 4),
                note(69, 1, 16),
                note(69, 1, 16),
                note(69, 1, 32),
                note(69, 3, 16),
                note(69, 3, 8),
                note(69, 1, 32),
                note(69, 3, 32),
            ]
        );
        assert_eq!(tune("L:1/4\nK:C", "c2").events, vec![note(72, 1, 2)]);
    }

    #[test]
    fn rests() {
        assert_eq!(ev("z A x2 z/"), vec![rest(1, 8), note(69, 1, 8), rest(1, 4), rest(1, 16)]);
        assert_eq!(tune("M:3/4\nK:C", "Z2 | C").events, vec![rest(3, 2), BAR, note(60, 1, 8)]);
        assert_eq!(tune("M:3/4\nK:C", "C | Z |").events, vec![note(60, 1, 8), BAR, rest(3, 4), BAR]);
    }

    #[test]
    fn ties() {
        assert_eq!(ev("A2-A2 B"), vec![note(69, 1, 2), note(71, 1, 8)]);
        assert_eq!(ev("A2 - A2"), vec![note(69, 1, 2)]);
        // Over a bar line: one note, then the bar.
        assert_eq!(ev("c4 A4- | A2 B6 |"), vec![note(72, 1, 2), note(69, 3, 4), BAR, note(71, 3, 4), BAR]);
        // A tie between different pitches is no tie.
        assert_eq!(ev("G3-A"), vec![note(67, 3, 8), note(69, 1, 8)]);
        // A tied note keeps its accidental over the bar line, but the bar's accidental ends.
        assert_eq!(ev("^c2-|c2 c"), vec![note(73, 1, 2), BAR, note(72, 1, 8)]);
        // Chained ties and chords.
        assert_eq!(ev("A-A-A"), vec![note(69, 3, 8)]);
        assert_eq!(ev("[CEG]2-[CEG]2"), vec![note(67, 1, 2)]);
        // A dangling tie at the end is ignored.
        assert_eq!(ev("A-"), vec![note(69, 1, 8)]);
    }

    #[test]
    fn bar_lines() {
        let want = vec![note(60, 1, 8), BAR, note(62, 1, 8), BAR, note(64, 1, 8), BAR, note(65, 1, 8), BAR];
        assert_eq!(ev("C | D || E |] F |"), want);
        assert_eq!(ev("|C | D [| E || F |]"), want);
        // No bar first, none twice in a row, across lines too; dotted bar.
        assert_eq!(ev("| C |\n| D .| E | F ||"), want);
    }

    #[test]
    fn repeats() {
        let (a, b, c, d) = (note(69, 1, 8), note(71, 1, 8), note(72, 1, 8), note(74, 1, 8));
        assert_eq!(ev("|: A B :| c d |]"), vec![a, b, BAR, a, b, BAR, c, d, BAR]);
        // Repeat from the start of the tune, and from the last repeat.
        assert_eq!(ev("A :| B :|"), vec![a, BAR, a, BAR, b, BAR, b, BAR]);
        assert_eq!(ev("A | B :: c :|"), vec![a, BAR, b, BAR, a, BAR, b, BAR, c, BAR, c, BAR]);
        assert_eq!(ev("|: A :|: B :|"), vec![a, BAR, a, BAR, b, BAR, b, BAR]);
        // First and second endings, in both spellings.
        let want = vec![a, BAR, b, BAR, a, BAR, c, BAR, d, BAR];
        assert_eq!(ev("|: A |1 B :|2 c || d |]"), want);
        assert_eq!(ev("|: A | [1 B :| [2 c || d |]"), want);
        assert_eq!(ev("|: A |[1 B :|[2 c |] d |]"), want);
        // An ending of several bars; a second ending that runs into the next part.
        assert_eq!(
            ev("|: A |1 B | B :|2 c |: d :|"),
            vec![a, BAR, b, BAR, b, BAR, a, BAR, c, BAR, d, BAR, d, BAR]
        );
        // Three endings.
        assert_eq!(ev("|: A |1 B :|2 c :|3 d |]"), vec![a, BAR, b, BAR, a, BAR, c, BAR, a, BAR, d, BAR]);
        assert_eq!(ev("|: A |1,2 B :|3 c |]"), vec![a, BAR, b, BAR, a, BAR, b, BAR, a, BAR, c, BAR]);
        // A first ending without a second one.
        assert_eq!(ev("|: A |1 B :| c |]"), vec![a, BAR, b, BAR, a, BAR, c, BAR]);
        // A pickup before the repeat.
        assert_eq!(ev("d |: A :|"), vec![d, BAR, a, BAR, a, BAR]);
        // A tie into the repeat start is followed in playing order.
        assert_eq!(ev("|: A B- :| B c |]"), vec![a, note(71, 1, 8), BAR, a, note(71, 1, 4), BAR, c, BAR]);
    }

    #[test]
    fn tuplets() {
        assert_eq!(ev("(3ABc d"), vec![note(69, 1, 12), note(71, 1, 12), note(72, 1, 12), note(74, 1, 8)]);
        assert_eq!(ev("(3A2B2c2"), vec![note(69, 1, 6), note(71, 1, 6), note(72, 1, 6)]);
        assert_eq!(ev("(3:2:2A B c"), vec![note(69, 1, 12), note(71, 1, 12), note(72, 1, 8)]);
        assert_eq!(ev("(3zB[ce]"), vec![rest(1, 12), note(71, 1, 12), note(76, 1, 12)]);
        assert_eq!(ev("(2AB"), vec![note(69, 3, 16), note(71, 3, 16)]);
        // (5 is 5 in the time of 2 in simple meters, of 3 in compound meters.
        let t = tune("M:6/8\nL:1/8\nK:C", "(5ABcde");
        assert_eq!(t.events[0], note(69, 3, 40));
        assert_eq!(ev("(5ABcde")[0], note(69, 1, 20));
        // A slur around a tuplet and inside it.
        assert_eq!(
            ev("((3A(BA)) B"),
            vec![note(69, 1, 12), note(71, 1, 12), note(69, 1, 12), note(71, 1, 8)]
        );
    }

    #[test]
    fn broken_rhythm() {
        assert_eq!(ev("A>B"), vec![note(69, 3, 16), note(71, 1, 16)]);
        assert_eq!(ev("A<B"), vec![note(69, 1, 16), note(71, 3, 16)]);
        assert_eq!(ev("A>>B"), vec![note(69, 7, 32), note(71, 1, 32)]);
        assert_eq!(ev("A2<<B2"), vec![note(69, 1, 16), note(71, 7, 16)]);
        assert_eq!(ev("A > B"), vec![note(69, 3, 16), note(71, 1, 16)]);
        assert_eq!(ev("A>~B"), vec![note(69, 3, 16), note(71, 1, 16)]);
        assert_eq!(ev("[CE]>[DF]"), vec![note(64, 3, 16), note(65, 1, 16)]);
    }

    #[test]
    fn chords() {
        assert_eq!(ev("[CEG]2 [G,CE]"), vec![note(67, 1, 4), note(64, 1, 8)]);
        assert_eq!(ev("[C2E2] [c/e/]3"), vec![note(64, 1, 4), note(76, 3, 16)]);
        assert_eq!(ev("[^FA]"), vec![note(69, 1, 8)]);
        assert_eq!(ev("[ag]"), vec![note(81, 1, 8)]);
        // abc 1.6 chords `+..+`.
        assert_eq!(ev("+E3A3+ c"), vec![note(69, 3, 8), note(72, 1, 8)]);
    }

    #[test]
    fn ornaments_are_skipped() {
        let want = vec![note(69, 1, 8), note(71, 1, 8), note(72, 1, 4)];
        assert_eq!(ev("{g}A {ag}B {/a}c2"), want);
        assert_eq!(ev("!trill!A +fermata+B !>!c2"), want);
        assert_eq!(ev("~A .B Hc2"), want);
        assert_eq!(ev("TA uB vLMOPSc2"), want);
        assert_eq!(ev("\"Am\"A \"^text\"B \"G7\"c2"), want);
        assert_eq!(ev("(AB) (c2)"), want);
        assert_eq!(ev("A B !D.C.! c2 !"), want);
        assert_eq!(ev("A`B c2 y"), want);
    }

    #[test]
    fn inline_fields() {
        assert_eq!(pitches("F [K:G] F | [K:Bb] B"), vec![65, 66, 70]);
        assert_eq!(ev("A [L:1/16] A [L:1/4] A"), vec![note(69, 1, 8), note(69, 1, 16), note(69, 1, 4)]);
        assert_eq!(tune("M:4/4\nK:C", "C [M:3/4] Z").events, vec![note(60, 1, 8), rest(3, 4)]);
        assert_eq!(ev("A [P:B] [I:whatever] [r:remark] B"), vec![note(69, 1, 8), note(71, 1, 8)]);
        // Field lines in the body.
        assert_eq!(
            tune("L:1/8\nK:C", "A\nL:1/4\nA\nK:G\nF\nM:3/4\nw: la la\nW: words").events,
            vec![note(69, 1, 8), note(69, 1, 4), note(66, 1, 4)]
        );
        // A single voice is fine.
        assert_eq!(tune("V:1\nK:C", "V:1\nC").events, vec![note(60, 1, 8)]);
    }

    #[test]
    fn continuation_and_comments() {
        assert_eq!(
            ev("A B \\\nc d % comment | ^^^\n%%directive\n% c d e\ne"),
            vec![note(69, 1, 8), note(71, 1, 8), note(72, 1, 8), note(74, 1, 8), note(76, 1, 8)]
        );
        // The tune ends at an empty line.
        assert_eq!(ev("A B\n\nc d"), vec![note(69, 1, 8), note(71, 1, 8)]);
    }

    #[test]
    fn malformed_inputs_give_errors() {
        let e = err("X:1\nT:no key\nM:4/4\nABC");
        assert!(e.message.contains("missing K:"), "{e}");
        assert_eq!(e.line, 4);
        assert!(err("X:1\nT:no key\nM:4/4").message.contains("missing K:"));
        assert!(err("T:t\nK:C\nABC").message.contains("missing X:"));
        assert!(err("").message.contains("no X:"));
        assert!(err("X:abc\nK:C\nA").message.contains("bad X:"));
        assert!(err("X:1\nK:C\nA#B").message.contains("unexpected character `#`"));
        assert!(err("X:1\nK:C\nA ^ B").message.contains("bad note"));
        assert!(err("X:1\nK:C\nA ^").message.contains("bad note"));
        assert!(err("X:1\nK:C\nA/0").message.contains("zero denominator"));
        assert!(err("X:1\nK:C\nA0").message.contains("zero note length"));
        assert!(err("X:1\nK:C\nA999999").message.contains("absurd"));
        assert!(err("X:1\nK:C\nA/99999").message.contains("absurd"));
        assert!(err("X:1\nK:C\nA////////////////").message.contains("absurd"));
        assert!(err("X:1\nK:C\nZ99999").message.contains("absurd"));
        assert!(err("X:1\nL:1/0\nK:C\nA").message.contains("bad unit"));
        assert!(err("X:1\nM:4/0\nK:C\nA").message.contains("meter"));
        assert!(err("X:1\nK:Bn\nA").message.contains("unknown mode"));
        assert!(err("X:1\nK:Q\nA").message.contains("unknown key"));
        assert!(err("X:1\nK:C\nc''''''").message.contains("range"));
        assert!(err("X:1\nK:C\nC,,,,,,,").message.contains("range"));
        // Truncated tunes.
        assert!(err("X:1\nT:t\nM:4/4\nL:1/8\nK:G").message.contains("no notes"));
        assert!(err("X:1\nK:C\nA B [CE").message.contains("unterminated chord"));
        assert!(err("X:1\nK:C\nA B \"Am").message.contains("unterminated"));
        assert!(err("X:1\nK:C\nA B {g").message.contains("unterminated grace"));
        assert!(err("X:1\nK:C\nA B [K:G").message.contains("unterminated inline"));
        assert!(err("X:1\nK:C\nA (3B").message.contains("tuplet"));
        assert!(err("X:1\nK:C\nA B>").message.contains("broken rhythm"));
        assert!(err("X:1\nK:C\nA B>|c").message.contains("broken rhythm"));
        assert!(err("X:1\nK:C\n>A").message.contains("without a preceding note"));
        assert!(err("X:1\nK:C\nZ").message.contains("without a meter"));
        assert!(err("X:1\nK:C\n[]").message.contains("empty chord"));
        assert!(err("X:1\nK:C\nA | : B").message.contains("`:`"));
        assert!(err("X:1\nK:C\nA |99 B").message.contains("ending"));
        assert!(err("X:1\nK:C\nA ^/B").message.contains("microtonal"));
        // Voices.
        let e = err("X:12\nT:t\nK:C\nA B & c d");
        assert_eq!(e.to_string(), "tune X:12, line 4: unsupported construct `&` (voice overlay)");
        assert!(err("X:1\nK:C\nV:1\nA\nV:2\nB").message.contains("several voices"));
    }

    #[test]
    fn collections_report_skips() {
        let text = "% file header\nT:free text\n\nX:1\nT:one\nK:C\nABc|\n\nX:2\nT:two\nK:C\nA B # c\n\
                    \nsome text\n\nX:3\nT:three\nK:G\nF|\nX:4\nT:no blank line before\nK:C\nc\n";
        let (tunes, skips) = parse_collection(text);
        assert_eq!(tunes.iter().map(|t| t.number).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert_eq!(tunes[1].title, "three");
        assert_eq!(skips, vec![Skip { number: 2, line: 12, reason: "unexpected character `#`".into() }]);
        assert_eq!(skips[0].to_string(), "tune X:2, line 12: unexpected character `#`");
    }

    #[test]
    fn write_and_read_back() {
        let t = tune(
            "T:Round trip\nM:6/8\nL:1/8\nQ:3/8=100\nK:D",
            "|: A>B c/d/e | ^f=f _B [CEG]2 (3ABc :|\n[1 z2 A,, c''2- | c'' d3 :|2 f2 e |]\n\
             [K:Bb] B E e ^^F __B =B | {g}A2 \"Am\"z4 | Z |",
        );
        round_trip(&t);
        let text = write_abc(&t);
        assert!(text.starts_with("X:1\nT:Round trip\nM:6/8\nL:1/8\nQ:1/4=150\nK:D\n"), "{text}");
        // Out-of-key notes and the natural signs they need.
        let t = tune("L:1/8\nK:F", "B =B B ^A | _B B =B c | F ^F G _G |");
        round_trip(&t);
        let body = write_abc(&t).lines().last().unwrap_or("").to_string();
        assert_eq!(body, "B =B B _B | B B =B c | F _G =G _G |");
        for key in [
            "C", "G", "D", "A", "E", "B", "F#", "C#", "F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb", "Am", "Ebm",
            "Ddor", "Emix", "none", "HP",
        ] {
            let t = tune(
                &format!("M:3/4\nL:1/16\nK:{key}"),
                "C ^C D ^D E F ^F G ^G A ^A B | c _d d _e e f _g g _a a _b b | C,, c'''",
            );
            round_trip(&t);
        }
        // Long tied notes, odd lengths, no meter.
        let t = tune("M:none\nL:1/4\nK:C", "A9999-A9999 B3/7 (5:4c2d2e2f2g2");
        round_trip(&t);
        // The extremes of the MIDI range.
        let t = tune("L:1/8\nK:C", "C,,,,, g''''");
        assert_eq!(t.events, vec![note(0, 1, 8), note(127, 1, 8)]);
        round_trip(&t);
        let t = tune("L:1/8\nK:C#", "C,,,,, B,,,,,, G''''");
        assert_eq!(t.events, vec![note(1, 1, 8), note(0, 1, 8), note(116, 1, 8)]);
        round_trip(&t);
    }

    #[test]
    fn never_panics_on_garbage() {
        // A small linear congruential generator: deterministic pseudo-random inputs.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let alphabet: Vec<char> =
            "ABCDEFGabcdefgzxZX^_=,'/0123456789|:[]{}()<>-!+\"~.% \\\nKLMQTV&#yéH".chars().collect();
        let base =
            "X:1\nT:t\nM:6/8\nL:1/8\nK:D\n|: A>B c/d/e | ^f=f _B [CEG]2 (3ABc :|[1 z2 A,, :|2 f2 e |]\n";
        let base_chars: Vec<char> = base.chars().collect();
        let mut parsed = 0;
        for round in 0..3000 {
            let text: String = if round % 2 == 0 {
                let len = next() % 60;
                let body: String = (0..len).map(|_| alphabet[next() % alphabet.len()]).collect();
                format!("X:1\nM:{}/8\nK:G\n{body}", next() % 13)
            } else {
                let mut chars = base_chars.clone();
                for _ in 0..(1 + next() % 4) {
                    let at = next() % chars.len();
                    chars[at] = alphabet[next() % alphabet.len()];
                }
                chars.into_iter().collect()
            };
            if let Ok(t) = parse_tune(&text) {
                parsed += 1;
                round_trip(&t);
            }
            let _ = parse_collection(&text);
        }
        assert!(parsed > 100, "{parsed}");
    }
}

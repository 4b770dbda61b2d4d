//! The tune body: notes, rests, bar lines, repeats and endings, tuplets, chords, decorations and
//! inline fields, read into items in written order.

use super::*;

// ---------------------------------------------------------------------------------------------
// Tune body

/// An element of the written tune, before repeats are played out.
#[derive(Clone, Debug)]
pub(super) enum Item {
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
pub(super) struct NoteTok {
    pub(super) letter: usize,
    pub(super) octave: i32,
    pub(super) acc: Option<i8>,
    pub(super) mult: Rational,
}

pub(super) struct Body {
    pub(super) line: usize,
    pub(super) unit: Rational,
    pub(super) meter: Option<Meter>,
    pub(super) sig: [i8; 7],
    /// Accidentals met in the current bar, by (letter, octave).
    pub(super) bar_acc: HashMap<(usize, i32), i8>,
    pub(super) items: Vec<Item>,
    /// Factor for the next note's duration, after `>` or `<`.
    pub(super) pending_broken: Option<Rational>,
    /// Active tuplet: duration factor and notes left.
    pub(super) tuplet: Option<(Rational, u32)>,
    /// After a tie: the tied note's letter, octave and pitch, which the next note keeps.
    pub(super) tie_carry: Option<(usize, i32, u8)>,
    /// Letter and octave of the last note or chord top (for a following `-`).
    pub(super) last_spell: Option<(usize, i32)>,
    pub(super) voice: Option<String>,
}

pub(super) fn find_from(chars: &[char], from: usize, c: char) -> Option<usize> {
    chars.iter().skip(from).position(|&x| x == c).map(|p| p + from)
}

pub(super) fn collect(chars: &[char], from: usize, to: usize) -> String {
    chars.iter().skip(from).take(to.saturating_sub(from)).collect()
}

/// Reads a decimal number of at most `max`; `Ok(None)` if there are no digits.
pub(super) fn read_number(chars: &[char], pos: &mut usize, max: i64, what: &str) -> Result<Option<i64>, String> {
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
pub(super) fn read_length(chars: &[char], pos: &mut usize) -> Result<Rational, String> {
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
pub(super) fn read_note(chars: &[char], pos: &mut usize) -> Result<NoteTok, String> {
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
pub(super) fn read_ending(chars: &[char], pos: &mut usize) -> Result<u32, String> {
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
    pub(super) fn line_of(&mut self, line: &str) -> Result<(), String> {
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


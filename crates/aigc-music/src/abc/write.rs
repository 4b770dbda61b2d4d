//! ABC text for a tune, spelled in its key, that parses back to the same events.


use super::*;
// ---------------------------------------------------------------------------------------------
// Writer

/// Spells a pitch in a key: (letter index, alteration). In-key notes use the key signature; other
/// notes are natural if possible, else sharp in sharp keys and flat in flat keys.
pub(super) fn spell(pitch: u8, sig: &[i8; 7], sharp_keys: bool) -> (usize, i8) {
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

pub(super) fn note_name(letter: usize, octave: i32) -> String {
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

pub(super) fn length_text(m: Rational) -> String {
    match (m.num, m.den) {
        (1, 1) => String::new(),
        (n, 1) => n.to_string(),
        (1, 2) => "/".to_string(),
        (1, d) => format!("/{d}"),
        (n, d) => format!("{n}/{d}"),
    }
}

/// Length multipliers (each within the parser's limits) that add up to `m`.
pub(super) fn length_pieces(m: Rational) -> Vec<Rational> {
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


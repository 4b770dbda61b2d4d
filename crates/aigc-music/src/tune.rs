//! The music domain: exact durations ([`Rational`], in whole notes), meters, keys and modes,
//! the events of a performed melody, and the [`Tune`] that holds them. ABC, MIDI, tokens and the
//! synthesiser all read and write these types.

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
    pub(crate) fn sharp_offset(self) -> i32 {
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
pub(crate) const LETTERS_UPPER: [char; 7] = ['C', 'D', 'E', 'F', 'G', 'A', 'B'];
/// Pitch class of each natural letter.
pub(crate) const NATURAL_PC: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
/// Position of each natural letter on the circle of fifths (sharps of its major key).
pub(crate) const LETTER_FIFTHS: [i32; 7] = [0, 2, 4, -1, 1, 3, 5];
/// Letters in the order sharps are added (F C G D A E B).
pub(crate) const SHARP_ORDER: [usize; 7] = [3, 0, 4, 1, 5, 2, 6];
/// Letters in the order flats are added (B E A D G C F).
pub(crate) const FLAT_ORDER: [usize; 7] = [6, 2, 5, 1, 4, 0, 3];

/// Key signature (alteration per letter C..B) of a key with `sharps` sharps (negative: flats).
pub(crate) fn signature_from_sharps(sharps: i32) -> [i8; 7] {
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

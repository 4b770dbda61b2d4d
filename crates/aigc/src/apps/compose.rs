//! Composition by constrained sampling from any run that offers [`Melodies`].
//!
//! Composition always yields a well-formed tune in the requested meter: after a pitch or `rest`
//! only durations are allowed, and only those that fit in what is left of the bar *and* leave a
//! remainder the vocabulary's durations can still fill; a full bar gets its bar line; after the
//! requested number of bars the tune ends. The model may open with a pickup (anacrusis, a bar
//! line before the first bar is full, as most folk tunes do); the last bar is then shortened by
//! the pickup's length, so pickup and last bar make one bar and every other bar is full. Within
//! those rules the model chooses (temperature, top-k, top-p as in text generation). Pitches are
//! limited to the training data's range.

use aigc_music::abc::parse_tune;
use aigc_music::tokens::{BAR, MusicVocab, REST, TUNE_END, TUNE_START, TokenKind, grid_units, key_token, meter_token};
use aigc_music::{Event, Key, Meter, Tune};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{AigcError, Result};
use crate::eval::melody::MusicEval;
use crate::sample::text::{NextTokenModel, SamplingConfig};

/// The capability of composing melodies: a next-token model over music tokens with its
/// vocabulary, and the family's own evaluation.
pub trait Melodies {
    fn model(&self) -> &dyn NextTokenModel;
    fn vocab(&self) -> &MusicVocab;
    /// The lowest and highest pitch of the training tunes.
    fn pitch_range(&self) -> (u8, u8);
    /// Held-out likelihoods against the Markov baseline, and statistics of `n` tunes of `bars`
    /// bars composed at temperature 1 (seeds `seed`, `seed + 1`, …) against the training tunes.
    fn evaluate(&self, n: usize, bars: usize, seed: u64) -> Result<MusicEval>;
}

/// What to compose.
pub struct ComposeRequest {
    pub key: Key,
    pub meter: Meter,
    pub bars: usize,
    /// ABC notes to start from (in the key and meter, unit length 1/8), e.g. `GABc`.
    pub primer: Option<String>,
    pub sampling: SamplingConfig,
    pub seed: u64,
    /// Lowest and highest pitch the tune may use.
    pub pitch_range: (u8, u8),
}

/// Parses a key (ABC key names: `G`, `Am`, `Ador`, `D mix`, `Bb`) to a key.
pub fn parse_key(key: &str) -> Result<Key> {
    if key.trim().is_empty() || key.contains(['\n', ']', '[']) {
        return Err(AigcError::invalid("key", format!("{key:?} is not an ABC key name (e.g. G, Am, Ador, Dmix, Bb)")));
    }
    parse_tune(&format!("X:1\nK:{key}\nC\n"))
        .map(|t| t.key)
        .map_err(|e| AigcError::invalid("key", format!("{key:?} is not an ABC key name (e.g. G, Am, Ador, Dmix, Bb): {}", e.message)))
}

/// Parses a meter (`6/8`, `4/4`, `C`, `C|`).
pub fn parse_meter(meter: &str) -> Result<Meter> {
    let bad = |why: &str| AigcError::invalid("meter", format!("{meter:?}: {why} (e.g. 6/8, 4/4, 3/4, 2/2, C)"));
    if meter.trim().is_empty() || meter.contains(['\n', ']', '[']) {
        return Err(bad("not a meter"));
    }
    let tune = parse_tune(&format!("X:1\nM:{meter}\nK:C\nC\n")).map_err(|e| bad(&e.message))?;
    tune.meter.filter(|m| m.num > 0 && m.den > 0).ok_or_else(|| bad("a free meter has no bars"))
}

/// Durations (96ths) that can fill `0..=len` exactly, given the allowed durations.
fn fillable(len: i64, durations: &[i64]) -> Vec<bool> {
    let mut ok = vec![false; len as usize + 1];
    ok[0] = true;
    for r in 1..=len as usize {
        ok[r] = durations.iter().any(|&d| d as usize <= r && ok[r - d as usize]);
    }
    ok
}

/// Composes a tune: the token sequence (with `<tune>` and `</tune>`) and the tune it spells.
pub fn compose(model: &dyn NextTokenModel, vocab: &MusicVocab, request: &ComposeRequest) -> Result<(Vec<u32>, Tune)> {
    let meter_id = vocab.id(&meter_token(request.meter)).ok_or_else(|| {
        let known: Vec<&str> = vocab.tokens.iter().filter_map(|t| t.strip_prefix("M:")).collect();
        AigcError::invalid("meter", format!("{}/{} is not in the data the model learned; it knows {}", request.meter.num, request.meter.den, known.join(", ")))
    })?;
    if request.bars == 0 || request.bars > 1000 {
        return Err(AigcError::invalid("bars", "must be between 1 and 1000"));
    }
    let bar_units = grid_units(request.meter.bar_length()).ok_or_else(|| AigcError::invalid("meter", "the bar length is not on the 1/96 grid"))?;
    let durations: Vec<(u32, i64)> = (0..vocab.len() as u32).filter_map(|id| match vocab.kind(id) {
        Some(TokenKind::Duration(u)) => Some((id, u)),
        _ => None,
    }).collect();
    let units: Vec<i64> = durations.iter().map(|d| d.1).collect();
    let can_fill = fillable(bar_units, &units);
    if !can_fill[bar_units as usize] {
        return Err(AigcError::invalid("meter", "no combination of the model's durations fills a bar of this meter"));
    }
    let pitches: Vec<u32> = (request.pitch_range.0..=request.pitch_range.1).filter_map(|p| vocab.id(&format!("P{p}"))).collect();
    let (bar_id, rest_id, end_id) = (vocab.fixed(BAR), vocab.fixed(REST), vocab.fixed(TUNE_END));

    let mut tokens = vec![vocab.fixed(TUNE_START), vocab.fixed(&key_token(request.key)), meter_id];
    let (mut filled, mut bars) = (0i64, 0usize);
    if let Some(primer) = &request.primer {
        let text = format!("X:1\nM:{}/{}\nL:1/8\nK:{}\n{primer}\n", request.meter.num, request.meter.den, request.key.abc_name());
        let tune = parse_tune(&text).map_err(|e| AigcError::invalid("primer", format!("{primer:?}: {}", e.message)))?;
        for (i, e) in tune.events.iter().filter(|e| !matches!(e, Event::Bar)).enumerate() {
            let u = grid_units(e.duration())
                .filter(|u| units.contains(u))
                .ok_or_else(|| AigcError::invalid("primer", format!("note {} has a duration ({}) the model does not know", i + 1, e.duration())))?;
            if filled + u > bar_units {
                return Err(AigcError::invalid("primer", format!("note {} crosses a bar line of {}/{}", i + 1, request.meter.num, request.meter.den)));
            }
            let head = match e {
                Event::Note { pitch, .. } => vocab.id(&format!("P{pitch}")).ok_or_else(|| AigcError::invalid("primer", "pitch out of range"))?,
                _ => rest_id,
            };
            let dur_id = durations.iter().find(|d| d.1 == u).map(|d| d.0).expect("checked above");
            tokens.extend([head, dur_id]);
            filled += u;
            if filled == bar_units {
                tokens.push(bar_id);
                (filled, bars) = (0, bars + 1);
            }
        }
        if !can_fill[(bar_units - filled) as usize] {
            return Err(AigcError::invalid("primer", "leaves a part of a bar that the model's durations cannot fill"));
        }
        if bars >= request.bars {
            return Err(AigcError::invalid("primer", format!("fills {bars} bars, as many as `bars` ({})", request.bars)));
        }
    }

    let mut rng = ChaCha8Rng::seed_from_u64(request.seed);
    let mut expecting_duration = false;
    // Length of an opening pickup bar (anacrusis), 0 for none.
    let mut pickup = 0i64;
    while bars < request.bars {
        // The last bar completes the pickup's bar, so the tune lasts whole bars.
        let target = if bars + 1 == request.bars { bar_units - pickup } else { bar_units };
        let allowed: Vec<u32> = if expecting_duration {
            durations.iter().filter(|(_, u)| filled + u <= target && can_fill[(target - filled - u) as usize]).map(|d| d.0).collect()
        } else if filled == target {
            vec![bar_id]
        } else {
            let may_end_pickup = bars == 0 && pickup == 0 && filled > 0 && request.bars > 1;
            pitches.iter().copied().chain([rest_id]).chain(may_end_pickup.then_some(bar_id)).collect()
        };
        let next = if allowed.len() == 1 {
            allowed[0]
        } else {
            let logits = model.next_logits(&tokens);
            let mut masked = vec![f32::NEG_INFINITY; logits.len()];
            for &a in &allowed {
                masked[a as usize] = logits[a as usize];
            }
            request.sampling.sample(&masked, &mut rng)
        };
        tokens.push(next);
        match vocab.kind(next) {
            Some(TokenKind::Duration(u)) => {
                filled += u;
                expecting_duration = false;
            }
            Some(TokenKind::Bar) if filled < target => (pickup, filled) = (filled, 0),
            Some(TokenKind::Bar) => (filled, bars) = (0, bars + 1),
            _ => expecting_duration = true,
        }
    }
    tokens.push(end_id);
    let mut tune = vocab.decode(&tokens, "aigc composition").map_err(|e| AigcError::invalid("tokens", e))?;
    tune.key = request.key;
    // the decoded events end with the final bar line; the written tune ends with `|]` anyway
    if matches!(tune.events.last(), Some(Event::Bar)) {
        tune.events.pop();
    }
    Ok((tokens, tune))
}

//! Melody models behind one interface (a neural language model or the Markov baseline), their
//! held-out negative log-likelihood per event, and composition by constrained sampling.
//!
//! Composition always yields a well-formed tune in the requested meter: after a pitch or `rest`
//! only durations are allowed, and only those that fit in what is left of the bar *and* leave a
//! remainder the vocabulary's durations can still fill; a full bar gets its bar line; after the
//! requested number of bars the tune ends. The model may open with a pickup (anacrusis, a bar
//! line before the first bar is full, as most folk tunes do); the last bar is then shortened by
//! the pickup's length, so pickup and last bar make one bar and every other bar is full. Within
//! those rules the model chooses (temperature, top-k, top-p as in text generation). Pitches are
//! limited to the training data's range.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::abc::{Event, Key, Meter, Tune, parse_tune};
use super::markov::Markov;
use super::tokens::{BAR, MusicVocab, REST, TUNE_END, TUNE_START, TokenKind, grid_units, key_token, meter_token};
use crate::error::{AigcError, Result};
use crate::models::lm::LanguageModel;
use crate::sample::text::{SamplingConfig, next_logits};

/// A next-token model over music tokens.
pub enum MelodyModel {
    Neural { model: LanguageModel, device: Device },
    Markov(Markov),
}

impl MelodyModel {
    /// Scores (logits, or log-probabilities for the Markov model) of the next token after
    /// `context` (a tune's tokens from its `<tune> K M` header on). A neural model reads the
    /// header and as many of the latest tokens as its window holds, as in training.
    pub fn logits(&self, context: &[u32]) -> Vec<f32> {
        match self {
            MelodyModel::Neural { model, device } => {
                let window = model.context_window().unwrap_or(usize::MAX);
                if context.len() <= window || context.len() < 3 || window <= 3 {
                    return next_logits(model, context, device);
                }
                let tail = &context[context.len() - (window - 3)..];
                next_logits(model, &[&context[..3], tail].concat(), device)
            }
            MelodyModel::Markov(m) => m.distribution(context).iter().map(|p| p.ln() as f32).collect(),
        }
    }

    /// Total negative log-likelihood (nats) of the tokens after `<tune> K M` of each sequence,
    /// and the number of events they make (a note or rest with its duration is one event; bar
    /// lines and the tune end are one each). Neural models read the header plus windows of the
    /// tune with half-window overlap, so every scored token sees the header and at least half a
    /// window of the tune before it (all of it in a tune shorter than the window).
    pub fn held_out_nll(&self, sequences: &[Vec<u32>], vocab: &MusicVocab) -> (f64, usize) {
        let events: usize = sequences.iter().map(|s| count_events(&s[3.min(s.len())..], vocab)).sum();
        let total = match self {
            MelodyModel::Markov(m) => sequences.iter().map(|s| (3..s.len()).map(|j| m.nll(&s[..j], s[j])).sum::<f64>()).sum(),
            MelodyModel::Neural { model, device } => {
                let window = model.context_window().unwrap_or(256).max(8);
                let stride = (window - 3) / 2;
                let mut total = 0.0;
                for s in sequences.iter().filter(|s| s.len() > 3) {
                    // the first window: the tune's start, targets 3..end
                    let mut done = window.min(s.len());
                    total += window_nll(model, device, &s[..done], 3);
                    // then targets [done, done + stride) after the header and the window − 3 − stride
                    // tokens before them
                    while done < s.len() {
                        let end = (done + stride).min(s.len());
                        let lo = end.saturating_sub(window - 3).max(3);
                        let tokens = [&s[..3], &s[lo..end]].concat();
                        total += window_nll(model, device, &tokens, 3 + done - lo);
                        done = end;
                    }
                }
                total
            }
        };
        (total, events)
    }
}

fn count_events(tokens: &[u32], vocab: &MusicVocab) -> usize {
    tokens.iter().filter(|&&t| !matches!(vocab.kind(t), Some(TokenKind::Duration(_)))).count()
}

/// −Σ ln p(tokens[j] | tokens[..j]) for j ≥ `first` (≥ 1), one forward pass.
fn window_nll(model: &LanguageModel, device: &Device, tokens: &[u32], first: usize) -> f64 {
    let first = first.max(1);
    if tokens.len() <= first {
        return 0.0;
    }
    let n = tokens.len();
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let logits = model.forward(Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), device));
    let vocab = logits.dims()[2];
    let log_probs = burn::tensor::activation::log_softmax(logits.reshape([n, vocab]), 1);
    let values = log_probs.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    (first..n).map(|j| -(values[(j - 1) * vocab + tokens[j] as usize] as f64)).sum()
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

/// Parses `--key` (ABC key names: `G`, `Am`, `Ador`, `D mix`, `Bb`) to a key.
pub fn parse_key(key: &str) -> Result<Key> {
    if key.trim().is_empty() || key.contains(['\n', ']', '[']) {
        return Err(AigcError::bad_argument("--key", format!("{key:?} is not an ABC key name (e.g. G, Am, Ador, Dmix, Bb)")));
    }
    parse_tune(&format!("X:1\nK:{key}\nC\n"))
        .map(|t| t.key)
        .map_err(|e| AigcError::bad_argument("--key", format!("{key:?} is not an ABC key name (e.g. G, Am, Ador, Dmix, Bb): {}", e.message)))
}

/// Parses `--meter` (`6/8`, `4/4`, `C`, `C|`).
pub fn parse_meter(meter: &str) -> Result<Meter> {
    let bad = |why: &str| AigcError::bad_argument("--meter", format!("{meter:?}: {why} (e.g. 6/8, 4/4, 3/4, 2/2, C)"));
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
pub fn compose(model: &MelodyModel, vocab: &MusicVocab, request: &ComposeRequest) -> Result<(Vec<u32>, Tune)> {
    let meter_id = vocab.id(&meter_token(request.meter)).ok_or_else(|| {
        let known: Vec<&str> = vocab.tokens.iter().filter_map(|t| t.strip_prefix("M:")).collect();
        AigcError::bad_argument("--meter", format!("{}/{} was not in the training data; the model knows {}", request.meter.num, request.meter.den, known.join(", ")))
    })?;
    if request.bars == 0 || request.bars > 1000 {
        return Err(AigcError::bad_argument("--bars", "must be between 1 and 1000"));
    }
    let bar_units = grid_units(request.meter.bar_length()).ok_or_else(|| AigcError::bad_argument("--meter", "the bar length is not on the 1/96 grid"))?;
    let durations: Vec<(u32, i64)> = (0..vocab.len() as u32).filter_map(|id| match vocab.kind(id) {
        Some(TokenKind::Duration(u)) => Some((id, u)),
        _ => None,
    }).collect();
    let units: Vec<i64> = durations.iter().map(|d| d.1).collect();
    let can_fill = fillable(bar_units, &units);
    if !can_fill[bar_units as usize] {
        return Err(AigcError::bad_argument("--meter", "no combination of the model's durations fills a bar of this meter"));
    }
    let pitches: Vec<u32> = (request.pitch_range.0..=request.pitch_range.1).filter_map(|p| vocab.id(&format!("P{p}"))).collect();
    let (bar_id, rest_id, end_id) = (vocab.fixed(BAR), vocab.fixed(REST), vocab.fixed(TUNE_END));

    let mut tokens = vec![vocab.fixed(TUNE_START), vocab.fixed(&key_token(request.key)), meter_id];
    let (mut filled, mut bars) = (0i64, 0usize);
    if let Some(primer) = &request.primer {
        let text = format!("X:1\nM:{}/{}\nL:1/8\nK:{}\n{primer}\n", request.meter.num, request.meter.den, request.key.abc_name());
        let tune = parse_tune(&text).map_err(|e| AigcError::bad_argument("--primer", format!("{primer:?}: {}", e.message)))?;
        for (i, e) in tune.events.iter().filter(|e| !matches!(e, Event::Bar)).enumerate() {
            let u = grid_units(e.duration())
                .filter(|u| units.contains(u))
                .ok_or_else(|| AigcError::bad_argument("--primer", format!("note {} has a duration ({}) the model does not know", i + 1, e.duration())))?;
            if filled + u > bar_units {
                return Err(AigcError::bad_argument("--primer", format!("note {} crosses a bar line of {}/{}", i + 1, request.meter.num, request.meter.den)));
            }
            let head = match e {
                Event::Note { pitch, .. } => vocab.id(&format!("P{pitch}")).ok_or_else(|| AigcError::bad_argument("--primer", "pitch out of range"))?,
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
            return Err(AigcError::bad_argument("--primer", "leaves a part of a bar that the model's durations cannot fill"));
        }
        if bars >= request.bars {
            return Err(AigcError::bad_argument("--primer", format!("fills {bars} bars, as many as --bars {}", request.bars)));
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
            let logits = model.logits(&tokens);
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
    let mut tune = vocab.decode(&tokens, "aigc composition")?;
    tune.key = request.key;
    // the decoded events end with the final bar line; the written tune ends with `|]` anyway
    if matches!(tune.events.last(), Some(Event::Bar)) {
        tune.events.pop();
    }
    Ok((tokens, tune))
}

//! A character chat over a play-formatted corpus (`NAME:` line, speech, blank line between
//! turns, as the embedded `shakespeare`): the user speaks as one character, the model answers as
//! another. The whole dialogue is the model's context, cropped to its window. What it is: a
//! character- or BPE-level model continuing a play script in which the user writes one part. It has no
//! memory beyond its window and no notion of meaning beyond the corpus' statistics.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::tokenizer::TextTokenizer;
use crate::error::{AigcError, Result};
use crate::sample::text::{NextTokenModel, SamplingConfig};

/// How often each speaker name (`NAME:` line after a blank line) occurs in `text`.
pub fn speakers(text: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for turn in text.split("\n\n") {
        let name = turn.trim_start_matches('\n').lines().next().and_then(|l| l.strip_suffix(':'));
        if let Some(name) = name.filter(|n| !n.is_empty() && n.chars().all(|c| !c.is_lowercase())) {
            *counts.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// A conversation between the user (as `user`) and the model (as `bot`).
pub struct Chat<'a> {
    model: &'a dyn NextTokenModel,
    tokenizer: &'a TextTokenizer,
    pub user: String,
    pub bot: String,
    sampling: SamplingConfig,
    rng: ChaCha8Rng,
    history: Vec<u32>,
    /// Longest reply, in characters.
    pub max_reply: usize,
}

impl<'a> Chat<'a> {
    /// Checks both names against the corpus' speakers (`corpus_speakers`).
    pub fn new(
        model: &'a dyn NextTokenModel,
        tokenizer: &'a TextTokenizer,
        user: &str,
        bot: &str,
        corpus_speakers: &BTreeMap<String, usize>,
        sampling: SamplingConfig,
        seed: u64,
    ) -> Result<Self> {
        let (user, bot) = (user.trim().to_uppercase(), bot.trim().to_uppercase());
        if corpus_speakers.is_empty() {
            return Err(AigcError::invalid(
                "run",
                "its training text has no speakers (`NAME:` lines between blank lines, as in shakespeare); chat needs a play-formatted corpus, use `aigc generate` (or `aigc poem` for tang-poems) instead",
            ));
        }
        for (field, name) in [("user", &user), ("bot", &bot)] {
            if !corpus_speakers.contains_key(name) {
                let mut common: Vec<(&String, &usize)> = corpus_speakers.iter().collect();
                common.sort_by(|a, b| b.1.cmp(a.1));
                let examples: Vec<&str> = common.iter().take(12).map(|(n, _)| n.as_str()).collect();
                return Err(AigcError::invalid(
                    field,
                    format!("{name:?} never speaks in the training text; speakers include {}", examples.join(", ")),
                ));
            }
            tokenizer.encode(name, field)?;
        }
        if let Some(vocab) = tokenizer.chars().filter(|v| v.id('\n').is_none() || v.id(':').is_none()) {
            return Err(AigcError::invalid("run", format!("the model was not trained on play-formatted text (no ':' or line breaks among its {} characters)", vocab.len())));
        }
        let history = tokenizer.encode("\n", "run")?;
        Ok(Self { model, tokenizer, user, bot, sampling, rng: ChaCha8Rng::seed_from_u64(seed), history, max_reply: 400 })
    }

    /// Adds the user's line, then samples the bot's turn until it ends (a blank line) or reaches
    /// `max_reply` characters, calling `on_text` as text comes (`Break` stops the reply).
    /// Characters a character-level model does not know are an error naming them.
    pub fn reply(&mut self, line: &str, mut on_text: impl FnMut(&str) -> ControlFlow<()>) -> Result<String> {
        let turn = self.turn_prompt(line, "line")?;
        self.history.extend(turn);
        let context_len = self.history.len();
        let mut decoder = self.tokenizer.decoder();
        // The reply so far; the turn ends at a blank line, which the bot's name line precedes.
        let mut reply = String::new();
        let mut chars = 0;
        'sampling: while chars < self.max_reply {
            let id = self.sampling.sample(&self.model.next_logits(&self.history), &mut self.rng);
            self.history.push(id);
            for c in decoder.push(id).chars() {
                if c == '\n' && (reply.is_empty() || reply.ends_with('\n')) {
                    break 'sampling;
                }
                reply.push(c);
                chars += 1;
                // A line break is passed on with the character after it: the one before the
                // blank line that ends the turn is not part of the reply.
                let mut piece = String::new();
                if c != '\n' {
                    if reply[..reply.len() - c.len_utf8()].ends_with('\n') {
                        piece.push('\n');
                    }
                    piece.push(c);
                }
                if (!piece.is_empty() && on_text(&piece).is_break()) || chars >= self.max_reply {
                    break 'sampling;
                }
            }
        }
        let reply = reply.trim_end().to_string();
        // The dialogue keeps the reply as `remember` would write it: the sampled tokens past the
        // turn's end (or a token that runs into the next turn) are not part of it.
        self.history.truncate(context_len);
        self.history.extend(self.tokenizer.encode(&format!("{reply}\n"), "history")?);
        Ok(reply)
    }

    /// Adds an earlier exchange (the user's line and the answer it got) to the dialogue without
    /// sampling: a stateless client sends the dialogue so far with every request.
    pub fn remember(&mut self, line: &str, reply: &str) -> Result<()> {
        let mut ids = self.turn_prompt(line, "history")?;
        ids.extend(self.tokenizer.encode(&format!("{}\n", reply.trim()), "history")?);
        self.history.extend(ids);
        Ok(())
    }

    /// The tokens that hand the turn from the user's `line` to the bot.
    fn turn_prompt(&self, line: &str, field: &str) -> Result<Vec<u32>> {
        self.tokenizer.encode(&format!("\n{}:\n{}\n\n{}:\n", self.user, line.trim(), self.bot), field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers_are_the_name_lines_of_turns() {
        let text = "ROMEO:\nBut soft!\n\nJULIET:\nAy me.\n\nROMEO:\nShe speaks.\n";
        let s = speakers(text);
        assert_eq!(s.get("ROMEO"), Some(&2));
        assert_eq!(s.get("JULIET"), Some(&1));
        assert_eq!(s.len(), 2);
        assert!(speakers("床前明月光，疑是地上霜。\n舉頭望明月，低頭思故鄉。\n").is_empty());
    }
}

//! Classical Chinese poems of a fixed form from a character language model, by constrained
//! decoding: every line has the form's number of characters, drawn only from the vocabulary's
//! CJK ideographs; "，" and "。" are placed by the form, not sampled; an acrostic (藏头诗) or a
//! starting character fixes the first character of the lines. The model trained on `tang-poems`
//! (one poem per line) is prompted with a line break, i.e. "a new poem begins".

use std::collections::HashSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::text::CharVocab;
use crate::error::{AigcError, Result};
use crate::sample::text::{NextTokenModel, SamplingConfig};

/// A regular poem form: lines × characters per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoemForm {
    pub lines: usize,
    pub chars: usize,
}

impl PoemForm {
    /// 五言绝句, 七言绝句, 五言律诗, 七言律诗 (simplified or traditional spelling).
    pub fn parse(name: &str) -> Result<Self> {
        let normalised: String = name.chars().map(|c| match c {
            '絕' => '绝',
            '詩' => '诗',
            other => other,
        }).collect();
        let form = match normalised.as_str() {
            "五言绝句" => Self { lines: 4, chars: 5 },
            "七言绝句" => Self { lines: 4, chars: 7 },
            "五言律诗" => Self { lines: 8, chars: 5 },
            "七言律诗" => Self { lines: 8, chars: 7 },
            _ => return Err(AigcError::invalid("form", format!("unknown form {name:?}; expected 五言绝句, 七言绝句, 五言律诗 or 七言律诗"))),
        };
        Ok(form)
    }

    /// Whether `poem` has exactly this form: its lines of ideographs, "，" after odd lines and
    /// "。" after even ones.
    pub fn matches(&self, poem: &str) -> bool {
        let chars: Vec<char> = poem.chars().collect();
        chars.len() == self.lines * (self.chars + 1)
            && chars.chunks(self.chars + 1).enumerate().all(|(i, line)| {
                line[..self.chars].iter().all(|&c| is_ideograph(c)) && line[self.chars] == punctuation(i)
            })
    }
}

/// The mark after line `i` (0-based): "，" after the first of each couplet, "。" after the second.
fn punctuation(i: usize) -> char {
    if i % 2 == 0 { '，' } else { '。' }
}

/// A CJK ideograph (the Unified blocks, their extensions and the compatibility block).
pub fn is_ideograph(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// What to write.
#[derive(Debug, Clone)]
pub struct PoemRequest {
    pub form: PoemForm,
    /// First character of the poem.
    pub start: Option<char>,
    /// First characters of the lines (藏头诗); at most one per line.
    pub acrostic: Vec<char>,
    pub sampling: SamplingConfig,
    pub seed: u64,
}

impl PoemRequest {
    pub fn validate(&self, vocab: &CharVocab) -> Result<()> {
        if self.acrostic.len() > self.form.lines {
            return Err(AigcError::invalid("acrostic",
                format!("{} characters for a poem of {} lines", self.acrostic.len(), self.form.lines),
            ));
        }
        if self.start.is_some() && !self.acrostic.is_empty() {
            return Err(AigcError::invalid("start", "give `start` or `acrostic`, not both"));
        }
        for (field, c) in self.start.iter().map(|c| ("start", *c)).chain(self.acrostic.iter().map(|c| ("acrostic", *c))) {
            if !is_ideograph(c) {
                return Err(AigcError::invalid(field, format!("{c:?} is not a Chinese character")));
            }
            if vocab.id(c).is_none() {
                return Err(AigcError::invalid(field, format!("{c:?} never occurs in the model's training poems")));
            }
        }
        if !vocab.chars.iter().any(|&c| is_ideograph(c)) {
            return Err(AigcError::invalid("run", "the model's vocabulary has no Chinese characters (train it on tang-poems)"));
        }
        if vocab.id('\n').is_none() {
            return Err(AigcError::invalid("run", "the model's vocabulary has no line break to start a poem with"));
        }
        Ok(())
    }
}

/// Writes one poem: the text (lines with their marks, no line breaks).
pub fn write_poem(model: &dyn NextTokenModel, vocab: &CharVocab, request: &PoemRequest) -> Result<String> {
    request.validate(vocab)?;
    let allowed: Vec<bool> = vocab.chars.iter().map(|&c| is_ideograph(c)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(request.seed);
    let mut context = vec![vocab.id('\n').expect("validated")];
    let mut poem = String::new();
    let form = request.form;
    for line in 0..form.lines {
        for pos in 0..form.chars {
            let fixed = match (line, pos) {
                (0, 0) => request.start.or(request.acrostic.first().copied()),
                (l, 0) => request.acrostic.get(l).copied(),
                _ => None,
            };
            let c = match fixed {
                Some(c) => c,
                None => {
                    let mut logits = model.next_logits(&context);
                    for (l, ok) in logits.iter_mut().zip(&allowed) {
                        if !ok {
                            *l = f32::NEG_INFINITY;
                        }
                    }
                    vocab.chars[request.sampling.sample(&logits, &mut rng) as usize]
                }
            };
            context.push(vocab.id(c).expect("sampled or validated from the vocabulary"));
            poem.push(c);
        }
        let mark = punctuation(line);
        if let Some(id) = vocab.id(mark) {
            context.push(id);
        }
        poem.push(mark);
    }
    Ok(poem)
}

/// The lines (runs of ideographs between marks) of a text.
pub fn poem_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_ideograph(c)).filter(|l| !l.is_empty())
}

/// The fraction of the lines of `poems` that occur verbatim in `training` (memorisation).
pub fn copied_line_fraction(poems: &[String], training: &str) -> f64 {
    let known: HashSet<&str> = poem_lines(training).collect();
    let lines: Vec<&str> = poems.iter().flat_map(|p| poem_lines(p)).collect();
    if lines.is_empty() {
        return 0.0;
    }
    lines.iter().filter(|l| known.contains(*l)).count() as f64 / lines.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_in_both_scripts_and_check_poems() {
        assert_eq!(PoemForm::parse("五言絕句").unwrap(), PoemForm { lines: 4, chars: 5 });
        assert_eq!(PoemForm::parse("七言律诗").unwrap(), PoemForm { lines: 8, chars: 7 });
        assert!(PoemForm::parse("宋词").unwrap_err().to_string().contains("form"));
        let form = PoemForm::parse("五言绝句").unwrap();
        assert!(form.matches("牀前看月光，疑是地上霜。舉頭望山月，低頭思故鄉。"));
        assert!(!form.matches("牀前看月光。疑是地上霜，舉頭望山月，低頭思故鄉。"));
        assert!(!form.matches("牀前看月光，疑是地上霜。"));
    }

    #[test]
    fn copied_lines_are_counted() {
        let training = "牀前看月光，疑是地上霜。\n";
        let poems = vec!["牀前看月光，春風吹又生。".to_string()];
        assert_eq!(copied_line_fraction(&poems, training), 0.5);
    }
}

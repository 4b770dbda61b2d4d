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

/// A poem's form: the number of characters of each line and the mark after it. The regular
/// Tang forms (lines × characters, "，" after odd lines, "。" after even ones) are built in; a
/// Song ci tune's (词牌) is learned from a corpus of titled ci ([`tune_patterns`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoemForm {
    /// 五言绝句, …, or the tune title (浣溪沙).
    pub name: String,
    /// Characters of each line.
    pub lengths: Vec<usize>,
    /// The mark after each line ("，" or "。").
    pub marks: Vec<char>,
    /// A ci's tune: the model is prompted with `TITLE：` (the corpus' line format).
    pub tune: bool,
}

impl serde::Serialize for PoemForm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("lines", &self.lengths.len())?;
        // Characters per line when every line has the same number (the regular forms).
        let same = self.lengths.windows(2).all(|w| w[0] == w[1]);
        map.serialize_entry("chars", &same.then(|| self.lengths.first().copied()).flatten())?;
        map.serialize_entry("pattern", &self.pattern())?;
        map.serialize_entry("tune", &self.tune)?;
        map.end()
    }
}

impl PoemForm {
    fn regular(name: &str, lines: usize, chars: usize) -> Self {
        Self { name: name.into(), lengths: vec![chars; lines], marks: (0..lines).map(punctuation).collect(), tune: false }
    }

    /// 五言绝句, 七言绝句, 五言律诗, 七言律诗 (simplified or traditional spelling).
    pub fn parse(name: &str) -> Result<Self> {
        let normalised: String = name.chars().map(|c| match c {
            '絕' => '绝',
            '詩' => '诗',
            other => other,
        }).collect();
        let form = match normalised.as_str() {
            "五言绝句" => Self::regular(name, 4, 5),
            "七言绝句" => Self::regular(name, 4, 7),
            "五言律诗" => Self::regular(name, 8, 5),
            "七言律诗" => Self::regular(name, 8, 7),
            _ => return Err(AigcError::invalid("form", format!("unknown form {name:?}; expected 五言绝句, 七言绝句, 五言律诗 or 七言律诗"))),
        };
        Ok(form)
    }

    /// The form called `name`: a regular form, or a tune title of the ci in `corpus` (lines
    /// `TITLE：BODY`, as `song-ci`), whose most common pattern there is its form.
    pub fn parse_with(name: &str, corpus: &str) -> Result<Self> {
        if let Ok(form) = Self::parse(name) {
            return Ok(form);
        }
        let tunes = tune_patterns(corpus);
        if let Some(tune) = tunes.get(name.trim()) {
            return Ok(tune.form.clone());
        }
        let mut common: Vec<(&String, &Tune)> = tunes.iter().collect();
        common.sort_by(|a, b| b.1.ci.cmp(&a.1.ci).then(a.0.cmp(b.0)));
        let examples: Vec<&str> = common.iter().take(10).map(|(t, _)| t.as_str()).collect();
        let tunes = if examples.is_empty() {
            String::new()
        } else {
            format!(", or a tune of the run's {} ci tunes, e.g. {}", common.len(), examples.join(", "))
        };
        Err(AigcError::invalid("form", format!("unknown form {name:?}; expected 五言绝句, 七言绝句, 五言律诗 or 七言律诗{tunes}")))
    }

    /// What the model is prompted with after the line break that starts a poem: `TITLE：` for a
    /// ci (the corpus' line format), nothing for a regular form.
    pub fn prompt(&self) -> String {
        if self.tune { format!("{}：", self.name) } else { String::new() }
    }

    /// The form as text: each line's length and mark, `7，7。`.
    pub fn pattern(&self) -> String {
        self.lengths.iter().zip(&self.marks).map(|(n, m)| format!("{n}{m}")).collect()
    }

    /// Whether `poem` has exactly this form: its lines of ideographs, each followed by its mark.
    pub fn matches(&self, poem: &str) -> bool {
        let mut chars = poem.chars();
        self.lengths.iter().zip(&self.marks).all(|(&n, &mark)| chars.by_ref().take(n).filter(|&c| is_ideograph(c)).count() == n && chars.next() == Some(mark))
            && chars.next().is_none()
    }
}

/// A tune's form as the corpus has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tune {
    pub form: PoemForm,
    /// Ci of this tune in the corpus, and how many of them have exactly its form.
    pub ci: usize,
    pub matching: usize,
}

/// The tunes (词牌) of a corpus of titled ci (lines `TITLE：BODY`, bodies of ideographs and the
/// marks "，" and "。"): for each title, the most common pattern of line lengths and marks among
/// its ci (ties: the first seen). Lines of another shape are skipped.
pub fn tune_patterns(corpus: &str) -> std::collections::BTreeMap<String, Tune> {
    use std::collections::{BTreeMap, HashMap};
    let mut seen: BTreeMap<String, (Vec<(Vec<usize>, Vec<char>)>, HashMap<usize, usize>)> = BTreeMap::new();
    for line in corpus.lines() {
        let Some((title, body)) = line.split_once('：') else { continue };
        if title.is_empty() || !title.chars().all(is_ideograph) {
            continue;
        }
        let (mut lengths, mut marks, mut run) = (Vec::new(), Vec::new(), 0);
        let mut ok = true;
        for c in body.chars() {
            match c {
                '，' | '。' if run > 0 => {
                    lengths.push(run);
                    marks.push(c);
                    run = 0;
                }
                c if is_ideograph(c) => run += 1,
                _ => ok = false,
            }
        }
        if !ok || run > 0 || lengths.is_empty() {
            continue;
        }
        let (patterns, counts) = seen.entry(title.to_string()).or_default();
        let key = (lengths, marks);
        let index = match patterns.iter().position(|p| *p == key) {
            Some(i) => i,
            None => {
                patterns.push(key);
                patterns.len() - 1
            }
        };
        *counts.entry(index).or_default() += 1;
    }
    seen.into_iter()
        .map(|(title, (patterns, counts))| {
            let ci = counts.values().sum();
            let best = (0..patterns.len()).max_by(|a, b| counts[a].cmp(&counts[b]).then(b.cmp(a))).expect("a title has a pattern");
            let (lengths, marks) = patterns[best].clone();
            let form = PoemForm { name: title.clone(), lengths, marks, tune: true };
            (title, Tune { form, ci, matching: counts[&best] })
        })
        .collect()
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
        if self.acrostic.len() > self.form.lengths.len() {
            return Err(AigcError::invalid("acrostic",
                format!("{} characters for a poem of {} lines", self.acrostic.len(), self.form.lengths.len()),
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
        if let Some(c) = self.form.prompt().chars().find(|&c| vocab.id(c).is_none()) {
            return Err(AigcError::invalid("form", format!("the tune title {:?} needs {c:?}, which the model never saw", self.form.name)));
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
    let form = &request.form;
    context.extend(form.prompt().chars().map(|c| vocab.id(c).expect("validated")));
    let mut poem = String::new();
    for (line, &length) in form.lengths.iter().enumerate() {
        for pos in 0..length {
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
        let mark = form.marks[line];
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
        assert_eq!(PoemForm::parse("五言絕句").unwrap().pattern(), "5，5。5，5。");
        assert_eq!(PoemForm::parse("七言律诗").unwrap().lengths, vec![7; 8]);
        assert!(PoemForm::parse("宋词").unwrap_err().to_string().contains("form"));
        let form = PoemForm::parse("五言绝句").unwrap();
        assert!(form.matches("牀前看月光，疑是地上霜。舉頭望山月，低頭思故鄉。"));
        assert!(!form.matches("牀前看月光。疑是地上霜，舉頭望山月，低頭思故鄉。"));
        assert!(!form.matches("牀前看月光，疑是地上霜。"));
    }

    #[test]
    fn tunes_are_the_most_common_pattern_of_their_title() {
        let corpus = "如梦令：常记溪亭日暮。沉醉不知归路。兴尽晚回舟，误入藕花深处。争渡。争渡。惊起一滩鸥鹭。\n\
            如梦令：昨夜雨疏风骤。浓睡不消残酒。试问卷帘人，却道海棠依旧。知否。知否。应是绿肥红瘦。\n\
            如梦令：争渡，争渡，惊起一滩鸥鹭。\n\
            not a ci\n";
        let tunes = tune_patterns(corpus);
        let tune = &tunes["如梦令"];
        assert_eq!((tune.ci, tune.matching), (3, 2));
        assert_eq!(tune.form.pattern(), "6。6。5，6。2。2。6。");
        assert!(tune.form.matches("昨夜雨疏风骤。浓睡不消残酒。试问卷帘人，却道海棠依旧。知否。知否。应是绿肥红瘦。"));
        assert!(!tune.form.matches("争渡，争渡，惊起一滩鸥鹭。"));
        assert_eq!(PoemForm::parse_with("如梦令", corpus).unwrap(), tune.form);
        let err = PoemForm::parse_with("浣溪沙", corpus).unwrap_err().to_string();
        assert!(err.starts_with("form: ") && err.contains("如梦令"), "{err}");
    }

    #[test]
    fn copied_lines_are_counted() {
        let training = "牀前看月光，疑是地上霜。\n";
        let poems = vec!["牀前看月光，春風吹又生。".to_string()];
        assert_eq!(copied_line_fraction(&poems, training), 0.5);
    }
}

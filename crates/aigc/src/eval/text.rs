//! Measuring generated text: diversity as distinct-1/2/3 (Li et al. 2016: distinct n-grams over
//! all n-grams, pooled over the samples) and memorisation as the share of generated 8-grams found
//! verbatim in the training text; each beside the same figure for held-out text cut to the same
//! lengths, which says what the corpus itself scores. Units are words for text with spaces
//! between words and characters otherwise (Chinese).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

/// The n of the copy measure: an 8-gram of words is rarely repeated by chance.
pub const COPY_N: usize = 8;

/// What a text's measures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextUnit {
    Word,
    Char,
}

impl TextUnit {
    /// Words when at least one character in twenty of `text` is white space, else characters.
    pub fn of(text: &str) -> Self {
        let (mut chars, mut spaces) = (0usize, 0usize);
        for c in text.chars().take(1 << 20) {
            chars += 1;
            spaces += c.is_whitespace() as usize;
        }
        if spaces * 20 >= chars { TextUnit::Word } else { TextUnit::Char }
    }

    /// The units of `text`: white-space separated words, or the characters that are not white
    /// space.
    pub fn split(self, text: &str) -> Vec<String> {
        match self {
            TextUnit::Word => text.split_whitespace().map(str::to_string).collect(),
            TextUnit::Char => text.chars().filter(|c| !c.is_whitespace()).map(String::from).collect(),
        }
    }
}

/// Distinct-1/2/3 and the 8-gram copy share of a set of texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextMeasures {
    /// Distinct n-grams over all n-grams, for n = 1, 2, 3, pooled over the texts.
    pub distinct: [f64; 3],
    /// Share of the texts' 8-grams that occur in the training text.
    pub copied_8grams: f64,
    /// Units measured.
    pub units: usize,
}

fn hash_gram(gram: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    gram.hash(&mut h);
    h.finish()
}

/// The set of `n`-grams (hashed) of `units`.
pub fn ngram_set(units: &[String], n: usize) -> HashSet<u64> {
    units.windows(n).map(hash_gram).collect()
}

/// Distinct n-grams over all n-grams of `texts` (n-grams do not cross texts); 0 when there are
/// none.
pub fn distinct_n(texts: &[Vec<String>], n: usize) -> f64 {
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for units in texts {
        for gram in units.windows(n) {
            total += 1;
            seen.insert(hash_gram(gram));
        }
    }
    if total == 0 { 0.0 } else { seen.len() as f64 / total as f64 }
}

/// Share of the `n`-grams of `texts` that are in `training` (from [`ngram_set`]); 0 when the texts
/// have none.
pub fn copied_share(texts: &[Vec<String>], training: &HashSet<u64>, n: usize) -> f64 {
    let (mut copied, mut total) = (0usize, 0usize);
    for units in texts {
        for gram in units.windows(n) {
            total += 1;
            copied += training.contains(&hash_gram(gram)) as usize;
        }
    }
    if total == 0 { 0.0 } else { copied as f64 / total as f64 }
}

/// The measures of `texts` against the training 8-grams.
pub fn measure(texts: &[String], unit: TextUnit, training: &HashSet<u64>) -> TextMeasures {
    let split: Vec<Vec<String>> = texts.iter().map(|t| unit.split(t)).collect();
    TextMeasures {
        distinct: [1, 2, 3].map(|n| distinct_n(&split, n)),
        copied_8grams: copied_share(&split, training, COPY_N),
        units: split.iter().map(Vec::len).sum(),
    }
}

/// `n` pieces of `text` of `chars` characters each, evenly spaced (fewer when it is short).
pub fn pieces(text: &str, n: usize, chars: usize) -> Vec<String> {
    let all: Vec<char> = text.chars().collect();
    if all.len() < chars || n == 0 {
        return vec![all.iter().collect()];
    }
    let stride = ((all.len() - chars) / n.max(1)).max(1);
    (0..n).map(|i| i * stride).filter(|&s| s + chars <= all.len()).map(|s| all[s..s + chars].iter().collect()).collect()
}

/// `aigc eval` of a text run: samples from a newline, measured beside held-out text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextEvalReport {
    pub run: std::path::PathBuf,
    pub data: String,
    /// `char` or `bpe`.
    pub tokenizer: String,
    pub samples: usize,
    /// Characters per sample (and per held-out piece).
    pub chars_per_sample: usize,
    pub seed: u64,
    pub temperature: f64,
    pub unit: TextUnit,
    pub generated: TextMeasures,
    /// The same measures on held-out text cut into pieces of the same length.
    pub held_out: TextMeasures,
    /// The run's last held-out loss estimate: step and bits per character.
    pub val_bpc: Option<(usize, f64)>,
    pub unigram_bpc: Option<f64>,
    /// The first sample.
    pub example: String,
}

impl TextEvalReport {
    /// One line, as `aigc eval` prints it.
    pub fn summary(&self) -> String {
        let d = |m: &TextMeasures| format!("{:.3}/{:.3}/{:.3}", m.distinct[0], m.distinct[1], m.distinct[2]);
        let bpc = self.val_bpc.map(|(step, b)| format!("; validation {b:.3} bits/char at step {step}")).unwrap_or_default();
        format!(
            "{} samples of {} chars ({} units): distinct-1/2/3 {} (held-out text {}), {}-grams copied from training {:.1}% (held-out text {:.1}%){bpc}",
            self.samples,
            self.chars_per_sample,
            match self.unit {
                TextUnit::Word => "word",
                TextUnit::Char => "character",
            },
            d(&self.generated),
            d(&self.held_out),
            COPY_N,
            100.0 * self.generated.copied_8grams,
            100.0 * self.held_out.copied_8grams,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        TextUnit::Word.split(s)
    }

    #[test]
    fn distinct_counts_unique_ngrams_over_all() {
        let texts = vec![words("the cat the cat the dog")];
        assert!((distinct_n(&texts, 1) - 3.0 / 6.0).abs() < 1e-12);
        // Bigrams: the cat, cat the, the cat, cat the, the dog: 3 distinct of 5.
        assert!((distinct_n(&texts, 2) - 3.0 / 5.0).abs() < 1e-12);
        assert_eq!(distinct_n(&[words("one")], 2), 0.0);
    }

    #[test]
    fn copied_share_finds_verbatim_ngrams_only() {
        let training = ngram_set(&words("a b c d e f g h i j k"), 8);
        let copied = vec![words("a b c d e f g h i")];
        assert_eq!(copied_share(&copied, &training, 8), 1.0);
        let half = vec![words("a b c d e f g h x y")];
        // 3 grams: [a..h] copied, [b..x] and [c..y] not.
        assert!((copied_share(&half, &training, 8) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn units_are_words_or_characters() {
        assert_eq!(TextUnit::of("To be, or not to be"), TextUnit::Word);
        assert_eq!(TextUnit::of("床前明月光，疑是地上霜。\n舉頭望明月，低頭思故鄉。"), TextUnit::Char);
        assert_eq!(TextUnit::Char.split("明月 光\n"), ["明", "月", "光"]);
        let p = pieces("abcdefghij", 3, 4);
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|s| s.chars().count() == 4));
    }
}

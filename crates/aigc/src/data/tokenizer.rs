//! A text run's tokeniser: characters ([`CharVocab`], a run's `vocab.json`) or a byte-level BPE
//! (GPT-2's scheme, trained on the training split with Hugging Face's `tokenizers` crate and
//! saved as the run's `tokenizer.json`, which `tokenizers` in Python reads as it is). Byte-level
//! BPE spells any UTF-8 text, so encoding never fails; a sampled token sequence may end inside a
//! character, so decoding streams bytes ([`TextDecoder`]) and only gives out whole characters.

use std::path::Path;

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

use super::text::CharVocab;
use crate::error::{AigcError, Result};

crate::named_choice! {
    /// How text becomes tokens.
    pub enum TokenizerKind ("tokenizer") {
        /// One token per Unicode character (`vocab.json`).
        Char = "char",
        /// Byte-level byte-pair encoding (`tokenizer.json`).
        Bpe = "bpe",
    }
}

/// A byte-level BPE has a token for each of the 256 bytes before any merge.
pub const BYTE_TOKENS: usize = 256;
/// The largest BPE vocabulary `--vocab-size` takes.
pub const MAX_VOCAB: usize = 1 << 16;

/// A trained byte-level BPE and the bytes each token stands for.
#[derive(Clone)]
pub struct Bpe {
    inner: tokenizers::Tokenizer,
    bytes: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Bpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bpe({} tokens)", self.bytes.len())
    }
}

/// GPT-2's map from bytes to printable characters (`bytes_to_unicode`), in which byte-level BPE
/// tokens are written: printable Latin-1 bytes stand for themselves, the others for U+0100 on.
fn byte_chars() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in map.iter_mut().enumerate() {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        *slot = if printable {
            char::from(b as u8)
        } else {
            next += 1;
            char::from_u32(next - 1).expect("U+0100..U+0143 are characters")
        };
    }
    map
}

/// Checks a BPE vocabulary size against [`BYTE_TOKENS`] and [`MAX_VOCAB`] (the config's
/// `vocab_size`).
pub fn check_vocab_size(vocab_size: usize) -> Result<()> {
    if !(BYTE_TOKENS..=MAX_VOCAB).contains(&vocab_size) {
        return Err(AigcError::invalid(
            "vocab_size",
            format!("a byte-level BPE has between {BYTE_TOKENS} (the bytes) and {MAX_VOCAB} tokens, got {vocab_size}"),
        ));
    }
    Ok(())
}

fn tokenizer_error(what: &str, e: impl std::fmt::Display) -> AigcError {
    AigcError::invalid("tokenizer", format!("{what}: {e}"))
}

impl Bpe {
    /// Trains a BPE of `vocab_size` tokens on `text` (GPT-2's pre-tokenisation: words, numbers,
    /// punctuation and runs of white space are split before merging; pairs seen once are not
    /// merged). A vocabulary the text cannot fill is an error saying how many tokens it allows.
    pub fn train(text: &str, vocab_size: usize) -> Result<Self> {
        check_vocab_size(vocab_size)?;
        if text.is_empty() {
            return Err(AigcError::invalid("data", "the training text is empty: a BPE has nothing to learn from"));
        }
        let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
        tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        tokenizer.with_decoder(Some(ByteLevel::default()));
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .show_progress(false)
            .vocab_size(vocab_size)
            .min_frequency(2)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        tokenizer.train(&mut trainer, text.split_inclusive('\n')).map_err(|e| tokenizer_error("training the BPE", e))?;
        let bpe = Self::from_tokenizer(tokenizer.into())?;
        if bpe.len() < vocab_size {
            return Err(AigcError::invalid(
                "vocab_size",
                format!("the training text allows only {} BPE tokens (every pair seen twice is merged), fewer than the {vocab_size} asked; use --vocab-size {} or less", bpe.len(), bpe.len()),
            ));
        }
        Ok(bpe)
    }

    /// Checks that `inner` is a byte-level BPE whose ids run from 0 without gaps.
    fn from_tokenizer(inner: tokenizers::Tokenizer) -> Result<Self> {
        let chars = byte_chars();
        let mut byte_of = std::collections::HashMap::new();
        for (b, c) in chars.iter().enumerate() {
            byte_of.insert(*c, b as u8);
        }
        let vocab = inner.get_vocab(false);
        let len = vocab.len();
        let mut bytes = vec![None; len];
        for (token, id) in vocab {
            let spelled: Option<Vec<u8>> = token.chars().map(|c| byte_of.get(&c).copied()).collect();
            let slot = bytes.get_mut(id as usize).ok_or_else(|| tokenizer_error("not a byte-level BPE", format!("token id {id} is past the vocabulary of {len}")))?;
            *slot = Some(spelled.ok_or_else(|| tokenizer_error("not a byte-level BPE", format!("token {token:?} is not written in GPT-2's byte alphabet")))?);
        }
        let bytes: Vec<Vec<u8>> = bytes.into_iter().collect::<Option<_>>().ok_or_else(|| tokenizer_error("not a byte-level BPE", "its token ids have gaps"))?;
        if bytes.len() < BYTE_TOKENS {
            return Err(tokenizer_error("not a byte-level BPE", format!("{} tokens, fewer than the {BYTE_TOKENS} bytes", bytes.len())));
        }
        Ok(Self { inner, bytes })
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self.inner.encode_fast(text, false) {
            Ok(encoding) => encoding.get_ids().to_vec(),
            // A byte-level BPE spells every string; an error here is a bug in the tokenizer.
            Err(e) => panic!("byte-level BPE failed to encode {} bytes: {e}", text.len()),
        }
    }

    /// The bytes `ids` stand for (ids outside the vocabulary are skipped).
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        ids.iter().filter_map(|&id| self.bytes.get(id as usize)).flatten().copied().collect()
    }

    /// The tokenizer as `tokenizers` saves it (`tokenizer.json`).
    pub fn to_json(&self) -> String {
        self.inner.to_string(false).expect("a BPE tokenizer serialises")
    }

    pub fn from_json(json: &str) -> std::result::Result<Self, String> {
        let inner: tokenizers::Tokenizer = json.parse().map_err(|e| format!("not a tokenizers tokenizer.json: {e}"))?;
        Self::from_tokenizer(inner).map_err(|e| e.to_string())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let json = crate::io::read_text(path, crate::io::limits::JSON_BYTES)?;
        Self::from_json(&json).map_err(|e| AigcError::bad_data(path, e))
    }
}

/// A text model's tokeniser.
#[derive(Debug, Clone)]
pub enum TextTokenizer {
    Char(CharVocab),
    Bpe(Bpe),
}

impl TextTokenizer {
    pub fn kind(&self) -> TokenizerKind {
        match self {
            TextTokenizer::Char(_) => TokenizerKind::Char,
            TextTokenizer::Bpe(_) => TokenizerKind::Bpe,
        }
    }

    /// Tokens in the vocabulary.
    pub fn len(&self) -> usize {
        match self {
            TextTokenizer::Char(v) => v.len(),
            TextTokenizer::Bpe(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The character vocabulary of a character-level tokeniser (poems pick characters).
    pub fn chars(&self) -> Option<&CharVocab> {
        match self {
            TextTokenizer::Char(v) => Some(v),
            TextTokenizer::Bpe(_) => None,
        }
    }

    /// Token ids of `text`; a character a character-level model does not know is an error
    /// naming it and `field`.
    pub fn encode(&self, text: &str, field: &str) -> Result<Vec<u32>> {
        match self {
            TextTokenizer::Char(v) => v.encode(text, field),
            TextTokenizer::Bpe(b) => Ok(b.encode(text)),
        }
    }

    /// Token ids of `text`, dropping characters a character-level model does not know.
    pub fn encode_lossy(&self, text: &str) -> Vec<u32> {
        match self {
            TextTokenizer::Char(v) => v.encode_lossy(text),
            TextTokenizer::Bpe(b) => b.encode(text),
        }
    }

    /// The text of `ids` (bytes that do not form UTF-8 become U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            TextTokenizer::Char(v) => v.decode(ids),
            TextTokenizer::Bpe(b) => String::from_utf8_lossy(&b.decode_bytes(ids)).into_owned(),
        }
    }

    /// A decoder that turns tokens into text one at a time.
    pub fn decoder(&self) -> TextDecoder<'_> {
        TextDecoder { tokenizer: self, pending: Vec::new() }
    }

    /// The file name the tokeniser is saved under in a run.
    pub fn file_name(kind: TokenizerKind) -> &'static str {
        match kind {
            TokenizerKind::Char => "vocab.json",
            TokenizerKind::Bpe => "tokenizer.json",
        }
    }

    /// What the run saves (`vocab.json` or `tokenizer.json`).
    pub fn to_json(&self) -> String {
        match self {
            TextTokenizer::Char(v) => v.to_json(),
            TextTokenizer::Bpe(b) => b.to_json(),
        }
    }

    /// The tokeniser of kind `kind` saved in the run folder `root`.
    pub fn load(root: &Path, kind: TokenizerKind) -> Result<Self> {
        let path = root.join(Self::file_name(kind));
        Ok(match kind {
            TokenizerKind::Char => TextTokenizer::Char(CharVocab::load(&path)?),
            TokenizerKind::Bpe => TextTokenizer::Bpe(Bpe::load(&path)?),
        })
    }

    /// Bits per token of the held-out tokens under the training tokens' unigram frequencies
    /// (add-one smoothed): the baseline a model must beat, as a rate per token.
    pub fn unigram_bits(&self, train: &[u32], validation: &[u32]) -> f64 {
        let mut counts = vec![1.0f64; self.len()];
        train.iter().for_each(|&t| counts[t as usize] += 1.0);
        let total: f64 = counts.iter().sum();
        let bits: f64 = validation.iter().map(|&t| -(counts[t as usize] / total).log2()).sum();
        bits / validation.len().max(1) as f64
    }
}

/// Turns tokens into text as they come: a token that ends inside a UTF-8 character waits for
/// the rest of it; bytes that cannot be UTF-8 come out as U+FFFD.
pub struct TextDecoder<'a> {
    tokenizer: &'a TextTokenizer,
    pending: Vec<u8>,
}

impl TextDecoder<'_> {
    /// The text that `id` completes (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        match self.tokenizer {
            TextTokenizer::Char(v) => v.decode(&[id]),
            TextTokenizer::Bpe(b) => {
                self.pending.extend(b.decode_bytes(&[id]));
                let mut out = String::new();
                loop {
                    match std::str::from_utf8(&self.pending) {
                        Ok(text) => {
                            out.push_str(text);
                            self.pending.clear();
                            break;
                        }
                        Err(e) => {
                            let valid = e.valid_up_to();
                            out.push_str(std::str::from_utf8(&self.pending[..valid]).expect("checked valid"));
                            match e.error_len() {
                                // The rest may be the start of a character still to come.
                                None => {
                                    self.pending.drain(..valid);
                                    break;
                                }
                                Some(bad) => {
                                    out.push(char::REPLACEMENT_CHARACTER);
                                    self.pending.drain(..valid + bad);
                                }
                            }
                        }
                    }
                }
                out
            }
        }
    }

    /// What is left at the end of the stream: an unfinished character, as U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n\
        床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。\n";

    fn trained() -> Bpe {
        Bpe::train(&TEXT.repeat(20), 300).unwrap()
    }

    #[test]
    fn byte_alphabet_is_gpt2s() {
        let chars = byte_chars();
        assert_eq!(chars[b'A' as usize], 'A');
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        let distinct: std::collections::BTreeSet<char> = chars.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn bpe_round_trips_any_text_byte_for_byte() {
        let bpe = trained();
        assert_eq!(bpe.len(), 300);
        for text in [
            TEXT,
            "",
            "unseen words: zyzzyva, Qatar, 2026-12-08",
            "🦀 emoji, ZWJ 👩‍👩‍👧, combining e\u{301}, lone accents \u{301}\u{302}",
            "\u{0}\u{1}\u{7f}\t\r\n  \u{feff}\u{fffd}\u{10ffff} control and edge code points",
            "鐵馬冰河入夢來 — 從未見過的漢字",
        ] {
            let ids = bpe.encode(text);
            assert_eq!(bpe.decode_bytes(&ids), text.as_bytes(), "{text:?}");
        }
        // Merges were learned: the training text takes a third fewer tokens than bytes.
        assert!(bpe.encode(TEXT).len() * 3 < TEXT.len() * 2, "{} tokens for {} bytes", bpe.encode(TEXT).len(), TEXT.len());
    }

    #[test]
    fn bpe_saves_and_loads_the_same_tokenizer() {
        let bpe = trained();
        let back = Bpe::from_json(&bpe.to_json()).unwrap();
        assert_eq!(back.bytes, bpe.bytes);
        assert_eq!(back.encode(TEXT), bpe.encode(TEXT));
        assert!(Bpe::from_json("{\"model\": 3}").unwrap_err().contains("tokenizer.json"));
    }

    #[test]
    fn streaming_decoder_waits_for_whole_characters() {
        let bpe = TextTokenizer::Bpe(trained());
        let text = "鄉。 crab 🦀";
        let ids = bpe.encode(text, "prompt").unwrap();
        let mut decoder = bpe.decoder();
        let pieces: Vec<String> = ids.iter().map(|&id| decoder.push(id)).collect();
        assert_eq!(pieces.concat(), text);
        // Byte tokens of a 4-byte character: nothing until the last one.
        let bytes = "🦀".as_bytes();
        let TextTokenizer::Bpe(inner) = &bpe else { unreachable!() };
        let byte_ids: Vec<u32> = bytes.iter().map(|b| inner.bytes.iter().position(|t| t == &vec![*b]).unwrap() as u32).collect();
        let mut decoder = bpe.decoder();
        let out: Vec<String> = byte_ids.iter().map(|&id| decoder.push(id)).collect();
        assert_eq!(out, ["", "", "", "🦀"]);
        // A stray continuation byte is U+FFFD; an unfinished character at the end too.
        let mut decoder = bpe.decoder();
        assert_eq!(decoder.push(byte_ids[1]), "\u{fffd}");
        assert_eq!(decoder.push(byte_ids[0]), "");
        assert_eq!(decoder.finish(), "\u{fffd}");
    }

    #[test]
    fn bad_vocabulary_sizes_are_refused_by_name() {
        for size in [0, 255, MAX_VOCAB + 1] {
            let e = Bpe::train(TEXT, size).unwrap_err().to_string();
            assert!(e.contains("vocab_size") && e.contains("256"), "{e}");
        }
        let e = Bpe::train(TEXT, 60_000).unwrap_err().to_string();
        assert!(e.contains("vocab_size") && e.contains("allows only"), "{e}");
        assert!(Bpe::train("", 300).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn unigram_baseline_is_the_entropy_of_token_frequencies() {
        let t = TextTokenizer::Char(CharVocab::from_text("ab"));
        // Counts 1 + 3 and 1 + 1 (add-one): p(a) = 2/3.
        let bits = t.unigram_bits(&[0, 0, 0, 1], &[0]);
        assert!((bits - (1.5f64).log2()).abs() < 1e-12);
    }
}

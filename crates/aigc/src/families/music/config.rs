//! The music family's training config: the language-model config ([`TextTrainConfig`]) with the
//! melody settings, written flat into the manifest (`arch = "markov"` for the baseline).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AigcError, Result};
use crate::families::lm::{LmArch, TextTrainConfig};

crate::named_choice! {
    /// A melody model: a language model's network, or the Markov baseline.
    pub enum MelodyArch ("music architecture") {
        Gpt = "gpt",
        Lstm = "lstm",
        Gru = "gru",
        /// The keyed n-gram baseline: counts, no network.
        Markov = "markov",
    }
}

impl MelodyArch {
    /// The network of a neural melody model (`None`: the Markov baseline).
    pub fn network(self) -> Option<LmArch> {
        match self {
            MelodyArch::Gpt => Some(LmArch::Gpt),
            MelodyArch::Lstm => Some(LmArch::Lstm),
            MelodyArch::Gru => Some(LmArch::Gru),
            MelodyArch::Markov => None,
        }
    }
}

/// Everything that defines a melody run.
#[derive(Debug, Clone, PartialEq)]
pub struct MusicTrainConfig {
    pub arch: MelodyArch,
    /// The language model's settings (its `arch` follows [`Self::arch`] for neural models).
    pub lm: TextTrainConfig,
    /// Train on each tune in all twelve keys (−5 to +6 semitones).
    pub transpose: bool,
    /// The Markov baseline's order: tokens of context plus one.
    pub markov_order: usize,
}

impl Default for MusicTrainConfig {
    /// `aigc train music`'s defaults: the text trainer's, with a longer window (a tune is a few
    /// hundred tokens), a larger batch, and an LSTM (MelodyRNN's model) of two layers of 256
    /// units; the order-5 Markov baseline.
    fn default() -> Self {
        let lm = TextTrainConfig::new()
            .with_arch(LmArch::Lstm)
            .with_data("folk".into())
            .with_block_size(128)
            .with_batch_size(16)
            .with_n_layer(2)
            .with_hidden(256);
        Self { arch: MelodyArch::Lstm, lm, transpose: true, markov_order: 5 }
    }
}

impl MusicTrainConfig {
    pub fn validate(&self) -> Result<()> {
        if self.markov_order == 0 || self.markov_order > 32 {
            return Err(AigcError::invalid("markov_order", format!("must be between 1 and 32, got {}", self.markov_order)));
        }
        self.lm.validate()
    }

    /// The language-model config of a neural run (`None` for the Markov baseline).
    pub fn network(&self) -> Option<TextTrainConfig> {
        self.arch.network().map(|arch| self.lm.clone().with_arch(arch))
    }
}

impl Serialize for MusicTrainConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let serde_json::Value::Object(lm) = serde_json::to_value(&self.lm).map_err(serde::ser::Error::custom)? else {
            return Err(serde::ser::Error::custom("a language-model config serialises to a map"));
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("arch", self.arch.name())?;
        for (key, value) in lm.iter().filter(|(k, _)| !matches!(k.as_str(), "arch" | "tokenizer" | "vocab_size")) {
            // Unset optional fields stay unset (TOML omits them, JSON writes null).
            if value.is_null() {
                map.serialize_entry(key, &None::<u8>)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("transpose", &self.transpose)?;
        map.serialize_entry("markov_order", &self.markov_order)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for MusicTrainConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        // `arch`, `transpose` and `markov_order` are the melody settings' own; every other key is
        // the language model's.
        let mut table = toml::Table::deserialize(deserializer)?;
        let defaults = Self::default();
        let mut own = |key: &str| table.remove(key);
        let arch = match own("arch") {
            Some(v) => MelodyArch::parse(v.as_str().ok_or_else(|| D::Error::custom("arch must be a string"))?).map_err(D::Error::custom)?,
            None => defaults.arch,
        };
        let transpose = match own("transpose") {
            Some(v) => v.as_bool().ok_or_else(|| D::Error::custom("transpose must be true or false"))?,
            None => defaults.transpose,
        };
        let markov_order = match own("markov_order") {
            Some(v) => usize::try_from(v.as_integer().ok_or_else(|| D::Error::custom("markov_order must be a whole number"))?).map_err(D::Error::custom)?,
            None => defaults.markov_order,
        };
        if let Some(key) = ["tokenizer", "vocab_size"].into_iter().find(|k| table.contains_key(*k)) {
            return Err(D::Error::custom(format!("unknown field `{key}`: melody models spell tunes in their own tokens (text models take `tokenizer`)")));
        }
        table.insert("tokenizer".into(), defaults.lm.tokenizer.name().into());
        table.insert("vocab_size".into(), (defaults.lm.vocab_size as i64).into());
        table.insert("arch".into(), arch.network().unwrap_or(defaults.lm.arch).name().into());
        let lm: TextTrainConfig = toml::Value::Table(table).try_into().map_err(D::Error::custom)?;
        Ok(Self { arch, lm, transpose, markov_order })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_reads_and_writes_flat_keys() {
        let config = MusicTrainConfig { arch: MelodyArch::Markov, markov_order: 3, ..MusicTrainConfig::default() };
        let text = toml::to_string(&config).unwrap();
        assert!(text.contains("arch = \"markov\"") && text.contains("markov_order = 3") && text.contains("block_size = 128"), "{text}");
        let back: MusicTrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
        let err = toml::from_str::<MusicTrainConfig>("arch = \"transformer\"").unwrap_err().to_string();
        assert!(err.contains("gpt, lstm, gru or markov"), "{err}");
    }
}

//! Typed configs as TOML, and the run's manifest.
//!
//! A config file may set any subset of a config's fields; the rest keep their defaults, and an
//! unknown key is an error. A run's `config.toml` is its manifest: `family = "…"` followed by the
//! family's whole config. Runs written before the manifest had `family` carried `model = "…"`
//! (VAE, text and music runs) or nothing (GAN runs); [`Manifest::read`] keeps what it finds and
//! the family registry decides.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AigcError, Result};

/// The key of `config.toml` that names the run's family.
pub const FAMILY_KEY: &str = "family";
/// The key older runs used instead (`model = "vae" | "text" | "music"`).
const LEGACY_FAMILY_KEY: &str = "model";

/// A run's `config.toml`: the family's name and its config, still untyped.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `family = "…"`; `None` for runs written before the key existed.
    pub family: Option<String>,
    /// `model = "…"` of runs written before `family` existed.
    pub legacy_model: Option<String>,
    /// Every other key.
    pub config: toml::Table,
    /// Optional fields the config leaves unset (TOML cannot write "none") and what that means:
    /// `to_toml` lists them as comments, so the file still names every field.
    pub unset: Vec<(String, String)>,
}

impl Manifest {
    /// The manifest of a new run of `family` with `config`: only a config that `config.toml` can
    /// hold and give back unchanged (TOML has no integers above 2⁶³ − 1, for one); the error names
    /// the field that cannot be written.
    pub fn new<T: Serialize>(family: &str, config: &T) -> Result<Self> {
        let unwritable = |field: &str, why: &dyn std::fmt::Display| AigcError::invalid(field, format!("cannot be written to config.toml: {why}"));
        let mut unset = Vec::new();
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(config) {
            for (field, value) in &fields {
                match value {
                    serde_json::Value::Null => unset.push((field.clone(), "its default follows from the other settings".to_string())),
                    value => toml::Value::try_from(value).map(|_| ()).map_err(|e| unwritable(field, &e))?,
                }
            }
        }
        let table = toml::Table::try_from(config).map_err(|e| unwritable("config", &e))?;
        let manifest = Self { family: Some(family.into()), legacy_model: None, config: table, unset };
        let back = Self::parse(&manifest.to_toml(), Path::new("config.toml"))?;
        if back.family != manifest.family || back.config != manifest.config {
            return Err(unwritable("config", &"it does not read back as written"));
        }
        Ok(manifest)
    }

    /// Says what each unset field in `meanings` (field, meaning) stands for, in `to_toml`.
    pub fn explain(mut self, meanings: &[(&str, &str)]) -> Self {
        for (field, meaning) in &mut self.unset {
            if let Some((_, m)) = meanings.iter().find(|(f, _)| f == field) {
                *meaning = m.to_string();
            }
        }
        self
    }

    /// Reads a manifest (or any config file) from `path`.
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse(&crate::io::read_text(path, crate::io::limits::CONFIG_BYTES)?, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |problem: String| AigcError::BadConfig { path: path.to_path_buf(), problem };
        let mut config: toml::Table = toml::from_str(text).map_err(|e| bad(format!("not valid TOML: {e}")))?;
        let mut take = |key: &str| -> Result<Option<String>> {
            match config.remove(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(bad(format!("{key} must be a string, found {other}"))),
            }
        };
        let family = take(FAMILY_KEY)?;
        let legacy_model = take(LEGACY_FAMILY_KEY)?;
        Ok(Self { family, legacy_model, config, unset: Vec::new() })
    }

    /// The manifest as TOML: the family first, then the config.
    pub fn to_toml(&self) -> String {
        let mut text = String::new();
        if let Some(family) = &self.family {
            text.push_str(&format!("{FAMILY_KEY} = {}\n", toml::Value::String(family.clone())));
        }
        text.push_str(&toml::to_string(&self.config).unwrap_or_default());
        for (field, meaning) in &self.unset {
            text.push_str(&format!("# {field} is unset: {meaning}\n"));
        }
        text
    }

    /// The config as `T`: the keys present over `defaults` (`path` names the file in errors).
    pub fn typed<T: Serialize + DeserializeOwned>(&self, defaults: &T, path: &Path) -> Result<T> {
        merge(&self.config, defaults, path)
    }
}

/// Reads a `--config` file of `family` over `defaults`. The file may be a run's `config.toml`
/// of the same family (its `family` key is then checked, and ignored).
pub fn read_toml_config<T: Serialize + DeserializeOwned>(path: &Path, family: &str, defaults: &T) -> Result<T> {
    let manifest = Manifest::read(path)?;
    if let Some(other) = manifest.family.as_deref().or(manifest.legacy_model.as_deref())
        && other != family
    {
        return Err(AigcError::BadConfig {
            path: path.to_path_buf(),
            problem: format!("a config of a {other} run, not of a {family} run"),
        });
    }
    manifest.typed(defaults, path)
}

fn merge<T: Serialize + DeserializeOwned>(file: &toml::Table, defaults: &T, path: &Path) -> Result<T> {
    let bad = |problem: String| AigcError::BadConfig { path: path.to_path_buf(), problem };
    let mut merged = toml::Table::try_from(defaults).map_err(|e| bad(e.to_string()))?;
    let optional = optional_fields(defaults);
    let mut known: Vec<String> = merged.keys().cloned().chain(optional.iter().cloned()).collect();
    known.sort();
    for (key, value) in file {
        if !known.contains(key) {
            return Err(bad(format!("unknown key {key:?}{}; known keys: {}", did_you_mean(key, &known), known.join(", "))));
        }
        merged.insert(key.clone(), value.clone());
    }
    toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| bad(e.message().to_string()))
}

/// ` (did you mean K?)` for the known key nearest an unknown one, when one is near.
fn did_you_mean(key: &str, known: &[String]) -> String {
    let nearest = known.iter().map(|k| (strsim::damerau_levenshtein(key, k), k)).filter(|(d, k)| *d <= 2 && *d < k.len()).min();
    nearest.map(|(_, k)| format!(" (did you mean {k}?)")).unwrap_or_default()
}

/// `defaults` with the keys of `overrides` (a request's JSON object) replaced: an unknown key,
/// or a value of the wrong type, is an error naming the key.
pub fn merge_json<T: Serialize + DeserializeOwned>(overrides: &serde_json::Map<String, serde_json::Value>, defaults: &T) -> Result<T> {
    let serde_json::Value::Object(mut merged) = serde_json::to_value(defaults).map_err(|e| AigcError::invalid("config", e.to_string()))? else {
        return Err(AigcError::invalid("config", "the defaults are not a table of keys"));
    };
    let mut known: Vec<String> = merged.keys().cloned().collect();
    known.sort();
    for (key, value) in overrides {
        if !merged.contains_key(key) {
            return Err(AigcError::invalid(key, format!("unknown config key{}; known keys: {}", did_you_mean(key, &known), known.join(", "))));
        }
        merged.insert(key.clone(), value.clone());
        // Checked key by key, so the error names the key at fault.
        serde_json::from_value::<T>(serde_json::Value::Object(merged.clone())).map_err(|e| AigcError::invalid(key, e.to_string()))?;
    }
    serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| AigcError::invalid("config", e.to_string()))
}

/// Optional fields are absent from the serialised defaults when unset.
fn optional_fields<T: Serialize>(defaults: &T) -> Vec<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(defaults) else { return Vec::new() };
    map.into_iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k).collect()
}

/// Serialises a config as TOML, arrays on one line (unset optional fields are omitted).
pub fn to_toml<T: Serialize>(config: &T) -> String {
    toml::to_string(config).unwrap_or_default()
}

/// An enum of named choices (an architecture, an objective): written and read as its name, and
/// an unknown name is an error listing the choices.
#[macro_export]
macro_rules! named_choice {
    ($(#[$meta:meta])* $vis:vis enum $name:ident ($what:literal) {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every choice, in the order the error message lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The choices as prose: `a, b or c`.
            pub fn choices() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
                match names.split_last() {
                    Some((last, [])) => last.to_string(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            }

            /// The choice called `value`; otherwise a message naming it and the choices.
            pub fn parse(value: &str) -> std::result::Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|c| c.name() == value)
                    .ok_or_else(|| format!("unknown {} {value:?}; expected {}", $what, Self::choices()))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                let value = <String as serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    named_choice! {
        enum Shape ("shape") { Round = "round", Square = "square", Star = "star" }
    }

    #[test]
    fn named_choices_parse_print_and_list_the_alternatives() {
        assert_eq!(Shape::parse("square"), Ok(Shape::Square));
        assert_eq!(Shape::Star.to_string(), "star");
        assert_eq!(Shape::parse("oval").unwrap_err(), "unknown shape \"oval\"; expected round, square or star");
        let table: toml::Table = toml::from_str("shape = \"round\"").unwrap();
        assert_eq!(table["shape"].clone().try_into::<Shape>().unwrap(), Shape::Round);
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Example {
        steps: usize,
        lr: Option<f64>,
    }

    #[test]
    fn manifests_keep_the_family_apart_from_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let config = Example { steps: 5, lr: None };
        let manifest = Manifest::new("gan", &config).unwrap();
        std::fs::write(&path, manifest.to_toml()).unwrap();
        let back = Manifest::read(&path).unwrap();
        assert_eq!(back.family.as_deref(), Some("gan"));
        assert_eq!(back.typed(&Example { steps: 1, lr: Some(0.1) }, &path).unwrap(), Example { steps: 5, lr: Some(0.1) });
        // A legacy run: `model` instead of `family`.
        std::fs::write(&path, "model = \"vae\"\nsteps = 3\n").unwrap();
        let legacy = Manifest::read(&path).unwrap();
        assert_eq!((legacy.family, legacy.legacy_model.as_deref()), (None, Some("vae")));
        // Unknown keys and configs of another family are errors naming the file.
        std::fs::write(&path, "steps = 3\nlearning_rate = 1\n").unwrap();
        let err = read_toml_config(&path, "gan", &config).unwrap_err().to_string();
        assert!(err.contains("config.toml") && err.contains("unknown key \"learning_rate\"") && err.contains("lr, steps"), "{err}");
        std::fs::write(&path, "family = \"vae\"\nsteps = 3\n").unwrap();
        let err = read_toml_config(&path, "gan", &config).unwrap_err().to_string();
        assert!(err.contains("a vae run"), "{err}");
    }

    #[test]
    fn a_manifest_is_only_written_when_it_reads_back() {
        #[derive(serde::Serialize)]
        struct Seeded {
            seed: u64,
        }
        let err = Manifest::new("gan", &Seeded { seed: u64::MAX }).unwrap_err().to_string();
        assert!(err.starts_with("seed: cannot be written to config.toml"), "{err}");
        assert!(Manifest::new("gan", &Seeded { seed: i64::MAX as u64 }).is_ok());
    }
}

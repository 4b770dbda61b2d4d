//! The data sets aigc knows by name: embedded, installable, and what each is for; and "did you
//! mean" for a misspelt name.

use serde::Serialize;

/// What a data set feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `train gan`, `train vae`, `eval`.
    Images,
    /// `train text`.
    Text,
    /// `train music`.
    Music,
    /// `style --content/--style`.
    Pictures,
}

/// A named data set.
#[derive(Debug, Clone, Serialize)]
pub struct DataSet {
    pub name: &'static str,
    pub kind: Kind,
    pub about: &'static str,
    /// Whether it can be used now (embedded sets always; optional ones once installed).
    pub available: bool,
    /// How to install it when it is not embedded.
    pub install: Option<&'static str>,
}

const fn embedded(name: &'static str, kind: Kind, about: &'static str) -> DataSet {
    DataSet { name, kind, about, available: true, install: None }
}

/// Every named data set (sources and licences: data/SOURCES.md).
pub fn catalog() -> Vec<DataSet> {
    let fashion = std::path::Path::new(super::source::FASHION_MNIST_DIR).join("train-images-idx3-ubyte.gz").is_file();
    vec![
        embedded("mnist", Kind::Images, "10,000 MNIST digits (28 px, grayscale, 10 labelled classes; 1,000 held out)"),
        DataSet {
            name: "fashion-mnist",
            kind: Kind::Images,
            about: "70,000 Fashion-MNIST clothes (28 px, grayscale, 10 classes; 10,000 held out)",
            available: fashion,
            install: Some("scripts/install-data.sh fashion-mnist (or sudo apt-get install dataset-fashion-mnist)"),
        },
        embedded("faces-100", Kind::Images, "100 LFW face crops (25 px, grayscale, no labels)"),
        embedded("shakespeare", Kind::Text, "9 plays (1.0 MB of characters, NAME: speech format; for generate and chat)"),
        embedded("tang-poems", Kind::Text, "11,471 regular Tang poems, one per line (traditional script; for poem)"),
        embedded("song-ci", Kind::Text, "6,397 Song ci of 533 tunes (词牌), TUNE：BODY one per line (simplified script; for poem --form TUNE)"),
        embedded("news", Kind::Text, "88 samples of 1961 American newspaper prose from the Brown corpus (reportage, editorials, reviews; 1.1 MB, a paragraph per line)"),
        embedded("folk", Kind::Music, "1,840 Irish tunes of O'Neill's Music of Ireland (ABC)"),
        embedded("astronaut", Kind::Pictures, "a photograph (256 px, colour)"),
        embedded("chelsea", Kind::Pictures, "a cat (256 px, colour)"),
        embedded("coffee", Kind::Pictures, "a cup of coffee (256 px, colour)"),
        embedded("brick", Kind::Pictures, "a brick wall texture (256 px)"),
        embedded("grass", Kind::Pictures, "a grass texture (256 px)"),
        embedded("gravel", Kind::Pictures, "a gravel texture (256 px)"),
    ]
}

/// The name of a data set of `kind` that `value` probably meant (within two edits), for a
/// value that names no file.
pub fn suggest(value: &str, kind: Kind) -> Option<&'static str> {
    catalog()
        .into_iter()
        .filter(|d| d.kind == kind)
        .map(|d| (strsim::damerau_levenshtein(value, d.name), d.name))
        .filter(|&(distance, name)| distance <= 2 && distance < name.len())
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// ` (did you mean `name`?)` for a misspelt data set name, else nothing.
pub fn did_you_mean(value: &str, kind: Kind) -> String {
    suggest(value, kind).map(|name| format!(" (did you mean {name}?)")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_names_get_the_nearest_data_set_of_their_kind() {
        assert_eq!(suggest("mnsit", Kind::Images), Some("mnist"));
        assert_eq!(suggest("fashion_mnist", Kind::Images), Some("fashion-mnist"));
        assert_eq!(suggest("shakespear", Kind::Text), Some("shakespeare"));
        assert_eq!(suggest("flok", Kind::Music), Some("folk"));
        assert_eq!(suggest("mnist", Kind::Text), None, "not across kinds");
        assert_eq!(suggest("my/photos", Kind::Images), None);
    }
}

//! Tune collections: the embedded `folk` corpus (O'Neill's *Music of Ireland* in ABC, from the
//! PyPI wheel `music21`) or any `.abc`/`.mid` file or folder of them, with a report of what was
//! read and what was skipped, and why (Magenta's most common complaint is a data set that
//! silently yields zero melodies). Every tenth tune is held out for validation.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use aigc_music::Tune;
use aigc_music::abc::parse_collection;
use aigc_music::midi::read_midi;

use crate::error::{AigcError, Result};

const FOLK: &[u8] = include_bytes!("../../../../data/folk/folk.abc.gz");

/// Names of the embedded tune collections, for help texts and errors.
pub const EMBEDDED_MUSIC: &str = "folk";

/// What one file gave.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub path: String,
    pub read: usize,
    /// (tune or file, reason) for each tune left out.
    pub skipped: Vec<String>,
}

/// The tunes of a collection, split into training and held-out tunes.
#[derive(Debug, Clone)]
pub struct MusicCorpus {
    pub name: String,
    pub train: Vec<Tune>,
    pub validation: Vec<Tune>,
    pub files: Vec<FileReport>,
}

impl MusicCorpus {
    /// `folk`, or a path to an `.abc`/`.mid`/`.midi` file or a folder searched recursively.
    pub fn load(data: &str) -> Result<Self> {
        let mut files = Vec::new();
        let mut tunes = Vec::new();
        if data == "folk" {
            let mut text = String::new();
            flate2::read::GzDecoder::new(FOLK)
                .read_to_string(&mut text)
                .map_err(|e| AigcError::bad_data("<embedded>/folk.abc.gz", e.to_string()))?;
            files.push(read_abc_text(&text, "folk.abc", &mut tunes));
        } else {
            for path in music_files(Path::new(data))? {
                files.push(read_file(&path, &mut tunes)?);
            }
        }
        if tunes.len() < 2 {
            let skipped: usize = files.iter().map(|f| f.skipped.len()).sum();
            let first = files.iter().flat_map(|f| f.skipped.first()).next().map(|s| format!("; first skip: {s}")).unwrap_or_default();
            return Err(AigcError::invalid("data",
                format!("{data}: read {} tunes ({skipped} skipped) from {} files; need at least 2{first}", tunes.len(), files.len()),
            ));
        }
        // Every tenth tune is held out; a collection of fewer than ten holds out its last one.
        let (mut train, mut validation) = (Vec::new(), Vec::new());
        let n = tunes.len();
        for (i, tune) in tunes.into_iter().enumerate() {
            if i % 10 == 9 || (n < 10 && i + 1 == n) { validation.push(tune) } else { train.push(tune) }
        }
        Ok(Self { name: data.into(), train, validation, files })
    }

    pub fn skipped(&self) -> usize {
        self.files.iter().map(|f| f.skipped.len()).sum()
    }

    /// One line per file and the most common skip reasons, for the log.
    pub fn report(&self) -> String {
        let read = self.train.len() + self.validation.len();
        let skipped = self.skipped();
        let mut out = format!(
            "{}: {read} tunes read, {skipped} skipped ({:.1}%) from {} file(s); {} for training, {} held out",
            self.name,
            100.0 * skipped as f64 / (read + skipped).max(1) as f64,
            self.files.len(),
            self.train.len(),
            self.validation.len()
        );
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for s in self.files.iter().flat_map(|f| &f.skipped) {
            *reasons.entry(reason_class(s)).or_default() += 1;
        }
        let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        for (reason, n) in reasons.iter().take(5) {
            out.push_str(&format!("\n  skipped {n}× {reason}"));
        }
        out
    }
}

/// A skip message without its tune/line prefix, so equal reasons group together.
fn reason_class(skip: &str) -> String {
    let tail = skip.rsplit_once(": ").map_or(skip, |(_, r)| r);
    tail.chars().take(80).collect()
}

fn read_abc_text(text: &str, name: &str, tunes: &mut Vec<Tune>) -> FileReport {
    let (parsed, skips) = parse_collection(text);
    let read = parsed.len();
    tunes.extend(parsed);
    FileReport { path: name.into(), read, skipped: skips.iter().map(|s| format!("{name}: {s}")).collect() }
}

fn read_file(path: &Path, tunes: &mut Vec<Tune>) -> Result<FileReport> {
    let name = path.display().to_string();
    let bytes = crate::io::read_limited(path, crate::io::limits::data_bytes())?;
    if is_midi(path) {
        return Ok(match read_midi(&bytes) {
            Ok(tune) => {
                tunes.push(tune);
                FileReport { path: name, read: 1, skipped: vec![] }
            }
            Err(e) => FileReport { path: name.clone(), read: 0, skipped: vec![format!("{name}: {e}")] },
        });
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(read_abc_text(&text, &name, tunes))
}

fn is_midi(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("mid") || e.eq_ignore_ascii_case("midi"))
}

fn is_music(path: &Path) -> bool {
    is_midi(path) || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("abc"))
}

/// A file, or every `.abc`/`.mid`/`.midi` file under a folder, sorted.
fn music_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(AigcError::Missing {
            path: path.into(),
            hint: format!(
                " (`data` takes {EMBEDDED_MUSIC}, an .abc or .mid file, or a folder of them){}",
                super::catalog::did_you_mean(&path.to_string_lossy(), super::catalog::Kind::Music)
            ),
        });
    }
    let files = super::files_under(path, is_music)?;
    if files.is_empty() {
        return Err(AigcError::bad_data(path, "the folder has no .abc, .mid or .midi files"));
    }
    Ok(files)
}

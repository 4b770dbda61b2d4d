//! The library's error type: every variant names the file, field or value at fault, so a front
//! end can print one clear line (the CLI turns fields into its flags, a server into JSON fields).
//!
//! Fields are the names of config keys and request fields (`lr`, `batch_size`, `checkpoint`); a
//! problem that mentions another field writes it in backticks (`` `resume` ``), so front ends can
//! rename those too.

use std::path::PathBuf;

/// Everything that can go wrong in aigc that a user can cause or fix. Paths and problems are
/// shown with control characters escaped: they may come from data files.
#[derive(Debug, thiserror::Error)]
pub enum AigcError {
    #[error("{}: {source}", shown(.path.display()))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {}", shown(.path.display()), shown(.problem))]
    BadData { path: PathBuf, problem: String },
    #[error("{}: not found{hint}", shown(.path.display()))]
    Missing { path: PathBuf, hint: String },
    /// A value of a config or request that is out of range, unknown or inconsistent.
    #[error("{field}: {}", shown(.problem))]
    Invalid { field: String, problem: String },
    #[error("{}: {}", shown(.path.display()), shown(.problem))]
    BadConfig { path: PathBuf, problem: String },
    #[error("{}: checkpoint could not be read: {}", shown(.path.display()), shown(.problem))]
    Checkpoint { path: PathBuf, problem: String },
    #[error("{}: could not write: {}", shown(.path.display()), shown(.problem))]
    Output { path: PathBuf, problem: String },
    /// A loss became infinite or NaN.
    #[error("training diverged at step {step} ({loss} is {value}); try a smaller learning rate (`lr`)")]
    Diverged { step: usize, loss: String, value: f64 },
    /// A training job was asked to stop (its last step is checkpointed).
    #[error("training stopped at step {step} on request; the checkpoint of that step is saved, and resuming continues it")]
    Stopped { step: usize },
    /// A job other than training (sampling, style transfer) was stopped on request.
    #[error("{what} was cancelled on request")]
    Cancelled { what: String },
    /// A run was asked for something its family does not offer.
    #[error("{}: a {family} run cannot {wanted}; it can {offers}", shown(.run.display()))]
    Unsupported { run: PathBuf, family: String, wanted: String, offers: String },
}

pub type Result<T, E = AigcError> = std::result::Result<T, E>;

/// `text` with control characters (terminal escapes, line breaks, NUL …) written as `\u{…}`.
pub fn shown(text: impl std::fmt::Display) -> String {
    let text = text.to_string();
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

impl AigcError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            return AigcError::Missing { path, hint: String::new() };
        }
        AigcError::Io { path, source }
    }

    pub fn bad_data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        AigcError::BadData { path: path.into(), problem: problem.into() }
    }

    /// A bad value of the config key or request field `field`.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        AigcError::Invalid { field: field.into(), problem: problem.into() }
    }

    pub fn output(path: impl Into<PathBuf>, problem: impl std::fmt::Display) -> Self {
        AigcError::Output { path: path.into(), problem: problem.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_paths_and_problems_are_escaped() {
        let e = AigcError::bad_data("tunes/\u{1b}[31mred.abc", "title \"\u{7}bell\"");
        assert_eq!(e.to_string(), "tunes/\\u{1b}[31mred.abc: title \"\\u{7}bell\"");
        assert_eq!(shown("plain: 春 ok"), "plain: 春 ok");
    }
}

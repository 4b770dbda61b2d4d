//! The library's error type: every variant names the file, field or value at fault, so a front
//! end can print one clear line (the CLI turns fields into its flags, a server into JSON fields).
//!
//! Fields are the names of config keys and request fields (`lr`, `batch_size`, `checkpoint`); a
//! problem that mentions another field writes it in backticks (`` `resume` ``), so front ends can
//! rename those too.

use std::path::PathBuf;

/// Everything that can go wrong in aigc that a user can cause or fix.
#[derive(Debug, thiserror::Error)]
pub enum AigcError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    BadData { path: PathBuf, problem: String },
    #[error("{path}: not found{hint}")]
    Missing { path: PathBuf, hint: String },
    /// A value of a config or request that is out of range, unknown or inconsistent.
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("{path}: {problem}")]
    BadConfig { path: PathBuf, problem: String },
    #[error("{path}: checkpoint could not be read: {problem}")]
    Checkpoint { path: PathBuf, problem: String },
    #[error("{path}: could not write: {problem}")]
    Output { path: PathBuf, problem: String },
    /// A loss became infinite or NaN.
    #[error("training diverged at step {step} ({loss} is {value}); try a smaller learning rate (`lr`)")]
    Diverged { step: usize, loss: String, value: f64 },
    /// A run was asked for something its family does not offer.
    #[error("{run}: a {family} run cannot {wanted}; it can {offers}")]
    Unsupported { run: PathBuf, family: String, wanted: String, offers: String },
}

pub type Result<T, E = AigcError> = std::result::Result<T, E>;

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

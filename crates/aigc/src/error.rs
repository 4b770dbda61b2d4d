//! The library's error type: every variant names the file, flag or value at fault, so the CLI can
//! print one clear line and exit non-zero.

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
    #[error("{flag}: {problem}")]
    BadArgument { flag: String, problem: String },
    #[error("{path}: {problem}")]
    BadConfig { path: PathBuf, problem: String },
    #[error("{path}: checkpoint could not be read: {problem}")]
    Checkpoint { path: PathBuf, problem: String },
    #[error("{path}: could not write: {problem}")]
    Output { path: PathBuf, problem: String },
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

    pub fn bad_argument(flag: impl Into<String>, problem: impl Into<String>) -> Self {
        AigcError::BadArgument { flag: flag.into(), problem: problem.into() }
    }

    pub fn output(path: impl Into<PathBuf>, problem: impl std::fmt::Display) -> Self {
        AigcError::Output { path: path.into(), problem: problem.to_string() }
    }
}

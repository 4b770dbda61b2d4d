//! Run names in URLs: one folder name directly under `--runs`, resolved so that no name (no
//! `..`, no absolute path, no symbolic link) reaches outside it.

use std::path::{Path, PathBuf};

use crate::error::{ApiError, ApiResult};

/// The longest run name.
pub const MAX_NAME: usize = 200;

/// Checks a name's form: letters, digits, `.`, `_`, `-`, `+`, `=`, `,`, `@` (not starting with
/// a dot).
pub fn check_name(name: &str, field: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-+=,@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(field, format!("{:?} is not a run name (1–{MAX_NAME} letters, digits, '.', '_', '-', not starting with '.')", name.chars().take(MAX_NAME + 1).collect::<String>())))
    }
}

/// The run folder `name` names under `root` (itself canonical): an error unless it exists, is a
/// folder and, with every link followed, lies directly inside `root`.
pub fn resolve(root: &Path, name: &str) -> ApiResult<PathBuf> {
    check_name(name, "run")?;
    let path = root.join(name);
    let real = std::fs::canonicalize(&path).map_err(|_| ApiError::not_found("run", format!("no run {name:?} (see GET /api/runs)")))?;
    if real.parent() != Some(root) || !real.is_dir() {
        return Err(ApiError::not_found("run", format!("no run {name:?} (see GET /api/runs)")));
    }
    Ok(real)
}

/// A file of a run: `rel` is a path of plain names (`samples/step-00000100.png`) that must stay
/// inside the run once links are followed.
pub fn resolve_file(run: &Path, rel: &str) -> ApiResult<PathBuf> {
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts {
        check_name(part, "file").map_err(|_| ApiError::bad("file", format!("{rel:?} is not a file of the run")))?;
    }
    let real = std::fs::canonicalize(run.join(rel)).map_err(|_| ApiError::not_found("file", format!("no file {rel:?} in the run")))?;
    if !real.starts_with(run) || !real.is_file() {
        return Err(ApiError::not_found("file", format!("no file {rel:?} in the run")));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        for bad in ["", "..", ".", "../x", "a/b", "/etc", "a\\b", ".hidden", "a b", "a\0b", &"x".repeat(MAX_NAME + 1)] {
            assert!(check_name(bad, "run").is_err(), "{bad:?} accepted");
        }
        for good in ["gan-mlp", "diff_b32.e7", "run+1", "x"] {
            check_name(good, "run").unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_runs_folder_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("runs"), dir.path().join("secret"));
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("config.toml"), "family = \"gan\"").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        std::os::unix::fs::symlink(outside.join("config.toml"), root.join("real").join("config.toml")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(resolve(&root, "real").unwrap(), root.join("real"));
        assert_eq!(resolve(&root, "escape").unwrap_err().status, axum::http::StatusCode::NOT_FOUND);
        assert!(resolve_file(&root.join("real"), "config.toml").is_err());
        assert!(resolve_file(&root.join("real"), "../escape/config.toml").is_err());
    }
}

//! Writing files so that a crash never leaves half of one.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{AigcError, Result};

/// Writes a file atomically: a temporary sibling, flushed, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| AigcError::io(parent, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = fs::write(&tmp, bytes)
        .and_then(|()| File::open(&tmp).and_then(|f| f.sync_all()))
        .map_err(|e| AigcError::io(&tmp, e))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| AigcError::io(path, e)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| AigcError::output(path, e))?;
    write_atomic(path, &json)
}

/// Flushes every file of a folder, then the folder itself.
pub(crate) fn sync_folder_files(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| AigcError::io(dir, e))? {
        let path = entry.map_err(|e| AigcError::io(dir, e))?.path();
        File::open(&path).and_then(|f| f.sync_all()).map_err(|e| AigcError::io(&path, e))?;
    }
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(|e| AigcError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left behind");
        // A target that cannot be renamed into (a folder) fails and leaves the folder as it was.
        let folder = dir.path().join("folder");
        fs::create_dir(&folder).unwrap();
        assert!(write_atomic(&folder, b"x").is_err());
        assert!(folder.is_dir());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}

//! Reading and writing files safely: aigc replaces only regular files (never a device, a
//! symlink or a folder), writes atomically so a crash never leaves half a file, and reads a file
//! whole only when it is a regular file no larger than a stated limit.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{AigcError, Result};

/// The largest files aigc reads whole, by kind. A larger file is an error naming the limit.
pub mod limits {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Configs, manifests, checkpoint state, reports.
    pub const CONFIG_BYTES: u64 = 1 << 20;
    /// Vocabularies, metrics logs, evaluation reports.
    pub const JSON_BYTES: u64 = 256 << 20;
    /// Data files by default: IDX arrays (also after decompression), text corpora, tune
    /// collections.
    pub const DEFAULT_DATA_BYTES: u64 = 2 << 30;
    /// Weights by default: checkpoint records, safetensors.
    pub const DEFAULT_WEIGHTS_BYTES: u64 = 4 << 30;

    static RAISED: AtomicU64 = AtomicU64::new(0);

    /// Raises the data and weights limits to `bytes` for this process (for a user whose files are
    /// larger; never lowers them).
    pub fn raise(bytes: u64) {
        RAISED.fetch_max(bytes, Ordering::Relaxed);
    }

    pub fn data_bytes() -> u64 {
        DEFAULT_DATA_BYTES.max(RAISED.load(Ordering::Relaxed))
    }

    pub fn weights_bytes() -> u64 {
        DEFAULT_WEIGHTS_BYTES.max(RAISED.load(Ordering::Relaxed))
    }
}

/// How `path` may be written: it must not exist, or be a regular file (not a symlink, a device,
/// a FIFO or a folder), and its folder must not be a file.
pub fn check_output(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AigcError::io(path, e)),
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => Err(AigcError::output(path, format!("is {}; aigc only replaces regular files", kind_of(&meta)))),
    }
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else {
        "not a regular file (a device, FIFO or socket)"
    }
}

/// Writes a file atomically: a temporary sibling, flushed, then renamed over the target. The
/// target must be a regular file or not exist ([`check_output`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    check_output(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| AigcError::io(parent, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A stale temporary file of an earlier crash is ours to replace; anything else there is not.
    check_output(&tmp)?;
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(|e| AigcError::io(&tmp, e))?;
    }
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
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

/// Opens `path` for reading if it is a regular file of at most `limit` bytes; returns it and its
/// size.
pub fn open_regular(path: &Path, limit: u64) -> Result<(File, u64)> {
    let meta = fs::metadata(path).map_err(|e| AigcError::io(path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a folder" } else { "not a regular file (a device, FIFO or socket)" };
        return Err(AigcError::bad_data(path, format!("is {what}; expected a file")));
    }
    if meta.len() > limit {
        return Err(AigcError::bad_data(
            path,
            format!("is {} bytes, more than the limit of {limit} for this kind of file (data and weights limits rise with `file_limit_gib`)", meta.len()),
        ));
    }
    let file = File::open(path).map_err(|e| AigcError::io(path, e))?;
    Ok((file, meta.len()))
}

/// The bytes of a regular file of at most `limit` bytes ([`limits`]).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path, limit)?;
    let mut bytes = Vec::with_capacity(len as usize);
    // The file may have grown since its size was read: never read past the limit.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| AigcError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(AigcError::bad_data(path, format!("grew past the limit of {limit} bytes while it was read")));
    }
    Ok(bytes)
}

/// The text of a regular UTF-8 file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    String::from_utf8(read_limited(path, limit)?).map_err(|e| {
        AigcError::bad_data(path, format!("not UTF-8 text (invalid byte at offset {}); convert it to UTF-8 first", e.utf8_error().valid_up_to()))
    })
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
        // A folder is not replaced, and nothing is left of the attempt.
        let folder = dir.path().join("folder");
        fs::create_dir(&folder).unwrap();
        let err = write_atomic(&folder, b"x").unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
        assert!(folder.is_dir());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_symlinks_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(Path::new("/dev/null"), b"x").unwrap_err().to_string();
        assert!(err.contains("/dev/null") && err.contains("not a regular file"), "{err}");
        let target = dir.path().join("target.txt");
        fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_atomic(&link, b"x").unwrap_err().to_string().contains("symbolic link"));
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    }

    #[test]
    fn reads_are_bounded_and_only_of_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        fs::write(&path, vec![b'a'; 100]).unwrap();
        assert_eq!(read_limited(&path, 100).unwrap().len(), 100);
        let err = read_limited(&path, 99).unwrap_err().to_string();
        assert!(err.contains("big.toml") && err.contains("100 bytes") && err.contains("limit of 99"), "{err}");
        assert!(read_limited(dir.path(), 10).unwrap_err().to_string().contains("is a folder"));
        #[cfg(unix)]
        assert!(read_limited(Path::new("/dev/zero"), 10).unwrap_err().to_string().contains("not a regular file"));
        fs::write(&path, b"caf\xe9").unwrap();
        assert!(read_text(&path, 100).unwrap_err().to_string().contains("not UTF-8"));
    }
}

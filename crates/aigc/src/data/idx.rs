//! Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header
//! `0x00 0x00 type rank`, one u32 per dimension, then the data. Plain or gzip-compressed
//! (detected from the content, not the name).

use std::io::Read;
use std::path::Path;

use crate::error::{AigcError, Result};

/// An IDX array of unsigned bytes (type code 0x08), the only element type MNIST-format data uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file from disk (plain or `.gz`).
pub fn read_idx_file(path: &Path) -> Result<IdxArray> {
    let bytes = std::fs::read(path).map_err(|e| AigcError::io(path, e))?;
    parse_idx(&bytes, path)
}

/// Parses IDX bytes (plain or gzip); `path` names the source in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let owned;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| AigcError::bad_data(path, format!("corrupt gzip stream: {e}")))?;
        owned = out;
        &owned[..]
    } else {
        bytes
    };
    if bytes.len() < 4 {
        return Err(AigcError::bad_data(path, format!("truncated IDX file: {} bytes, a header needs at least 4", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(AigcError::bad_data(
            path,
            format!("not an IDX file: magic starts {:02x} {:02x}, expected 00 00", bytes[0], bytes[1]),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(AigcError::bad_data(
            path,
            format!("IDX element type 0x{:02x} not supported, expected 0x08 (unsigned byte)", bytes[2]),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 || rank > 4 {
        return Err(AigcError::bad_data(path, format!("IDX rank {rank} not supported, expected 1 to 4")));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(AigcError::bad_data(path, format!("truncated IDX header: {} bytes, expected {header}", bytes.len())));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(expected) = expected else {
        return Err(AigcError::bad_data(path, format!("IDX dimensions {dims:?} overflow")));
    };
    let body = &bytes[header..];
    if body.len() < expected {
        return Err(AigcError::bad_data(
            path,
            format!("truncated IDX data: dimensions {dims:?} need {expected} bytes, file has {}", body.len()),
        ));
    }
    if body.len() > expected {
        return Err(AigcError::bad_data(
            path,
            format!("IDX data longer than its dimensions {dims:?}: {} bytes, expected {expected}", body.len()),
        ));
    }
    Ok(IdxArray { dims, data: body.to_vec() })
}

/// Encodes an unsigned-byte IDX array (used by tests and data conversion).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

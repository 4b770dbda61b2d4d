//! Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header
//! `0x00 0x00 type rank`, one u32 per dimension, then the data. Plain or gzip-compressed
//! (detected from the content, not the name).

use std::io::{BufRead, Read};
use std::path::Path;

use crate::error::{AigcError, Result};
use crate::io::{limits, open_regular};

/// An IDX array of unsigned bytes (type code 0x08), the only element type MNIST-format data uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file from disk (plain or `.gz`). Its declared size is checked against the file
/// (and the data limit) before the data is read, and a gzip stream is never inflated past it.
pub fn read_idx_file(path: &Path) -> Result<IdxArray> {
    let (file, _) = open_regular(path, limits::data_bytes())?;
    parse_stream(std::io::BufReader::new(file), path)
}

/// Parses IDX bytes (plain or gzip); `path` names the source in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    parse_stream(bytes, path)
}

fn parse_stream(mut source: impl BufRead, path: &Path) -> Result<IdxArray> {
    let gzip = source.fill_buf().map_err(|e| AigcError::io(path, e))?.starts_with(&[0x1f, 0x8b]);
    if gzip {
        return parse_plain(flate2::bufread::GzDecoder::new(source), path, true);
    }
    parse_plain(source, path, false)
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
fn read_up_to(reader: &mut impl Read, n: usize, path: &Path, gzip: bool) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n.min(1 << 16));
    reader.take(n as u64).read_to_end(&mut out).map_err(|e| {
        if gzip { AigcError::bad_data(path, format!("corrupt gzip stream: {e}")) } else { AigcError::io(path, e) }
    })?;
    Ok(out)
}

fn parse_plain(mut reader: impl Read, path: &Path, gzip: bool) -> Result<IdxArray> {
    let magic = read_up_to(&mut reader, 4, path, gzip)?;
    if magic.len() < 4 {
        return Err(AigcError::bad_data(path, format!("truncated IDX file: {} bytes, a header needs at least 4", magic.len())));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(AigcError::bad_data(
            path,
            format!("not an IDX file: magic starts {:02x} {:02x}, expected 00 00", magic[0], magic[1]),
        ));
    }
    if magic[2] != 0x08 {
        return Err(AigcError::bad_data(
            path,
            format!("IDX element type 0x{:02x} not supported, expected 0x08 (unsigned byte)", magic[2]),
        ));
    }
    let rank = magic[3] as usize;
    if rank == 0 || rank > 4 {
        return Err(AigcError::bad_data(path, format!("IDX rank {rank} not supported, expected 1 to 4")));
    }
    let header = 4 + 4 * rank;
    let sizes = read_up_to(&mut reader, 4 * rank, path, gzip)?;
    if sizes.len() < 4 * rank {
        return Err(AigcError::bad_data(path, format!("truncated IDX header: {} bytes, expected {header}", 4 + sizes.len())));
    }
    let dims: Vec<usize> = sizes.chunks_exact(4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(expected) = expected else {
        return Err(AigcError::bad_data(path, format!("IDX dimensions {dims:?} overflow")));
    };
    if expected as u64 > limits::data_bytes() {
        return Err(AigcError::bad_data(
            path,
            format!("IDX dimensions {dims:?} declare {expected} bytes, more than the limit of {} for a data file", limits::data_bytes()),
        ));
    }
    // The vector grows with the data that actually arrives, never past what the header declares.
    let body = read_up_to(&mut reader, expected + 1, path, gzip)?;
    if body.len() < expected {
        return Err(AigcError::bad_data(
            path,
            format!("truncated IDX data: dimensions {dims:?} need {expected} bytes, file has {}", body.len()),
        ));
    }
    if body.len() > expected {
        return Err(AigcError::bad_data(path, format!("IDX data longer than its dimensions {dims:?} (expected {expected} bytes)")));
    }
    Ok(IdxArray { dims, data: body })
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

//! IDX files (MNIST, Fashion-MNIST): big-endian header, magic 0x00000801 for u8 label vectors
//! and 0x00000803 for u8 image tensors, raw or gzip-compressed.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::io::read_maybe_gz;

pub const LABELS_MAGIC: u32 = 0x0000_0801;
pub const IMAGES_MAGIC: u32 = 0x0000_0803;

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parses an IDX header with the given magic and returns the dimensions, checking that the
/// payload is exactly as long as they say.
fn parse(path: &Path, bytes: &[u8], magic: u32) -> Result<Vec<usize>> {
    let dims = (magic & 0xff) as usize;
    let header = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DataError::Magic {
            path: path.into(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    let shape: Vec<usize> = (0..dims)
        .map(|d| be_u32(bytes, 4 + 4 * d) as usize)
        .collect();
    let expected = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|payload| payload.checked_add(header as u64))
        .unwrap_or(u64::MAX);
    let len = bytes.len() as u64;
    if len < expected {
        return Err(DataError::Truncated {
            path: path.into(),
            expected,
            found: len,
        });
    }
    if len > expected {
        return Err(DataError::Oversized {
            path: path.into(),
            expected,
            found: len,
        });
    }
    Ok(shape)
}

/// Labels of an IDX label file, each checked against `classes`.
pub fn parse_labels(path: &Path, bytes: &[u8], classes: usize) -> Result<Vec<u16>> {
    parse(path, bytes, LABELS_MAGIC)?;
    bytes[8..]
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if (l as usize) < classes {
                Ok(l as u16)
            } else {
                Err(DataError::LabelOutOfRange {
                    path: path.into(),
                    index: i,
                    label: l as u32,
                    classes,
                })
            }
        })
        .collect()
}

/// Images of an IDX image file: `(count, rows, cols, pixels)` with pixels row-major.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>)> {
    let shape = parse(path, bytes, IMAGES_MAGIC)?;
    let (n, rows, cols) = (shape[0], shape[1], shape[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::Format {
            path: path.into(),
            message: format!("images of {rows}x{cols} pixels"),
        });
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// `(count, rows, cols, pixels, labels)` of an image file and its label file.
pub type IdxPair = (usize, usize, usize, Vec<u8>, Vec<u16>);

/// Reads an image file and a label file (raw or `.gz`) into one dataset.
pub fn load_pair(images: &Path, labels: &Path, classes: usize) -> Result<IdxPair> {
    pair_from_bytes(
        (images, &read_maybe_gz(images)?),
        (labels, &read_maybe_gz(labels)?),
        classes,
    )
}

/// One dataset from the decompressed bytes of an image file and a label file (each with its
/// path, for errors).
pub fn pair_from_bytes(
    (images, image_bytes): (&Path, &[u8]),
    (labels, label_bytes): (&Path, &[u8]),
    classes: usize,
) -> Result<IdxPair> {
    let (n, rows, cols, pixels) = parse_images(images, image_bytes)?;
    let l = parse_labels(labels, label_bytes, classes)?;
    if l.len() != n {
        return Err(DataError::CountMismatch {
            images: images.into(),
            labels: labels.into(),
            n_images: n,
            n_labels: l.len(),
        });
    }
    Ok((n, rows, cols, pixels, l))
}

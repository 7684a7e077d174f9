//! CIFAR-10 / CIFAR-100 binary versions: fixed-size records of label byte(s) followed by
//! 1024 red, 1024 green and 1024 blue bytes, each plane row-major over 32×32.

use std::path::Path;

use crate::error::{DataError, Result};

pub const IMAGE_BYTES: usize = 3 * 32 * 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// 1 label byte (0–9).
    Cifar10,
    /// 2 label bytes (coarse 0–19, fine 0–99).
    Cifar100,
}

impl CifarKind {
    pub fn record_bytes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1 + IMAGE_BYTES,
            CifarKind::Cifar100 => 2 + IMAGE_BYTES,
        }
    }
}

/// Parsed records: pixels `N×3×32×32` (planar, as stored) and labels.
#[derive(Debug, Clone, Default)]
pub struct CifarRecords {
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
    /// CIFAR-100's coarse labels (empty for CIFAR-10).
    pub coarse: Vec<u16>,
}

/// Parses one CIFAR binary file. `expected_records`, when known (10,000 per CIFAR-10 batch),
/// turns a short or long file into a truncated / oversized error instead of a smaller dataset.
pub fn parse(
    path: &Path,
    bytes: &[u8],
    kind: CifarKind,
    expected_records: Option<usize>,
) -> Result<CifarRecords> {
    let rec = kind.record_bytes();
    let len = bytes.len() as u64;
    if let Some(n) = expected_records {
        let expected = (n * rec) as u64;
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
    }
    if bytes.is_empty() || !bytes.len().is_multiple_of(rec) {
        let whole = (bytes.len() / rec) as u64;
        return Err(DataError::Truncated {
            path: path.into(),
            expected: (whole + 1) * rec as u64,
            found: len,
        });
    }
    let n = bytes.len() / rec;
    let mut out = CifarRecords {
        pixels: Vec::with_capacity(n * IMAGE_BYTES),
        labels: Vec::with_capacity(n),
        coarse: Vec::new(),
    };
    for (i, record) in bytes.chunks_exact(rec).enumerate() {
        let check = |label: u8, classes: usize| {
            if (label as usize) < classes {
                Ok(label as u16)
            } else {
                Err(DataError::LabelOutOfRange {
                    path: path.into(),
                    index: i,
                    label: label as u32,
                    classes,
                })
            }
        };
        match kind {
            CifarKind::Cifar10 => out.labels.push(check(record[0], 10)?),
            CifarKind::Cifar100 => {
                out.coarse.push(check(record[0], 20)?);
                out.labels.push(check(record[1], 100)?);
            }
        }
        out.pixels.extend_from_slice(&record[rec - IMAGE_BYTES..]);
    }
    Ok(out)
}

/// Builds one CIFAR-10 record (for fixtures): label, then the R, G and B planes.
pub fn encode_record(label: u8, planes: &[u8; IMAGE_BYTES]) -> Vec<u8> {
    let mut r = Vec::with_capacity(1 + IMAGE_BYTES);
    r.push(label);
    r.extend_from_slice(planes);
    r
}

//! SHA-256 sidecars: every checkpoint and weights file convlab writes gets `<file>.sha256` in
//! `sha256sum`'s format (so `sha256sum -c` checks it too), and every load verifies it. A file
//! whose bytes changed after it was written (a flipped bit, a torn copy) is then an error naming
//! it, never a model with silently wrong weights.
//!
//! The old sidecar is removed before the file is rewritten and the new one written after it: a
//! process killed in between leaves a file without a sidecar, which loads unverified (as files
//! written before sidecars existed do), never a stale sidecar that mismatches a good file.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::record::rundir::{RunDirError, write_atomic};

/// The sidecar's suffix: `model-3.bpk` → `model-3.bpk.sha256`.
pub const SUFFIX: &str = ".sha256";

#[derive(Debug, Error)]
pub enum ChecksumError {
    #[error(
        "{}: its SHA-256 is {found}, but {} says {expected}: the file changed after convlab wrote it",
        path.display(),
        sidecar(path).display()
    )]
    Mismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "{}: its SHA-256 is {found}, which does not start with the {expected} given (`--checksum`): a different or damaged file",
        path.display()
    )]
    NotTheExpected {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "`--checksum {given}`: expected a SHA-256 in hex, whole (64 digits) or its first 8 or more digits (as torchvision's file names carry)"
    )]
    BadExpected { given: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `<path>.sha256`.
pub fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(SUFFIX);
    PathBuf::from(s)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to `path` atomically, then its sidecar.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), RunDirError> {
    let side = sidecar(path);
    remove_if_present(&side).map_err(|source| RunDirError::Io {
        path: side.clone(),
        source,
    })?;
    write_atomic(path, bytes)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_atomic(&side, format!("{}  {name}\n", digest(bytes)).as_bytes())
}

/// Whether a file could be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Its sidecar's digest matches.
    Yes,
    /// It has no sidecar (written before sidecars, or its writer was killed before one).
    NoSidecar,
}

/// Checks `path` against its sidecar, if it has one.
pub fn verify(path: &Path) -> Result<Verified, ChecksumError> {
    let side = sidecar(path);
    let expected = match std::fs::read_to_string(&side) {
        Ok(text) => text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Verified::NoSidecar),
        Err(source) => return Err(ChecksumError::Io { path: side, source }),
    };
    let bytes = std::fs::read(path).map_err(|source| ChecksumError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let found = digest(&bytes);
    if found == expected {
        Ok(Verified::Yes)
    } else {
        Err(ChecksumError::Mismatch {
            path: path.to_path_buf(),
            expected,
            found,
        })
    }
}

/// Checks a file someone else wrote (e.g. a state dict to import): against `expected` (a whole
/// SHA-256 or a prefix of at least 8 hex digits) when given, and against its `sha256sum`-style
/// sidecar when it has one. Returns the file's SHA-256, to be recorded.
pub fn check_given(path: &Path, expected: Option<&str>) -> Result<String, ChecksumError> {
    let expected = match expected {
        Some(e) => {
            let e = e.trim().trim_start_matches("sha256:").to_lowercase();
            if !(8..=64).contains(&e.len()) || !e.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ChecksumError::BadExpected {
                    given: e.chars().take(80).collect(),
                });
            }
            Some(e)
        }
        None => None,
    };
    verify(path)?;
    let bytes = std::fs::read(path).map_err(|source| ChecksumError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let found = digest(&bytes);
    match expected {
        Some(e) if !found.starts_with(&e) => Err(ChecksumError::NotTheExpected {
            path: path.to_path_buf(),
            expected: e,
            found,
        }),
        _ => Ok(found),
    }
}

/// Removes a file and its sidecar (either may be missing).
pub fn remove(path: &Path) -> std::io::Result<()> {
    remove_if_present(path)?;
    remove_if_present(&sidecar(path))
}

/// Removes a file; one that is not there is not an error.
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

//! Finding and verifying a dataset's files on disk (`data info`, `data verify`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalog::{Check, DataFile, DatasetName};
use crate::cifar;
use crate::error::{DataError, Result};
use crate::io::{md5_hex, read};

/// Written next to the files of an archive whose MD5 matched when it was unpacked: the MD5 of
/// every file it produced, so `data verify` can hash files that have no published checksum of
/// their own (CIFAR's `.bin` files).
pub const MANIFEST: &str = "convlab-md5.json";

/// State of one file as `data info` / `data verify` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileState {
    Missing,
    /// Present; not yet checked (`info` does not read the files).
    Present,
    /// Its checksum (published, or recorded when its verified archive was unpacked) matches.
    Verified,
    /// Complete and well-formed (format, size, record count), but no checksum is known for it
    /// (a CIFAR file copied in by hand, without the manifest an unpacked archive leaves).
    FormatOnly,
    Invalid(String),
}

/// How far [`verify_file`] could check a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Against a checksum.
    Checksum,
    /// Format and size only: no checksum is known.
    FormatOnly,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub name: String,
    pub path: Option<PathBuf>,
    pub bytes: Option<u64>,
    pub state: FileState,
}

/// Finds a dataset file in the data directory or a system folder; IDX files may be `.gz`.
pub fn locate(dataset: DatasetName, file: &DataFile, dir: &Path) -> Option<PathBuf> {
    let mut roots = vec![dir.join(dataset.folder())];
    roots.extend(dataset.system_dirs());
    let names: Vec<String> = match file.check {
        Check::Idx { .. } => vec![format!("{}.gz", file.name), file.name.clone()],
        Check::Cifar { .. } => vec![file.name.clone()],
    };
    roots
        .iter()
        .flat_map(|r| names.iter().map(move |n| r.join(n)))
        .find(|p| p.is_file())
}

/// Checks one file's content: complete and well-formed, and what upstream published when a
/// checksum is known ([`Checked`] says which).
pub fn verify_file(path: &Path, file: &DataFile) -> Result<Checked> {
    match &file.check {
        Check::Cifar { records, kind } => {
            let bytes = read(path)?;
            cifar::parse(path, &bytes, *kind, Some(*records))?;
            let recorded = path
                .parent()
                .and_then(|d| std::fs::read_to_string(d.join(MANIFEST)).ok())
                .and_then(|t| serde_json::from_str::<BTreeMap<String, String>>(&t).ok())
                .and_then(|m| m.get(&file.name).cloned());
            match recorded {
                Some(expected) => expect_md5(
                    path,
                    &bytes,
                    &expected,
                    "md5 (recorded when the verified archive was unpacked)",
                )
                .map(|()| Checked::Checksum),
                None => Ok(Checked::FormatOnly),
            }
        }
        Check::Idx {
            gz_md5, raw_md5, ..
        } => {
            let bytes = read(path)?;
            if crate::io::is_gzip(&bytes) && md5_hex(&bytes) == *gz_md5 {
                return Ok(Checked::Checksum);
            }
            let raw = if crate::io::is_gzip(&bytes) {
                crate::io::gunzip(path, &bytes)?
            } else {
                bytes
            };
            match raw_md5 {
                Some(expected) => expect_md5(path, &raw, expected, "md5 (decompressed)")
                    .map(|()| Checked::Checksum),
                None => Err(DataError::Checksum {
                    path: path.into(),
                    algorithm: "md5 (.gz)",
                    expected: gz_md5.to_string(),
                    found: md5_hex(&read(path)?),
                }),
            }
        }
    }
}

/// An IDX file of a named dataset read for loading, checked on the way (read once, gunzipped
/// once): its decompressed bytes. A file of upstream's exact size must carry upstream's
/// checksum, so a flipped label in the real data is refused, not trained on. Files of other
/// sizes (subsets, test fixtures) are used as the well-formed data they are (`data verify`
/// still calls them unverified). Where no checksum of the decompressed bytes is known (MNIST
/// re-compressed by someone), the size alone cannot judge and the file is used.
pub fn read_checked(path: &Path, file: &DataFile) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    let gzip = crate::io::is_gzip(&bytes);
    let Check::Idx {
        gz_md5,
        raw_md5,
        raw_len,
    } = file.check
    else {
        return if gzip {
            crate::io::gunzip(path, &bytes)
        } else {
            Ok(bytes)
        };
    };
    let upstream_gz = gzip && md5_hex(&bytes) == gz_md5;
    let raw = if gzip {
        crate::io::gunzip(path, &bytes)?
    } else {
        bytes
    };
    if let Some(expected) = raw_md5
        && !upstream_gz
        && raw.len() == raw_len
    {
        expect_md5(
            path,
            &raw,
            expected,
            "md5 (decompressed; a file of upstream's size must be upstream's file, restore it with `convlab data fetch`)",
        )?;
    }
    Ok(raw)
}

/// `bytes`' MD5 is `expected`, or a checksum error naming `path` and how it was checked.
fn expect_md5(path: &Path, bytes: &[u8], expected: &str, algorithm: &'static str) -> Result<()> {
    let found = md5_hex(bytes);
    if found == expected {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.into(),
            algorithm,
            expected: expected.to_string(),
            found,
        })
    }
}

/// Per-file report; `deep` reads and checks every file.
pub fn report(dataset: DatasetName, dir: &Path, deep: bool) -> Vec<FileReport> {
    dataset
        .files()
        .into_iter()
        .map(|f| {
            let path = locate(dataset, &f, dir);
            let bytes = path
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len());
            let state = match (&path, deep) {
                (None, _) => FileState::Missing,
                (Some(_), false) => FileState::Present,
                (Some(p), true) => match verify_file(p, &f) {
                    Ok(Checked::Checksum) => FileState::Verified,
                    Ok(Checked::FormatOnly) => FileState::FormatOnly,
                    Err(e) => FileState::Invalid(e.to_string()),
                },
            };
            FileReport {
                name: f.name,
                path,
                bytes,
                state,
            }
        })
        .collect()
}

/// The MD5 manifest of a dataset folder, if one was written when it was unpacked.
pub fn manifest(dataset: DatasetName, dir: &Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join(dataset.folder()).join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Class names from the files that come with the CIFAR archives (`batches.meta.txt`,
/// `fine_label_names.txt`), when present and complete.
pub(crate) fn class_names_on_disk(dataset: DatasetName, dir: &Path) -> Option<Vec<String>> {
    let (file, n) = match dataset {
        DatasetName::Cifar10 => ("batches.meta.txt", 10),
        DatasetName::Cifar100 => ("fine_label_names.txt", 100),
        _ => return None,
    };
    let text = std::fs::read_to_string(dir.join(dataset.folder()).join(file)).ok()?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    (names.len() == n).then_some(names)
}

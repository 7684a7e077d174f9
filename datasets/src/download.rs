//! Verified downloads: stream to a temporary file in the target folder, check the MD5, and
//! only then rename into place, so a partial download never passes as complete. Archives are
//! unpacked into a temporary folder that is renamed when complete.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::catalog::{Check, DataFile, DatasetName, Remote, missing_error};
use crate::error::{DataError, Result};
use crate::io::md5_hex;
use crate::store::{MANIFEST, locate, verify_file};

/// Downloads whatever of `dataset` is missing from `dir` (files already present are used
/// without any network access).
pub fn fetch(dataset: DatasetName, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let missing: Vec<_> = dataset
        .files()
        .into_iter()
        .filter(|f| locate(dataset, f, dir).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    match dataset.remote() {
        Remote::Archive { url, file, md5 } => {
            let archive = dir.join(file);
            let have = archive.is_file() && md5_hex(&crate::io::read(&archive)?) == md5;
            if !have {
                download(url, &archive, md5)
                    .map_err(|e| with_hint(e, dataset, dir, &missing[0]))?;
            }
            unpack(&archive, dir, dataset.folder())?;
            record_manifest(dataset, dir)
        }
        Remote::Files { base_urls } => {
            let folder = dir.join(dataset.folder());
            std::fs::create_dir_all(&folder).map_err(|e| DataError::io(&folder, e))?;
            for f in &missing {
                let Check::Idx { gz_md5, .. } = f.check else {
                    continue;
                };
                let target = folder.join(format!("{}.gz", f.name));
                let mut last = None;
                for base in base_urls {
                    match download(&format!("{base}{}.gz", f.name), &target, gz_md5) {
                        Ok(()) => {
                            last = None;
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                if let Some(e) = last {
                    return Err(with_hint(e, dataset, dir, f));
                }
                verify_file(&target, f)?;
            }
            Ok(())
        }
    }
}

fn with_hint(e: DataError, dataset: DatasetName, dir: &Path, file: &DataFile) -> DataError {
    match e {
        DataError::Download { url, message, .. } => {
            let hint = match missing_error(dataset, dir, file) {
                DataError::Missing { path, hint } => {
                    format!("Without network: {hint} (needed: {})", path.display())
                }
                other => other.to_string(),
            };
            DataError::Download { url, message, hint }
        }
        other => other,
    }
}

/// Streams `url` into `target` through a temporary file, checking its MD5 before the rename.
pub fn download(url: &str, target: &Path, md5: &str) -> Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let fail = |message: String| DataError::Download {
        url: url.to_string(),
        message,
        hint: String::new(),
    };
    let response = ureq::get(url).call().map_err(|e| fail(e.to_string()))?;
    let (_, body) = response.into_parts();
    let total = body.content_length();
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let mut reader = body.into_reader();
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DataError::io(dir, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| DataError::io(tmp.path(), e))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let found: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if found != md5 {
        // The temporary file is deleted on drop: nothing is left that could pass as complete.
        return Err(DataError::Checksum {
            path: target.into(),
            algorithm: "md5",
            expected: md5.to_string(),
            found,
        });
    }
    tmp.persist(target)
        .map_err(|e| DataError::io(target, e.error))?;
    Ok(())
}

/// Unpacks a `.tar.gz` into a temporary folder inside `dir`, then renames its `folder` into
/// place.
pub fn unpack(archive: &Path, dir: &Path, folder: &str) -> Result<()> {
    let staging = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(dir)
        .map_err(|e| DataError::io(dir, e))?;
    let file = File::open(archive).map_err(|e| DataError::io(archive, e))?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(staging.path())
        .map_err(|e| DataError::Format {
            path: archive.into(),
            message: format!("cannot unpack: {e}"),
        })?;
    let extracted: PathBuf = staging.path().join(folder);
    if !extracted.is_dir() {
        return Err(DataError::Format {
            path: archive.into(),
            message: format!("archive does not contain the folder {folder}/"),
        });
    }
    let target = dir.join(folder);
    if target.exists() {
        // An earlier, incomplete copy: keep it aside rather than deleting anything.
        let aside = dir.join(format!("{folder}.incomplete-{}", std::process::id()));
        std::fs::rename(&target, &aside).map_err(|e| DataError::io(&target, e))?;
    }
    std::fs::rename(&extracted, &target).map_err(|e| DataError::io(&target, e))?;
    Ok(())
}

/// Writes [`MANIFEST`] for a folder just unpacked from an archive whose MD5 matched.
fn record_manifest(dataset: DatasetName, dir: &Path) -> Result<()> {
    let folder = dir.join(dataset.folder());
    let mut sums = std::collections::BTreeMap::new();
    for f in dataset.files() {
        let path = folder.join(&f.name);
        if path.is_file() {
            sums.insert(f.name.clone(), md5_hex(&crate::io::read(&path)?));
        }
    }
    let text = serde_json::to_string_pretty(&sums).map_err(|e| DataError::Format {
        path: folder.join(MANIFEST),
        message: e.to_string(),
    })?;
    crate::io::write_atomic(&folder.join(MANIFEST), text.as_bytes())
}

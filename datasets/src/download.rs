//! Verified downloads: stream to a temporary file in the target folder, check the MD5, and
//! only then rename into place, so a partial download never passes as complete. Archives are
//! unpacked into a temporary folder that is renamed when complete.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::catalog::{Check, DataFile, DatasetName, Remote};
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
                    // Without the upstream server, the distribution's package (fetched
                    // without root) holds the same files.
                    let Some(package) = dataset.debian_package() else {
                        return Err(with_hint(e, dataset, dir, f));
                    };
                    return match from_debian(dataset, package, dir) {
                        Ok(()) => Ok(()),
                        Err(debian) => Err(match with_hint(e, dataset, dir, f) {
                            DataError::Download { url, message, hint } => DataError::Download {
                                url,
                                message,
                                hint: format!(
                                    "Debian's `{package}` could not be used either ({debian}). {hint}"
                                ),
                            },
                            other => other,
                        }),
                    };
                }
                verify_file(&target, f)?;
            }
            Ok(())
        }
    }
}

/// Takes `dataset`'s missing files from the distribution's `package` without root: `apt-get
/// download` fetches the `.deb` into a temporary folder inside `dir`, `dpkg-deb -x` unpacks it
/// there, and each file is checked against upstream's MD5 before it is renamed into place (so a
/// wrong or partial file never lands). The temporary folder is removed however this ends.
pub fn from_debian(dataset: DatasetName, package: &str, dir: &Path) -> Result<()> {
    let folder = dir.join(dataset.folder());
    std::fs::create_dir_all(&folder).map_err(|e| DataError::io(&folder, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".debian-")
        .tempdir_in(dir)
        .map_err(|e| DataError::io(dir, e))?;
    let run = |program: &str, args: &[&std::ffi::OsStr]| -> Result<()> {
        let out = std::process::Command::new(program)
            .args(args)
            .current_dir(staging.path())
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| DataError::Invalid {
                what: format!("`{program}`"),
                message: format!("cannot run it: {e}"),
            })?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(DataError::Invalid {
            what: format!("`{program} {}`", args[0].to_string_lossy()),
            message: format!(
                "{} ({})",
                out.status,
                stderr.lines().last().unwrap_or("no message").trim()
            ),
        })
    };
    eprintln!(
        "{dataset}: upstream's server cannot be reached; taking the files from Debian's `{package}` (apt-get download, no root needed)"
    );
    run("apt-get", &["download".as_ref(), package.as_ref()])?;
    let deb = std::fs::read_dir(staging.path())
        .map_err(|e| DataError::io(staging.path(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| DataError::Invalid {
            what: format!("`apt-get download {package}`"),
            message: format!("no .deb file appeared in {}", staging.path().display()),
        })?;
    let root = staging.path().join("root");
    run(
        "dpkg-deb",
        &["-x".as_ref(), deb.as_os_str(), root.as_os_str()],
    )?;
    let system = dataset.system_dirs();
    for f in dataset.files() {
        let name = format!("{}.gz", f.name);
        // Only what the data directory lacks (a system-wide copy does not count: this is how
        // the data directory gets its own).
        if folder.join(&name).is_file() || folder.join(&f.name).is_file() {
            continue;
        }
        let source = system
            .iter()
            .map(|d| root.join(d.strip_prefix("/").unwrap_or(d)).join(&name))
            .find(|p| p.is_file())
            .ok_or_else(|| DataError::Missing {
                path: folder.join(&name),
                hint: format!("`{package}` does not contain it"),
            })?;
        verify_file(&source, &f)?;
        let target = folder.join(&name);
        std::fs::rename(&source, &target).map_err(|e| DataError::io(&target, e))?;
    }
    Ok(())
}

fn with_hint(e: DataError, dataset: DatasetName, dir: &Path, file: &DataFile) -> DataError {
    match e {
        DataError::Download { url, message, .. } => {
            let hint = format!(
                "Without network: {} (needed: {})",
                crate::catalog::place_hint(dataset, dir, file, false),
                dir.join(dataset.folder()).join(&file.name).display()
            );
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

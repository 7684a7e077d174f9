//! Image folders: `root/<class>/<image>.{png,jpg,jpeg}`, classes sorted by name, images
//! decoded once, converted to `channels` (1 = grey, 3 = RGB) and resized to `size`.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::dataset::ImageSet;
use crate::error::{DataError, Result};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DataError::Missing {
                    path: dir.into(),
                    hint: "expected an image folder with one sub-folder per class".into(),
                }
            } else {
                DataError::io(dir, e)
            }
        })?
        .map(|e| e.map(|e| e.path()).map_err(|err| DataError::io(dir, err)))
        .collect::<Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// Loads every image under `root`; any unreadable image is an error naming it.
pub fn load(root: &Path, [channels, height, width]: [usize; 3]) -> Result<ImageSet> {
    if !(channels == 1 || channels == 3) || height == 0 || width == 0 {
        return Err(DataError::Invalid {
            what: "image folder shape".into(),
            message: format!(
                "expected 1 or 3 channels and a positive size, got {channels}x{height}x{width}"
            ),
        });
    }
    let classes: Vec<PathBuf> = sorted_entries(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if classes.is_empty() {
        return Err(DataError::Folder {
            path: root.into(),
            message: "no class sub-folders found (expected root/<class>/<image>.png)".into(),
        });
    }
    let mut names = Vec::with_capacity(classes.len());
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (k, dir) in classes.iter().enumerate() {
        names.push(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let files: Vec<PathBuf> = sorted_entries(dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if files.is_empty() {
            return Err(DataError::Folder {
                path: dir.clone(),
                message: "class folder has no .png/.jpg/.jpeg images".into(),
            });
        }
        for file in files {
            let img = image::open(&file).map_err(|e| DataError::Image {
                path: file.clone(),
                message: e.to_string(),
            })?;
            let img = img.resize_exact(width as u32, height as u32, FilterType::Triangle);
            let plane = height * width;
            if channels == 1 {
                pixels.extend_from_slice(img.to_luma8().as_raw());
            } else {
                let rgb = img.to_rgb8();
                let raw = rgb.as_raw();
                let start = pixels.len();
                pixels.resize(start + 3 * plane, 0);
                for (i, px) in raw.chunks_exact(3).enumerate() {
                    for ch in 0..3 {
                        pixels[start + ch * plane + i] = px[ch];
                    }
                }
            }
            labels.push(k as u16);
        }
    }
    ImageSet::new([channels, height, width], pixels, labels, names)
}

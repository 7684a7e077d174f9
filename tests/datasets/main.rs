//! Datasets-crate tests: parsers on fixture files the tests write themselves (and the real
//! Fashion-MNIST files when Debian's package is installed), bad input of every kind, splits,
//! normalisation, augmentation determinism and statistics, and the batcher.

mod augment;
mod batcher;
mod cifar;
mod folder;
mod idx;
mod splits;

use std::path::Path;

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write fixture");
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

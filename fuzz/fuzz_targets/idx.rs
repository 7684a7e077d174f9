//! Any bytes, raw or as a gzip stream: the IDX parsers return data or a typed error, never
//! panic, and never return fewer or more values than the header promises.
#![no_main]

use convlab_datasets::idx::{parse_images, parse_labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz-idx");
    if let Ok((n, rows, cols, pixels)) = parse_images(path, data) {
        assert_eq!(pixels.len(), n * rows * cols);
    }
    if let Ok(labels) = parse_labels(path, data, 10) {
        assert!(labels.iter().all(|&l| l < 10));
        assert_eq!(labels.len() + 8, data.len());
    }
    if convlab_datasets::io::is_gzip(data) {
        if let Ok(raw) = convlab_datasets::io::gunzip(path, data) {
            let _ = parse_images(path, &raw);
        }
    }
});

//! Any bytes: the CIFAR parser returns records or a typed error, never panics, and what it
//! returns is consistent with the input length.
#![no_main]

use convlab_datasets::cifar::{CifarKind, IMAGE_BYTES, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.bin");
    for kind in [CifarKind::Cifar10, CifarKind::Cifar100] {
        for expected in [None, Some(1), Some(3)] {
            if let Ok(r) = parse(path, data, kind, expected) {
                let n = data.len() / kind.record_bytes();
                assert_eq!(r.labels.len(), n);
                assert_eq!(r.pixels.len(), n * IMAGE_BYTES);
                assert_eq!(n * kind.record_bytes(), data.len());
            }
        }
    }
});

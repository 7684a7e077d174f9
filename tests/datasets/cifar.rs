//! CIFAR binary fixtures: record layout, channel-plane order, and bad files.

use convlab_datasets::DataError;
use convlab_datasets::cifar::{self, CifarKind, IMAGE_BYTES};
use convlab_datasets::{DatasetName, load};

/// A record whose pixel (row 3, col 5) is red 200, green 100, blue 50 and all else 0.
fn record(label: u8) -> Vec<u8> {
    let mut planes = [0u8; IMAGE_BYTES];
    let at = 3 * 32 + 5;
    planes[at] = 200;
    planes[1024 + at] = 100;
    planes[2048 + at] = 50;
    cifar::encode_record(label, &planes)
}

fn batch(records: usize, label: impl Fn(usize) -> u8) -> Vec<u8> {
    (0..records).flat_map(|i| record(label(i))).collect()
}

#[test]
fn record_layout_and_plane_order() {
    let bytes = batch(3, |i| i as u8 + 4);
    let p = std::path::Path::new("fixture.bin");
    let r = cifar::parse(p, &bytes, CifarKind::Cifar10, Some(3)).expect("parse");
    assert_eq!(r.labels, [4, 5, 6]);
    let img = &r.pixels[IMAGE_BYTES..2 * IMAGE_BYTES];
    let at = 3 * 32 + 5;
    assert_eq!((img[at], img[1024 + at], img[2048 + at]), (200, 100, 50));
    assert_eq!(img.iter().map(|&v| v as u32).sum::<u32>(), 350);
}

#[test]
fn cifar100_coarse_and_fine() {
    let mut bytes = Vec::new();
    for (coarse, fine) in [(19u8, 99u8), (0, 3)] {
        bytes.push(coarse);
        bytes.extend(&record(fine)[..]);
    }
    let r = cifar::parse(
        std::path::Path::new("train.bin"),
        &bytes,
        CifarKind::Cifar100,
        None,
    )
    .expect("parse");
    assert_eq!(r.coarse, [19, 0]);
    assert_eq!(r.labels, [99, 3]);
}

#[test]
fn bad_cifar_files() {
    let p = std::path::Path::new("data_batch_1.bin");
    let good = batch(4, |_| 1);
    let e =
        cifar::parse(p, &good[..good.len() - 10], CifarKind::Cifar10, Some(4)).expect_err("short");
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    assert!(
        e.to_string().contains("data_batch_1.bin") && e.to_string().contains("12292"),
        "{e}"
    );
    let mut long = good.clone();
    long.extend(record(1));
    let e = cifar::parse(p, &long, CifarKind::Cifar10, Some(4)).expect_err("long");
    assert!(matches!(e, DataError::Oversized { .. }), "{e}");
    // Without a known count, a partial record is still truncation, never a shorter dataset.
    let e =
        cifar::parse(p, &good[..good.len() - 1], CifarKind::Cifar10, None).expect_err("partial");
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    let bad_label = batch(4, |i| if i == 2 { 10 } else { 0 });
    let e = cifar::parse(p, &bad_label, CifarKind::Cifar10, Some(4)).expect_err("label 10");
    assert!(
        e.to_string().contains("label 10 of record 2") && e.to_string().contains("0..10"),
        "{e}"
    );
}

#[test]
fn load_cifar10_from_a_data_dir() {
    let dir = tempfile::tempdir().expect("tmp");
    let folder = dir.path().join("cifar-10-batches-bin");
    write_batches(&folder);
    let splits = load(DatasetName::Cifar10, dir.path(), false).expect("load");
    assert_eq!(splits.train.len(), 50_000);
    assert_eq!(splits.test.len(), 10_000);
    assert_eq!(splits.train.shape(), [3, 32, 32]);
    assert_eq!(splits.train.class_counts(), vec![5_000; 10]);
    assert_eq!(splits.test.class_names[0], "airplane");
    // The archive's label-name file, when present, names the classes.
    let names: String = (0..10).map(|i| format!("class-{i}\n")).collect();
    super::write(&folder.join("batches.meta.txt"), names.as_bytes());
    let named = load(DatasetName::Cifar10, dir.path(), false).expect("load");
    assert_eq!(named.train.class_names[3], "class-3");
    // A missing file is named, with where it goes and where to get it.
    std::fs::remove_file(folder.join("test_batch.bin")).expect("rm");
    let e = load(DatasetName::Cifar10, dir.path(), false)
        .expect_err("missing")
        .to_string();
    assert!(
        e.contains("test_batch.bin") && e.contains("cifar-10-binary.tar.gz"),
        "{e}"
    );
    assert!(e.contains("c32a1d4ab5d03f1284b67883e8d87530"), "{e}");
}

/// `data verify` hashes CIFAR's `.bin` files against the MD5s recorded when the verified
/// archive was unpacked: a file changed since (same size and format) fails.
#[test]
fn verify_checks_the_recorded_md5_of_cifar_files() {
    use convlab_datasets::store::MANIFEST;
    use convlab_datasets::{FileState, report};
    let dir = tempfile::tempdir().expect("tmp");
    let folder = dir.path().join("cifar-10-batches-bin");
    let sums = write_batches(&folder);
    super::write(
        &folder.join(MANIFEST),
        serde_json::to_string(&sums).expect("json").as_bytes(),
    );
    let r = report(DatasetName::Cifar10, dir.path(), true);
    assert!(r.iter().all(|f| f.state == FileState::Verified), "{r:?}");
    // One pixel changed: still a well-formed file of the right size, but not the one unpacked.
    let path = folder.join("data_batch_3.bin");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).expect("write");
    let r = report(DatasetName::Cifar10, dir.path(), true);
    let bad: Vec<_> = r
        .iter()
        .filter(|f| matches!(&f.state, FileState::Invalid(why) if why.contains("md5")))
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(bad, ["data_batch_3.bin"], "{r:?}");
}

/// `data verify` says when it could check only a file's format: CIFAR files without the
/// manifest of an unpacked archive have no checksum to compare (issue 21, finding 7: they were
/// called "verified").
#[test]
fn verify_says_format_only_without_a_checksum() {
    use convlab_datasets::{FileState, report};
    let dir = tempfile::tempdir().expect("tmp");
    let folder = dir.path().join("cifar-10-batches-bin");
    write_batches(&folder);
    let r = report(DatasetName::Cifar10, dir.path(), true);
    assert!(r.iter().all(|f| f.state == FileState::FormatOnly), "{r:?}");
}

/// CIFAR-10's six well-formed batches in `folder`, with each file's MD5.
fn write_batches(folder: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let mut sums = std::collections::BTreeMap::new();
    for name in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ] {
        let bytes = batch(10_000, |i| (i % 10) as u8);
        super::write(&folder.join(format!("{name}.bin")), &bytes);
        sums.insert(format!("{name}.bin"), convlab_datasets::io::md5_hex(&bytes));
    }
    sums
}

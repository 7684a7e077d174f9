//! Image folders: classes from sub-folders, resizing, channel conversion, unreadable images.

use convlab_datasets::DataError;
use convlab_datasets::folder::load;

fn png(path: &std::path::Path, w: u32, h: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .save(path)
        .expect("png");
}

#[test]
fn loads_sorted_classes_and_resizes() {
    let dir = tempfile::tempdir().expect("tmp");
    png(&dir.path().join("dogs/b.png"), 40, 30, [10, 20, 30]);
    png(&dir.path().join("dogs/a.png"), 8, 8, [10, 20, 30]);
    png(&dir.path().join("cats/x.png"), 16, 16, [200, 100, 0]);
    std::fs::write(dir.path().join("cats/notes.txt"), "not an image").expect("txt");
    let set = load(dir.path(), [3, 12, 12]).expect("load");
    assert_eq!(set.class_names, ["cats", "dogs"]);
    assert_eq!(set.labels(), [0, 1, 1]);
    assert_eq!(set.shape(), [3, 12, 12]);
    let cat = set.image(0);
    assert_eq!(
        (cat[0], cat[144], cat[288]),
        (200, 100, 0),
        "planar R, G, B"
    );
    let grey = load(dir.path(), [1, 6, 6]).expect("grey");
    assert_eq!(grey.image_bytes(), 36);
}

#[test]
fn unreadable_image_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    png(&dir.path().join("a/ok.png"), 4, 4, [1, 2, 3]);
    std::fs::write(
        dir.path().join("a/broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .expect("write");
    let e = load(dir.path(), [3, 4, 4]).expect_err("broken png");
    assert!(matches!(e, DataError::Image { .. }), "{e}");
    assert!(e.to_string().contains("broken.png"), "{e}");
    let e = load(&dir.path().join("nope"), [3, 4, 4]).expect_err("missing root");
    assert!(e.to_string().contains("nope"), "{e}");
    std::fs::create_dir_all(dir.path().join("empty-class")).expect("mkdir");
    std::fs::remove_file(dir.path().join("a/broken.png")).expect("rm");
    let e = load(dir.path(), [3, 4, 4])
        .expect_err("empty class")
        .to_string();
    assert!(e.contains("empty-class") && e.contains("no .png"), "{e}");
}

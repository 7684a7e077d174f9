//! The pictures a run leaves in its directory: learning curves redrawn each epoch, the first
//! convolution's filters at initialisation and at the best epoch, and the test confusion
//! matrix. Files exist, decode as PNG, have sane sizes and are not blank.

use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::train;

use crate::opts;

pub fn check(path: &std::path::Path, min: (u32, u32)) -> image::RgbImage {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert!(
        img.width() >= min.0 && img.height() >= min.1 && img.width() <= 4000,
        "{}: {}x{}",
        path.display(),
        img.width(),
        img.height()
    );
    let first = *img.get_pixel(0, 0);
    assert!(
        img.pixels().filter(|p| **p != first).count() > 50,
        "{} looks blank",
        path.display()
    );
    img
}

#[test]
fn a_run_draws_its_curves_filters_and_confusion_matrix() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = Recipe::load("smoke", &["epochs=2".into()]).expect("recipe");
    let out = train(r, &opts(tmp.path())).expect("run");
    let dir = out.dir();
    check(&dir.join("curves.png"), (1000, 300));
    check(&dir.join("confusion.png"), (300, 300));
    // LeNet-5's first conv: 6 filters of 3×5×5, each enlarged to 45×45, 3 per row.
    let init = check(&dir.join("filters-init.png"), (100, 60));
    let best = check(&dir.join("filters-best.png"), (100, 60));
    assert_eq!((init.width(), init.height()), (3 * 47 + 2, 2 * 47 + 2));
    assert_eq!(init.dimensions(), best.dimensions());
    assert_ne!(init, best, "the filters trained, so the pictures differ");
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("run dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

//! Augmentation: determinism per (seed, epoch, index), flip rate, crop bounds, erasing.

use convlab_datasets::{AffineConfig, AugmentConfig, Augmenter, CropConfig, EraseConfig, PadFill};

const SHAPE: [usize; 3] = [3, 8, 8];

/// Pixel (c, y, x) = 10·y + x + 1 in every channel: positions are recoverable from values.
fn ramp() -> Vec<u8> {
    (0..3)
        .flat_map(|_| (0..8).flat_map(|y| (0..8).map(move |x| (10 * y + x + 1) as u8)))
        .collect()
}

fn run(a: &Augmenter, epoch: u64, index: u64) -> Vec<u8> {
    let mut out = vec![0u8; 192];
    a.apply(&ramp(), SHAPE, epoch, index, &mut out);
    out
}

fn crop_flip(padding: usize, fill: PadFill) -> Augmenter {
    let cfg = AugmentConfig {
        crop: Some(CropConfig { padding, fill }),
        hflip: 0.5,
        ..Default::default()
    };
    Augmenter::new(cfg, 42, vec![0, 0, 0])
}

#[test]
fn same_seed_epoch_index_same_output() {
    let a = crop_flip(2, PadFill::Zero);
    assert_eq!(run(&a, 3, 17), run(&a, 3, 17));
    let b = crop_flip(2, PadFill::Zero);
    assert_eq!(
        run(&a, 3, 17),
        run(&b, 3, 17),
        "a fresh augmenter with the same seed"
    );
    let epochs: std::collections::HashSet<Vec<u8>> = (0..20).map(|e| run(&a, e, 17)).collect();
    assert!(
        epochs.len() > 5,
        "different epochs give different draws ({})",
        epochs.len()
    );
    let other = Augmenter::new(a.config.clone(), 43, vec![0, 0, 0]);
    assert!(
        (0..20).any(|e| run(&a, e, 5) != run(&other, e, 5)),
        "seed matters"
    );
}

#[test]
fn flip_rate_is_near_half() {
    let a = Augmenter::new(
        AugmentConfig {
            hflip: 0.5,
            ..Default::default()
        },
        7,
        vec![],
    );
    let n = 4000;
    let flipped = (0..n).filter(|&i| run(&a, 0, i)[0] == 8).count();
    let rate = flipped as f64 / n as f64;
    assert!((rate - 0.5).abs() < 0.03, "flip rate {rate}");
    for i in 0..50 {
        let out = run(&a, 0, i);
        assert!(out[0] == 1 || out[0] == 8, "either identity or a mirror");
    }
}

#[test]
fn crops_stay_inside_the_padded_image() {
    let a = crop_flip(2, PadFill::Zero);
    let mut offsets = std::collections::HashSet::new();
    for i in 0..500 {
        let out = run(&a, 1, i);
        // Recover the shift from any non-padded pixel; it must be within ±2 in each axis.
        let (y, x) = (3usize, 3usize);
        let v = out[y * 8 + x];
        assert!(v != 0, "centre pixel is never padding with padding 2");
        let (sy, sx) = (((v - 1) / 10) as i32, ((v - 1) % 10) as i32);
        let dy = sy - y as i32;
        let dx = (sx - x as i32).abs().min((sx - (7 - x as i32)).abs());
        assert!(dy.abs() <= 2 && dx <= 2, "shift ({dy}, {dx})");
        offsets.insert((dy, sx));
    }
    assert!(offsets.len() >= 20, "offsets explored: {}", offsets.len());
    // Reflect padding never produces a zero (the ramp has none).
    let r = crop_flip(2, PadFill::Reflect);
    assert!((0..200).all(|i| !run(&r, 0, i).contains(&0)));
}

#[test]
fn erase_and_affine() {
    let cfg = AugmentConfig {
        erase: Some(EraseConfig {
            p: 1.0,
            area: [0.1, 0.2],
            ratio: [0.5, 2.0],
        }),
        ..Default::default()
    };
    let a = Augmenter::new(cfg, 1, vec![99, 99, 99]);
    for i in 0..50 {
        let erased = run(&a, 0, i).iter().filter(|&&v| v == 99).count() / 3;
        assert!((3..=16).contains(&erased), "erased {erased} of 64 pixels");
    }
    let cfg = AugmentConfig {
        affine: Some(AffineConfig {
            p: 1.0,
            rotation: 0.0,
            scale: [1.0, 1.0],
            translate: 0.0,
        }),
        ..Default::default()
    };
    let identity = Augmenter::new(cfg, 1, vec![]);
    assert_eq!(
        run(&identity, 0, 0),
        ramp(),
        "an identity affine keeps the image"
    );
    let cfg = AugmentConfig {
        affine: Some(AffineConfig {
            p: 1.0,
            rotation: 30.0,
            scale: [0.8, 1.2],
            translate: 0.1,
        }),
        ..Default::default()
    };
    let moved = Augmenter::new(cfg, 1, vec![]);
    assert_ne!(run(&moved, 0, 0), ramp());
    assert_eq!(run(&moved, 0, 0), run(&moved, 0, 0));
}

#[test]
fn invalid_values_name_the_field() {
    let bad = AugmentConfig {
        hflip: 1.5,
        ..Default::default()
    };
    let e = bad.validate(SHAPE).expect_err("p > 1").to_string();
    assert!(e.contains("augment.hflip") && e.contains("1.5"), "{e}");
    let bad = AugmentConfig {
        crop: Some(CropConfig {
            padding: 8,
            fill: PadFill::Reflect,
        }),
        ..Default::default()
    };
    assert!(
        bad.validate(SHAPE)
            .expect_err("reflect too wide")
            .to_string()
            .contains("augment.crop.padding")
    );
    let e = toml::from_str::<AugmentConfig>("hflip = 0.5\nflop = 1")
        .expect_err("unknown key")
        .to_string();
    assert!(e.contains("flop"), "{e}");
}

//! Stratified splits, normalisation statistics and synthetic data.

use convlab_datasets::{ChannelStats, ImageSet, SyntheticConfig, generate, stratified_split};

#[test]
fn split_is_stratified_deterministic_and_disjoint() {
    let labels: Vec<u16> = (0..1000).map(|i| (i % 10) as u16).collect();
    let (train, valid) = stratified_split(&labels, 10, 0.1, 5).expect("split");
    assert_eq!((train.len(), valid.len()), (900, 100));
    let mut per_class = [0; 10];
    for &i in &valid {
        per_class[labels[i] as usize] += 1;
    }
    assert_eq!(per_class, [10; 10]);
    let mut all: Vec<usize> = train.iter().chain(&valid).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        stratified_split(&labels, 10, 0.1, 5).expect("again").1,
        valid
    );
    assert_ne!(
        stratified_split(&labels, 10, 0.1, 6).expect("other seed").1,
        valid
    );
    let e = stratified_split(&labels, 10, 1.0, 5)
        .expect_err("fraction 1")
        .to_string();
    assert!(e.contains("validation fraction"), "{e}");
    assert!(stratified_split(&[0, 11], 10, 0.1, 5).is_err());
}

#[test]
fn channel_statistics() {
    // Channel 0 alternates 0 and 255 (mean 0.5, std 0.5); channel 1 is constant 51 (0.2, 0).
    let mut pixels = Vec::new();
    for _ in 0..3 {
        pixels.extend((0..4).map(|i| if i % 2 == 0 { 0 } else { 255 }));
        pixels.extend([51u8; 4]);
    }
    let set = ImageSet::new(
        [2, 2, 2],
        pixels,
        vec![0, 1, 0],
        vec!["a".into(), "b".into()],
    )
    .expect("set");
    let s = ChannelStats::compute(&set);
    assert!(
        (s.mean[0] - 0.5).abs() < 1e-6 && (s.std[0] - 0.5).abs() < 1e-6,
        "{s:?}"
    );
    assert!(
        (s.mean[1] - 0.2).abs() < 1e-6 && s.std[1].abs() < 1e-6,
        "{s:?}"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("stats.json");
    assert_eq!(
        ChannelStats::load_or_compute(&cache, &set).expect("compute"),
        s
    );
    assert!(cache.is_file());
    assert_eq!(
        ChannelStats::load_or_compute(&cache, &set).expect("cached"),
        s
    );
    // A cache made for other data is not reused.
    let other = set.subset(&[0, 1]);
    assert_eq!(
        ChannelStats::load_or_compute(&cache, &other)
            .expect("recompute")
            .images,
        2
    );
}

#[test]
fn synthetic_is_deterministic_and_balanced() {
    let cfg = SyntheticConfig::new(60, [3, 16, 16], 6, 9);
    let a = generate(&cfg).expect("generate");
    assert_eq!(a, generate(&cfg).expect("again"));
    assert_eq!(a.class_counts(), vec![10; 6]);
    let mut other = cfg.clone();
    other.seed = 10;
    assert_ne!(a.pixels(), generate(&other).expect("other").pixels());
    assert!(generate(&SyntheticConfig::new(10, [3, 0, 16], 2, 0)).is_err());
    // Classes differ more from each other than samples within a class.
    let dist = |i: usize, j: usize| -> f64 {
        a.image(i)
            .iter()
            .zip(a.image(j))
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum()
    };
    assert!(
        dist(0, 6) < dist(0, 1),
        "same class {} vs other class {}",
        dist(0, 6),
        dist(0, 1)
    );
}

#[test]
fn a_class_subset_is_relabelled_in_the_order_given() {
    // Six one-pixel images of classes 0, 1, 2, 0, 2, 1.
    let set = ImageSet::new(
        [1, 1, 1],
        vec![10, 11, 12, 13, 14, 15],
        vec![0, 1, 2, 0, 2, 1],
        vec!["a".into(), "b".into(), "c".into()],
    )
    .expect("set");
    let sub = set.select_classes(&[2, 0]).expect("subset");
    assert_eq!(sub.class_names, ["c", "a"]);
    assert_eq!(sub.labels(), [1, 0, 1, 0]);
    assert_eq!(sub.pixels(), [10, 12, 13, 14]);
    let e = set
        .select_classes(&[3])
        .expect_err("no class 3")
        .to_string();
    assert!(
        e.contains("data.class_subset") && e.contains("class 3 does not exist"),
        "{e}"
    );
    let e = set.select_classes(&[1, 1]).expect_err("twice").to_string();
    assert!(e.contains("listed twice"), "{e}");
}

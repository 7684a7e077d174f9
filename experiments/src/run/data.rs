//! The data of a recipe: splits, normalisation and batchers.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use convlab_datasets::{
    Augmenter, ChannelStats, ImageBatcher, ImageSet, SyntheticConfig, data_dir, folder, generate,
    stratified_split,
};

use crate::config::recipe::{DatasetKind, Recipe};

/// Folder data in the `root/<class>` layout: the share of each class held out for testing.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;
/// The test split of a `root/<class>` folder does not depend on the run's seed.
const TEST_SPLIT_SEED: u64 = 0x7e57;

pub struct RunData {
    pub train: Arc<ImageBatcher>,
    pub valid: Arc<ImageBatcher>,
    pub test: Arc<ImageBatcher>,
    /// Training split without augmentation (sanity checks, overfitting).
    pub train_plain: Arc<ImageBatcher>,
    pub shape: [usize; 3],
    pub class_names: Vec<String>,
    pub stats: ChannelStats,
}

/// Training and test sets of a recipe, before the validation split.
pub fn load_sets(recipe: &Recipe, dir: Option<&Path>, fetch: bool) -> Result<(ImageSet, ImageSet)> {
    let d = &recipe.data;
    if let Some(name) = d.dataset.catalog() {
        let dir = data_dir(dir);
        let s = convlab_datasets::load(name, &dir, fetch)?;
        return Ok((s.train, s.test));
    }
    match d.dataset {
        DatasetKind::Synthetic => {
            let (n, t) = (d.samples.unwrap_or(0), d.test_samples.unwrap_or(0).max(1));
            let cfg = SyntheticConfig::new(
                n + t,
                d.shape.unwrap_or([3, 32, 32]),
                d.classes.unwrap_or(2),
                recipe.seed,
            );
            let all = generate(&cfg)?;
            let train: Vec<usize> = (0..n).collect();
            let test: Vec<usize> = (n..n + t).collect();
            Ok((all.subset(&train), all.subset(&test)))
        }
        DatasetKind::Folder => {
            let root = d.path.clone().unwrap_or_default();
            let shape = d.shape.unwrap_or([3, 32, 32]);
            let (train_dir, test_dir) = (root.join("train"), root.join("test"));
            if train_dir.is_dir() && test_dir.is_dir() {
                let train =
                    folder::load(&train_dir, shape).context("loading the training folder")?;
                let test = folder::load(&test_dir, shape).context("loading the test folder")?;
                if train.class_names != test.class_names {
                    bail!(
                        "{}: train/ and test/ have different class folders",
                        root.display()
                    );
                }
                return Ok((train, test));
            }
            // root/<class>/…: a stratified test split with its own fixed seed, so every run
            // (any seed) is tested on the same images.
            let all = folder::load(&root, shape).context("loading the image folder")?;
            let fraction = d.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
            let (train, test) = stratified_split(
                all.labels(),
                all.class_names.len(),
                fraction,
                TEST_SPLIT_SEED,
            )
            .with_context(|| {
                format!(
                    "{}: holding out data.test_fraction = {fraction} of each class for testing",
                    root.display()
                )
            })?;
            if test.is_empty() || train.is_empty() {
                bail!(
                    "{}: {} images cannot be split into training and test sets with data.test_fraction = {fraction}; add images or put them in train/<class> and test/<class>",
                    root.display(),
                    all.len()
                );
            }
            Ok((all.subset(&train), all.subset(&test)))
        }
        _ => unreachable!("named datasets handled above"),
    }
}

/// Splits, statistics and batchers for `recipe`.
pub fn prepare(recipe: &Recipe, dir: Option<&Path>, fetch: bool) -> Result<RunData> {
    let (train_full, test) = load_sets(recipe, dir, fetch)?;
    let (train_full, test) = shape_sets(recipe, train_full, test)?;
    let (train, valid) = split(recipe, &train_full)?;
    let stats = channel_stats(recipe, dir, &train)?;
    recipe.augment.validate(train.shape())?;
    let augmenter = (!recipe.augment.is_identity()).then(|| {
        let fill = stats
            .mean
            .iter()
            .map(|m| (m * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        Augmenter::new(recipe.augment.clone(), recipe.seed, fill)
    });
    let shape = train.shape();
    let class_names = train.class_names.clone();
    Ok(RunData {
        train: Arc::new(ImageBatcher::new(train.clone(), &stats, augmenter)),
        train_plain: Arc::new(ImageBatcher::new(train, &stats, None)),
        valid: Arc::new(ImageBatcher::new(valid, &stats, None)),
        test: Arc::new(ImageBatcher::new(Arc::new(test), &stats, None)),
        shape,
        class_names,
        stats,
    })
}

/// The training and test sets as the recipe uses them: its class subset, cut to its limits,
/// then resized and padded.
fn shape_sets(
    recipe: &Recipe,
    mut train_full: ImageSet,
    mut test: ImageSet,
) -> Result<(ImageSet, ImageSet)> {
    if let Some(classes) = &recipe.data.class_subset {
        train_full = train_full.select_classes(classes)?;
        test = test.select_classes(classes)?;
    }
    // Cut first, so resizing and padding touch only the images that are used.
    if let Some(limit) = recipe.data.limit {
        let keep: Vec<usize> = (0..limit.min(train_full.len())).collect();
        train_full = train_full.subset(&keep);
    }
    if let Some(limit) = recipe.data.test_limit {
        let keep: Vec<usize> = (0..limit.min(test.len())).collect();
        test = test.subset(&keep);
    }
    if let Some([h, w]) = recipe.data.resize {
        if h == 0 || w == 0 {
            bail!("data.resize: sizes must be positive, got [{h}, {w}]");
        }
        train_full = train_full.resize(h, w);
        test = test.resize(h, w);
    }
    if recipe.data.pad > 0 {
        train_full = train_full.pad(recipe.data.pad);
        test = test.pad(recipe.data.pad);
    }
    Ok((train_full, test))
}

/// The training and validation splits of `train_full`, stratified by class with the recipe's
/// seed; an error when either would be empty.
fn split(recipe: &Recipe, train_full: &ImageSet) -> Result<(Arc<ImageSet>, Arc<ImageSet>)> {
    let classes = train_full.classes();
    let (train_idx, valid_idx) = stratified_split(
        train_full.labels(),
        classes,
        recipe.data.valid_fraction,
        recipe.seed,
    )?;
    if train_idx.is_empty() || valid_idx.is_empty() {
        bail!(
            "data: {} training images are too few for a validation fraction of {}",
            train_full.len(),
            recipe.data.valid_fraction
        );
    }
    Ok((
        Arc::new(train_full.subset(&train_idx)),
        Arc::new(train_full.subset(&valid_idx)),
    ))
}

/// The per-channel normalisation of the training split (identity when `data.normalize` is
/// off). A named dataset's statistics are cached beside it under a name that identifies the
/// split; a cache that cannot be read or written is not an error, the statistics are computed.
fn channel_stats(recipe: &Recipe, dir: Option<&Path>, train: &ImageSet) -> Result<ChannelStats> {
    if !recipe.data.normalize {
        return Ok(ChannelStats::identity(train.channels));
    }
    Ok(match recipe.data.dataset.catalog() {
        Some(name) => {
            let cache = data_dir(dir).join(name.folder()).join(format!(
                "stats-valid{}-seed{}-n{}-{}x{}.json",
                recipe.data.valid_fraction,
                recipe.seed,
                train.len(),
                train.height,
                train.width
            ));
            ChannelStats::load_or_compute(&cache, train)
                .or_else(|_| Ok::<_, anyhow::Error>(ChannelStats::compute(train)))?
        }
        None => ChannelStats::compute(train),
    })
}

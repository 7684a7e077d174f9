//! `convlab data`: fetch, inspect, verify and benchmark datasets.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Subcommand};
use convlab_datasets::{DatasetName, FileState, data_dir, report};

use crate::base::backend::{Backend, select};
use crate::base::table::{self, group};

#[derive(Subcommand)]
pub enum DataAction {
    /// Download what is missing (files already present are used as they are).
    Fetch(DataArgs),
    /// Where the dataset is, file sizes, class names and checksum state.
    Info(DataArgs),
    /// Check every file: size and format, and its MD5 where one is known (IDX files; CIFAR
    /// files unpacked by `data fetch` from an archive whose MD5 matched). Exits non-zero on
    /// any problem.
    Verify(DataArgs),
    /// Input-pipeline benchmark: CIFAR-sized crop + flip + normalise + batch on one core.
    Bench {
        /// Images per measurement.
        #[arg(long, default_value_t = 50_000)]
        images: usize,
        /// Batch size.
        #[arg(long, default_value_t = 128)]
        batch: usize,
    },
}

#[derive(Args)]
pub struct DataArgs {
    /// Dataset name: cifar10, cifar100, mnist, fashion-mnist.
    pub name: String,
    /// Data directory (default: $CONVLAB_DATA, else the per-user cache directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(action: DataAction) -> Result<()> {
    let (args, verb) = match &action {
        DataAction::Bench { images, batch } => return bench(*images, *batch),
        DataAction::Fetch(a) => (a, "fetch"),
        DataAction::Info(a) => (a, "info"),
        DataAction::Verify(a) => (a, "verify"),
    };
    let name: DatasetName = args.name.parse()?;
    let dir = data_dir(args.data_dir.as_deref());
    if verb == "fetch" {
        convlab_datasets::download::fetch(name, &dir)
            .with_context(|| format!("fetching {name} into {}", dir.display()))?;
    }
    let files = report(name, &dir, verb != "info");
    let [c, h, w] = name.shape();
    let classes = name.class_names();
    println!("dataset:  {name} ({c}x{h}x{w}, {} classes)", classes.len());
    println!("data dir: {}", dir.join(name.folder()).display());
    for extra in name.system_dirs() {
        println!("also searched: {}", extra.display());
    }
    let mut problems = 0;
    let mut t = table::new(&["file", "bytes", "state", "path"]);
    for f in &files {
        let state = match &f.state {
            FileState::Verified => "verified (md5)".to_string(),
            FileState::FormatOnly => "format ok (no checksum known)".to_string(),
            FileState::Present => "present".to_string(),
            FileState::Missing => {
                problems += 1;
                "MISSING".to_string()
            }
            FileState::Invalid(why) => {
                problems += 1;
                format!("INVALID: {why}")
            }
        };
        t.add_row(vec![
            f.name.clone(),
            f.bytes.map_or("-".to_string(), group),
            state,
            f.path
                .as_ref()
                .map_or("-".to_string(), |p| p.display().to_string()),
        ]);
    }
    print!("{t}");
    if verb == "info" && problems == 0 {
        let splits = convlab_datasets::load(name, &dir, false)?;
        println!(
            "images:   train {}, test {}",
            splits.train.len(),
            splits.test.len()
        );
    }
    let shown: Vec<&str> = classes.iter().take(20).map(String::as_str).collect();
    println!(
        "classes:  {}{}",
        shown.join(", "),
        if classes.len() > 20 { ", ..." } else { "" }
    );
    if problems > 0 {
        if let Some(m) = files.iter().find(|f| f.state == FileState::Missing)
            && let Some(file) = name.files().into_iter().find(|f| f.name == m.name)
        {
            eprintln!(
                "{}",
                convlab_datasets::catalog::missing_error(name, &dir, &file)
            );
        }
        if verb != "info" {
            bail!("{problems} file(s) of {name} missing or invalid");
        }
    }
    Ok(())
}

/// Times the input pipeline on synthetic CIFAR-shaped data, single-threaded.
fn bench(images: usize, batch: usize) -> Result<()> {
    use burn::data::dataloader::batcher::Batcher;
    use convlab_datasets::{
        AugmentConfig, Augmenter, ChannelStats, CropConfig, ImageBatcher, SyntheticConfig, generate,
    };
    ensure!(
        images > 0 && batch > 0,
        "--images and --batch must be positive"
    );
    let set = Arc::new(generate(&SyntheticConfig::new(10_000, [3, 32, 32], 10, 0))?);
    let stats = ChannelStats::compute(&set);
    let augment = AugmentConfig {
        crop: Some(CropConfig {
            padding: 4,
            fill: Default::default(),
        }),
        hflip: 0.5,
        ..Default::default()
    };
    let device = select(Backend::Flex)?.device;
    println!("input pipeline, 3x32x32, batch {batch}, one thread, {images} images per row");
    let mut t = table::new(&["stage", "images/s"]);
    for (label, aug, tensors) in [
        ("normalise + batch (vectors)", false, false),
        ("crop + flip + normalise (vectors)", true, false),
        ("crop + flip + normalise + tensors", true, true),
    ] {
        let augmenter = aug.then(|| Augmenter::new(augment.clone(), 1, vec![0; 3]));
        let batcher = ImageBatcher::new(set.clone(), &stats, augmenter);
        let order: Vec<usize> = (0..images).map(|i| (i * 7919) % set.len()).collect();
        let start = std::time::Instant::now();
        for chunk in order.chunks(batch) {
            if tensors {
                std::hint::black_box(batcher.batch(chunk.to_vec(), &device));
            } else {
                std::hint::black_box(batcher.batch_data(chunk));
            }
        }
        let rate = images as f64 / start.elapsed().as_secs_f64();
        t.add_row(vec![label.to_string(), format!("{rate:.0}")]);
    }
    print!("{t}");
    Ok(())
}

//! convlab's datasets: CIFAR-10/100 and MNIST-family files, image folders and synthetic data,
//! decoded once into memory, with verified downloads, stratified splits, per-channel
//! normalisation and seeded augmentation.

pub mod augment;
#[cfg(feature = "burn")]
pub mod batcher;
pub mod catalog;
pub mod cifar;
pub mod dataset;
pub mod download;
pub mod error;
pub mod folder;
pub mod idx;
pub mod io;
pub mod load;
pub mod normalize;
pub mod rng;
pub mod split;
pub mod store;
pub mod synthetic;

pub use augment::{AffineConfig, AugmentConfig, Augmenter, CropConfig, EraseConfig, PadFill};
#[cfg(feature = "burn")]
pub use batcher::{ImageBatch, ImageBatcher, IndexDataset};
pub use catalog::{DatasetName, data_dir};
pub use dataset::ImageSet;
pub use error::DataError;
pub use load::{Splits, load};
pub use normalize::ChannelStats;
pub use split::stratified_split;
pub use store::{FileReport, FileState, report};
pub use synthetic::{SyntheticConfig, generate};

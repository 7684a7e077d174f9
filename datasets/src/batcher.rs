//! Burn data loading: a dataset of sample indices into an in-memory [`ImageSet`], and a
//! batcher that augments (training only), normalises and stacks them into tensors on the
//! device it is given (tensors made elsewhere would silently switch off dropout and batch
//! norm's training mode).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::augment::Augmenter;
use crate::dataset::ImageSet;
use crate::normalize::ChannelStats;

/// The items of a split: indices into its [`ImageSet`] (no pixels are copied per item).
#[derive(Debug, Clone)]
pub struct IndexDataset {
    len: usize,
}

impl IndexDataset {
    pub fn new(len: usize) -> Self {
        Self { len }
    }
}

impl Dataset<usize> for IndexDataset {
    fn get(&self, index: usize) -> Result<usize, DatasetError> {
        if index < self.len {
            Ok(index)
        } else {
            Err(DatasetError::new(std::io::Error::other(format!(
                "index {index} out of range for {} samples",
                self.len
            ))))
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// A batch: images `[N, C, H, W]` (normalised f32) and class indices `[N]`.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    pub images: Tensor<4>,
    pub targets: Tensor<1, Int>,
    /// Seed for the device's random draws while training on this batch (dropout), derived
    /// from (seed, epoch, batch) by the training loader; `None` leaves the generator alone.
    pub rng_key: Option<u64>,
}

/// Turns sample indices into an [`ImageBatch`].
///
/// With augmentation, the epoch of a sample is the number of times it has been batched
/// before (counted per sample), so draws depend only on (seed, epoch, index): the same with
/// any number of loader workers, different every epoch, and restorable on resume through
/// [`ImageBatcher::with_start_epoch`].
#[derive(Debug, Clone)]
pub struct ImageBatcher {
    set: Arc<ImageSet>,
    /// Per channel: u8 value → normalised f32.
    lut: Arc<Vec<[f32; 256]>>,
    augment: Option<Augmenter>,
    visits: Arc<Vec<AtomicU32>>,
}

impl ImageBatcher {
    pub fn new(set: Arc<ImageSet>, stats: &ChannelStats, augment: Option<Augmenter>) -> Self {
        let lut = (0..set.channels)
            .map(|c| {
                let (m, s) = (stats.mean[c], stats.std[c].max(1e-12));
                std::array::from_fn(|v| (v as f32 / 255.0 - m) / s)
            })
            .collect();
        let augment = augment.filter(|a| !a.config.is_identity());
        let visits = (0..set.len()).map(|_| AtomicU32::new(0)).collect();
        Self {
            set,
            lut: Arc::new(lut),
            augment,
            visits: Arc::new(visits),
        }
    }

    /// Makes the next batch of every sample draw the augmentation of `epoch` (0-based).
    pub fn with_start_epoch(self, epoch: u32) -> Self {
        for v in self.visits.iter() {
            v.store(epoch, Ordering::Relaxed);
        }
        self
    }

    pub fn set(&self) -> &ImageSet {
        &self.set
    }

    /// Normalised pixels and labels of `indices`, without creating tensors; each sample's
    /// augmentation epoch is its visit count.
    pub fn batch_data(&self, indices: &[usize]) -> (Vec<f32>, Vec<i64>) {
        self.batch_data_at(indices, None)
    }

    /// As [`Self::batch_data`], with the augmentation epoch given explicitly (the training
    /// loader knows it, which makes resumed runs draw exactly what an uninterrupted run draws).
    pub fn batch_data_at(&self, indices: &[usize], epoch: Option<u64>) -> (Vec<f32>, Vec<i64>) {
        let shape = self.set.shape();
        let per = self.set.image_bytes();
        let plane = shape[1] * shape[2];
        let mut out = vec![0f32; indices.len() * per];
        let mut scratch = vec![0u8; per];
        let mut labels = Vec::with_capacity(indices.len());
        for (k, &i) in indices.iter().enumerate() {
            let src = self.set.image(i);
            let pixels: &[u8] = match &self.augment {
                Some(a) => {
                    let epoch = epoch
                        .unwrap_or_else(|| self.visits[i].fetch_add(1, Ordering::Relaxed) as u64);
                    a.apply(src, shape, epoch, i as u64, &mut scratch);
                    &scratch
                }
                None => src,
            };
            let dst = &mut out[k * per..(k + 1) * per];
            for (c, (d, s)) in dst
                .chunks_exact_mut(plane)
                .zip(pixels.chunks_exact(plane))
                .enumerate()
            {
                let lut = &self.lut[c];
                for (o, &p) in d.iter_mut().zip(s) {
                    *o = lut[p as usize];
                }
            }
            labels.push(self.set.label(i) as i64);
        }
        (out, labels)
    }
}

impl ImageBatcher {
    /// Tensors for `indices` on `device`, augmented as in `epoch` (or by visit count).
    pub fn batch_at(&self, indices: &[usize], epoch: Option<u64>, device: &Device) -> ImageBatch {
        let [c, h, w] = self.set.shape();
        let n = indices.len();
        let (pixels, labels) = self.batch_data_at(indices, epoch);
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
            rng_key: None,
        }
    }
}

impl Batcher<usize, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> ImageBatch {
        self.batch_at(&items, None, device)
    }
}

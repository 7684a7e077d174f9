//! A data loader whose epoch-`e` order and augmentation depend only on (seed, e): a run resumed
//! at epoch e sees exactly the batches an uninterrupted run sees (Burn's own loader replays
//! its first epoch's order after a restart).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::tensor::Device;
use convlab_datasets::rng::{mix, stream};
use convlab_datasets::{ImageBatch, ImageBatcher};
use rand::seq::SliceRandom;

#[derive(Clone)]
pub struct EpochLoader {
    batcher: Arc<ImageBatcher>,
    batch_size: usize,
    /// `None`: sequential order, no augmentation epochs (validation and test).
    shuffle_seed: Option<u64>,
    /// 0-based epoch of the next `iter()`; shared by every copy made by `to_device`.
    next_epoch: Arc<AtomicUsize>,
    range: (usize, usize),
    device: Device,
}

impl EpochLoader {
    pub fn new(
        batcher: Arc<ImageBatcher>,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        device: Device,
    ) -> Self {
        let n = batcher.set().len();
        Self {
            batcher,
            batch_size: batch_size.max(1),
            shuffle_seed,
            next_epoch: Arc::new(AtomicUsize::new(0)),
            range: (0, n),
            device,
        }
    }

    /// The next `iter()` produces epoch `epoch` (0-based), e.g. when resuming.
    pub fn starting_at(self, epoch: usize) -> Self {
        self.next_epoch.store(epoch, Ordering::SeqCst);
        self
    }

    /// Sample order of a given epoch.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (self.range.0..self.range.1).collect();
        if let Some(seed) = self.shuffle_seed {
            idx.shuffle(&mut stream(seed, 0x4550_4f43_4800_0000 ^ epoch as u64));
        }
        idx
    }
}

struct EpochIter<'a> {
    loader: &'a EpochLoader,
    order: Vec<usize>,
    epoch: Option<u64>,
    pos: usize,
}

impl Iterator for EpochIter<'_> {
    type Item = Result<ImageBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.loader.batch_size).min(self.order.len());
        let mut batch = self.loader.batcher.batch_at(
            &self.order[self.pos..end],
            self.epoch,
            &self.loader.device,
        );
        // Training batches carry the seed of their random draws: (seed, epoch, position).
        batch.rng_key = match (self.loader.shuffle_seed, self.epoch) {
            (Some(seed), Some(epoch)) => Some(mix(
                seed ^ mix(0x4452_4f50 ^ mix(epoch ^ mix(self.pos as u64)))
            )),
            _ => None,
        };
        self.pos = end;
        Some(Ok(batch))
    }
}

impl DataLoaderIterator<ImageBatch> for EpochIter<'_> {
    fn progress(&self) -> Progress {
        Progress {
            items_processed: self.pos,
            items_total: self.order.len(),
            unit: Some("images".into()),
        }
    }
}

impl DataLoader<ImageBatch> for EpochLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<ImageBatch> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        Box::new(EpochIter {
            loader: self,
            order: self.order(epoch),
            epoch: self.shuffle_seed.map(|_| epoch as u64),
            pos: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.range.1 - self.range.0
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<ImageBatch>> {
        Arc::new(Self {
            device: device.clone(),
            ..self.clone()
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<ImageBatch>> {
        let lo = (self.range.0 + start).min(self.range.1);
        let hi = (self.range.0 + end).clamp(lo, self.range.1);
        Arc::new(Self {
            range: (lo, hi),
            ..self.clone()
        })
    }
}

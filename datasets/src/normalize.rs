//! Per-channel mean and standard deviation of a training split (pixel values scaled to
//! [0, 1]), cached as JSON next to the data so they are computed once.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::ImageSet;
use crate::error::{DataError, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Number of images the statistics were computed on.
    pub images: usize,
    /// Fingerprint of the images, so a cache for other data is never reused.
    pub fingerprint: String,
}

impl ChannelStats {
    /// Statistics over all pixels of `set` (two accumulators in f64, one pass).
    pub fn compute(set: &ImageSet) -> Self {
        let c = set.channels;
        let plane = set.height * set.width;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for i in 0..set.len() {
            for (ch, pixels) in set.image(i).chunks_exact(plane).enumerate() {
                let (mut s, mut q) = (0u64, 0u64);
                for &p in pixels {
                    s += p as u64;
                    q += (p as u64) * (p as u64);
                }
                sum[ch] += s as f64;
                sq[ch] += q as f64;
            }
        }
        let n = (set.len() * plane).max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n / 255.0) as f32).collect();
        let std: Vec<f32> = sq
            .iter()
            .zip(&sum)
            .map(|(q, s)| {
                let m = s / n;
                (((q / n - m * m).max(0.0)).sqrt() / 255.0) as f32
            })
            .collect();
        ChannelStats {
            mean,
            std,
            images: set.len(),
            fingerprint: fingerprint(set),
        }
    }

    /// Identity statistics (no normalisation beyond scaling to [0, 1]).
    pub fn identity(channels: usize) -> Self {
        ChannelStats {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
            images: 0,
            fingerprint: String::new(),
        }
    }

    /// Reads the cache at `path` if it was computed for `set`, else computes and writes it
    /// (atomically: a temporary file renamed into place).
    pub fn load_or_compute(path: &Path, set: &ImageSet) -> Result<Self> {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(stats) = serde_json::from_str::<ChannelStats>(&text)
            && stats.fingerprint == fingerprint(set)
            && stats.mean.len() == set.channels
        {
            return Ok(stats);
        }
        let stats = Self::compute(set);
        let text = serde_json::to_string_pretty(&stats).map_err(|e| DataError::Invalid {
            what: "statistics".into(),
            message: e.to_string(),
        })?;
        crate::io::write_atomic(path, text.as_bytes())?;
        Ok(stats)
    }
}

/// MD5 over labels, shape and a sparse sample of the pixels: cheap, and different for a
/// different split or dataset.
fn fingerprint(set: &ImageSet) -> String {
    let mut buf = Vec::new();
    for d in set.shape() {
        buf.extend_from_slice(&(d as u64).to_le_bytes());
    }
    buf.extend(set.labels().iter().flat_map(|l| l.to_le_bytes()));
    buf.extend(set.pixels().iter().step_by(97));
    crate::io::md5_hex(&buf)
}

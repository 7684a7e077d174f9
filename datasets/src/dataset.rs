//! Decoded, in-memory image classification data: decoded once, indexed without copying.

use crate::error::{DataError, Result};

/// `len` images of `channels×height×width` u8 pixels (planar, channel-major), with labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pixels: Vec<u8>,
    labels: Vec<u16>,
    pub class_names: Vec<String>,
}

impl ImageSet {
    pub fn new(
        [channels, height, width]: [usize; 3],
        pixels: Vec<u8>,
        labels: Vec<u16>,
        class_names: Vec<String>,
    ) -> Result<Self> {
        let per = channels * height * width;
        let invalid = |message: String| DataError::Invalid {
            what: "image set".into(),
            message,
        };
        if per == 0 {
            return Err(invalid(format!("image shape {channels}x{height}x{width}")));
        }
        if pixels.len() != per * labels.len() {
            return Err(invalid(format!(
                "{} pixel bytes for {} labels of {channels}x{height}x{width}",
                pixels.len(),
                labels.len()
            )));
        }
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
            return Err(invalid(format!(
                "label {l} out of range for {} classes",
                class_names.len()
            )));
        }
        Ok(Self {
            channels,
            height,
            width,
            pixels,
            labels,
            class_names,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    pub fn image_bytes(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Pixels of image `i`, planar `C×H×W`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_bytes();
        &self.pixels[i * n..(i + 1) * n]
    }

    pub fn label(&self, i: usize) -> u16 {
        self.labels[i]
    }

    pub fn labels(&self) -> &[u16] {
        &self.labels
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// A new set with the images at `indices` (used by splits).
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let n = self.image_bytes();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        ImageSet {
            pixels,
            labels,
            class_names: self.class_names.clone(),
            ..*self
        }
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

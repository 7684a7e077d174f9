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

    /// Only the images of `classes` (label indices), relabelled `0..k` in the order given, with
    /// their names (e.g. a split of a dataset's classes into halves for a transfer study).
    pub fn select_classes(&self, classes: &[usize]) -> Result<ImageSet> {
        let invalid = |message: String| DataError::Invalid {
            what: "data.class_subset".into(),
            message,
        };
        if classes.is_empty() {
            return Err(invalid("needs at least one class".into()));
        }
        let mut new_label = vec![None; self.classes()];
        for (k, &c) in classes.iter().enumerate() {
            let slot = new_label.get_mut(c).ok_or_else(|| {
                invalid(format!(
                    "class {c} does not exist; the data has classes 0..{}",
                    self.classes()
                ))
            })?;
            if slot.is_some() {
                return Err(invalid(format!("class {c} is listed twice")));
            }
            *slot = Some(k as u16);
        }
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| new_label[self.labels[i] as usize].is_some())
            .collect();
        let mut set = self.subset(&keep);
        for l in &mut set.labels {
            *l = new_label[*l as usize].unwrap_or_default();
        }
        set.class_names = classes
            .iter()
            .map(|&c| self.class_names[c].clone())
            .collect();
        Ok(set)
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Every image with `p` zero pixels added on each side (e.g. 28×28 → 32×32 for a net
    /// designed for CIFAR, as LeNet-5 saw MNIST's digits).
    pub fn pad(&self, p: usize) -> ImageSet {
        if p == 0 {
            return self.clone();
        }
        let (h, w) = (self.height + 2 * p, self.width + 2 * p);
        let mut pixels = vec![0u8; self.len() * self.channels * h * w];
        for (dst, src) in pixels
            .chunks_exact_mut(h * w)
            .zip(self.pixels.chunks_exact(self.height * self.width))
        {
            for (r, row) in src.chunks_exact(self.width).enumerate() {
                let at = (r + p) * w + p;
                dst[at..at + self.width].copy_from_slice(row);
            }
        }
        ImageSet {
            height: h,
            width: w,
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            channels: self.channels,
        }
    }

    /// Every image resized to `height × width` with bilinear interpolation (pixel centres
    /// aligned, as `F.interpolate(..., align_corners=False)`).
    pub fn resize(&self, height: usize, width: usize) -> ImageSet {
        if (height, width) == (self.height, self.width) || height == 0 || width == 0 {
            return self.clone();
        }
        let (ih, iw) = (self.height, self.width);
        let axis = |out: usize, inp: usize| -> Vec<(usize, usize, f32)> {
            (0..out)
                .map(|o| {
                    let x = ((o as f32 + 0.5) * inp as f32 / out as f32 - 0.5).max(0.0);
                    let x0 = (x.floor() as usize).min(inp - 1);
                    let x1 = (x0 + 1).min(inp - 1);
                    (x0, x1, x - x0 as f32)
                })
                .collect()
        };
        let (rows, cols) = (axis(height, ih), axis(width, iw));
        let mut pixels = Vec::with_capacity(self.len() * self.channels * height * width);
        for plane in self.pixels.chunks_exact(ih * iw) {
            for &(r0, r1, fr) in &rows {
                for &(c0, c1, fc) in &cols {
                    let v = |r: usize, c: usize| plane[r * iw + c] as f32;
                    let top = v(r0, c0) * (1.0 - fc) + v(r0, c1) * fc;
                    let bottom = v(r1, c0) * (1.0 - fc) + v(r1, c1) * fc;
                    pixels.push((top * (1.0 - fr) + bottom * fr).round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        ImageSet {
            height,
            width,
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            channels: self.channels,
        }
    }
}

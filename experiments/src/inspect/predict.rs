//! `convlab predict`: images through imported weights or a run's model, top-k classes with
//! names (ImageNet's 1000 for torchvision weights, the run's dataset's otherwise).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::{Device, Tensor, TensorData, activation};
use image::imageops::FilterType;
use serde::Serialize;

use crate::run::weights::{Preprocess, WeightsInfo};

/// ImageNet-1k's class names in torchvision's order (from `torchvision.models._meta`).
pub const IMAGENET_CLASSES: &str = include_str!("../../assets/imagenet_classes.txt");

pub fn class_names(info: &WeightsInfo) -> Vec<String> {
    if info.labels.as_deref() == Some("imagenet") {
        IMAGENET_CLASSES.lines().map(str::to_string).collect()
    } else if !info.class_names.is_empty() {
        info.class_names.clone()
    } else {
        (0..info.classes).map(|c| format!("class {c}")).collect()
    }
}

/// An image file as the model's normalised `[C, H, W]` input.
pub fn preprocess(path: &Path, info: &WeightsInfo) -> Result<Vec<f32>> {
    let img =
        image::open(path).with_context(|| format!("{}: cannot read the image", path.display()))?;
    let [c, h, w] = info.input;
    let img = match info.preprocess {
        Preprocess::ResizeCrop { resize, crop } => {
            if crop != h || crop != w {
                bail!("weights: crop {crop} does not match the model's {h}x{w} input");
            }
            // The shorter side to `resize`, the other in proportion, truncated
            // (torchvision's Resize(int): `int(size * long / short)`).
            let (iw, ih) = (img.width() as usize, img.height() as usize);
            let (nw, nh) = if iw <= ih {
                (resize, resize * ih / iw)
            } else {
                (resize * iw / ih, resize)
            };
            let r = img.resize_exact(nw as u32, nh as u32, FilterType::Triangle);
            // torchvision's CenterCrop: `int(round((size - crop) / 2))`, Python's round (half to
            // even: 58.5 → 58).
            let left = ((nw - crop) as f64 / 2.0).round_ties_even() as u32;
            let top = ((nh - crop) as f64 / 2.0).round_ties_even() as u32;
            r.crop_imm(left, top, crop as u32, crop as u32)
        }
        Preprocess::Resize { height, width, pad } => {
            let r = img.resize_exact(width as u32, height as u32, FilterType::Triangle);
            if pad == 0 {
                r
            } else {
                let mut canvas = image::DynamicImage::new(
                    (width + 2 * pad) as u32,
                    (height + 2 * pad) as u32,
                    r.color(),
                );
                image::imageops::overlay(&mut canvas, &r, pad as i64, pad as i64);
                canvas
            }
        }
    };
    let plane = h * w;
    let mut out = vec![0f32; c * plane];
    let mean = |ch: usize| info.mean.get(ch).copied().unwrap_or(0.0);
    let std = |ch: usize| info.std.get(ch).copied().unwrap_or(1.0);
    if c == 1 {
        for (i, p) in img.to_luma8().as_raw().iter().enumerate() {
            out[i] = (*p as f32 / 255.0 - mean(0)) / std(0);
        }
    } else if c == 3 {
        for (i, px) in img.to_rgb8().as_raw().chunks_exact(3).enumerate() {
            for ch in 0..3 {
                out[ch * plane + i] = (px[ch] as f32 / 255.0 - mean(ch)) / std(ch);
            }
        }
    } else {
        bail!("weights: {c} input channels; images have 1 or 3");
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct Prediction {
    pub image: String,
    /// (class index, name, probability), best first.
    pub top: Vec<(usize, String, f32)>,
}

pub fn predict(
    weights: &Path,
    images: &[impl AsRef<Path>],
    top: usize,
    data_dir: Option<&Path>,
) -> Result<Vec<Prediction>> {
    let device = Device::flex();
    let (model, info) = crate::run::weights::load(weights, &device, data_dir)?;
    let names = class_names(&info);
    let [c, h, w] = info.input;
    let mut out = vec![];
    for path in images {
        let path = path.as_ref();
        let x = preprocess(path, &info)?;
        let x = Tensor::<4>::from_data(TensorData::new(x, [1, c, h, w]), &device);
        let p = activation::softmax(model.forward(x), 1)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow!("reading probabilities: {e:?}"))?;
        let mut order: Vec<usize> = (0..p.len()).collect();
        // Highest first; ties to the lower index (the ranking rule of every other metric).
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        out.push(Prediction {
            image: path.display().to_string(),
            top: order
                .into_iter()
                .take(top.max(1))
                .map(|k| (k, names.get(k).cloned().unwrap_or_default(), p[k]))
                .collect(),
        });
    }
    Ok(out)
}

/// Prints each image's top-k as a table (or JSON lines).
pub fn print(preds: &[Prediction], json: bool) -> Result<()> {
    for p in preds {
        if json {
            println!("{}", serde_json::to_string(&p)?);
            continue;
        }
        println!("{}", p.image);
        let mut t = crate::base::table::new(&["rank", "class", "name", "probability"]);
        for (i, (k, name, prob)) in p.top.iter().enumerate() {
            t.add_row(vec![
                (i + 1).to_string(),
                k.to_string(),
                name.clone(),
                format!("{:.4}", prob),
            ]);
        }
        print!("{t}");
    }
    Ok(())
}

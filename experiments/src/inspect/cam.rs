//! `convlab cam`: where a network looks. For a model whose head is global average pooling and
//! one linear layer, the class activation map of Zhou et al. (2016), `M_k = Σ_c w_kc · F_c`,
//! from the last feature maps `F` and the linear weights `w`; for any other head, Grad-CAM
//! (Selvaraju et al. 2017), `ReLU(Σ_c α_c · F_c)` with `α_c` the spatial mean of
//! `∂y_k/∂F_c`. The map is scaled to [0, 1], upsampled to the input and drawn as a heat map over
//! the image the model saw, beside it, with the top classes and their probabilities.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData, activation};
use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use plotters::style::colors::BLACK;
use serde::Serialize;

use crate::inspect::predict::{class_names, preprocess};
use crate::record::pictures::{Label, save_labelled};
use crate::run::weights::WeightsInfo;

/// Which map was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Class activation map (global-average-pooling head).
    Cam,
    GradCam,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Cam => "CAM",
            Method::GradCam => "Grad-CAM",
        }
    }
}

/// One image's map.
#[derive(Debug, Clone, Serialize)]
pub struct CamResult {
    pub image: String,
    /// The PNG written.
    pub picture: String,
    pub method: Method,
    /// The class the map is for, and its name.
    pub class: usize,
    pub class_name: String,
    /// (class, name, probability), best first (three at most).
    pub top: Vec<(usize, String, f32)>,
    /// The map before upsampling, `[h, w]` row-major, scaled to [0, 1].
    #[serde(skip)]
    pub map: Vec<f32>,
    #[serde(skip)]
    pub map_size: [usize; 2],
}

fn floats<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("reading {what}: {e:?}"))
}

/// One image's map before it is drawn.
#[derive(Debug, Clone)]
pub struct ClassMap {
    pub probs: Vec<f32>,
    pub class: usize,
    pub method: Method,
    /// `[h, w]` row-major as computed (CAM: `Σ_c w_kc F_c`; Grad-CAM: after the ReLU).
    pub raw: Vec<f32>,
    /// `raw` scaled to [0, 1].
    pub map: Vec<f32>,
    pub size: [usize; 2],
}

/// The map of `model` for input `x` `[1, C, H, W]` (a model in evaluation mode on an autodiff
/// device), for `class` or the predicted one.
pub fn class_map(
    model: &convlab_models::Model,
    x: Tensor<4>,
    class: Option<usize>,
) -> Result<ClassMap> {
    let features = model.features(x).detach();
    let [_, c, h, w] = features.dims();
    let pick = |probs: &[f32]| -> Result<usize> {
        match class {
            Some(k) if k < probs.len() => Ok(k),
            Some(k) => bail!(
                "--class {k}: the model has {} classes (0 to {})",
                probs.len(),
                probs.len() - 1
            ),
            None => Ok(crate::base::metrics::predicted(probs).unwrap_or(0)),
        }
    };
    let (probs, k, method, raw) = match model.gap_weight() {
        Some(weight) => {
            let logits = model.head().forward(features.clone());
            let probs = floats(activation::softmax(logits, 1), "probabilities")?;
            let k = pick(&probs)?;
            let wk = weight.detach().slice([k..k + 1, 0..c]).reshape([c, 1]);
            let map = (features.reshape([c, h * w]) * wk).sum_dim(0);
            (probs, k, Method::Cam, floats(map, "the map")?)
        }
        None => {
            let f = features.require_grad();
            let logits = model.head().forward(f.clone());
            let probs = floats(
                activation::softmax(logits.clone().detach(), 1),
                "probabilities",
            )?;
            let k = pick(&probs)?;
            let grads = logits.slice([0..1, k..k + 1]).sum().backward();
            let g = f
                .grad(&grads)
                .ok_or_else(|| anyhow!("no gradient reached the feature maps"))?;
            let alpha = g.reshape([c, h * w]).mean_dim(1); // [C, 1]
            let f = f.without_autodiff().reshape([c, h * w]);
            let map = activation::relu((f * alpha).sum_dim(0));
            (probs, k, Method::GradCam, floats(map, "the map")?)
        }
    };
    Ok(ClassMap {
        probs,
        class: k,
        map: scale(&raw, method),
        raw,
        method,
        size: [h, w],
    })
}

/// To [0, 1]: CAM by its range (its values have either sign), Grad-CAM (already ≥ 0) by its
/// maximum. A flat map is all zeros.
fn scale(map: &[f32], method: Method) -> Vec<f32> {
    let hi = map.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let lo = match method {
        Method::Cam => map.iter().cloned().fold(f32::INFINITY, f32::min),
        Method::GradCam => 0.0,
    };
    if !(hi - lo).is_finite() || hi - lo <= f32::EPSILON * hi.abs().max(1.0) {
        return vec![0.0; map.len()];
    }
    map.iter().map(|v| (v - lo) / (hi - lo)).collect()
}

/// The jet colour map at `t` in [0, 1] (blue, cyan, yellow, red).
pub fn jet(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let f = |x: f32| (1.5 - (4.0 * t - x).abs()).clamp(0.0, 1.0);
    [
        (255.0 * f(3.0)) as u8,
        (255.0 * f(2.0)) as u8,
        (255.0 * f(1.0)) as u8,
    ]
}

/// The model's input `[C, H, W]` (normalised) back to an RGB picture of `size`×`size`.
pub fn input_picture(x: &[f32], input: [usize; 3], info: &WeightsInfo, size: u32) -> RgbImage {
    let [c, h, w] = input;
    let plane = h * w;
    let px = |ch: usize, i: usize| -> u8 {
        let m = info.mean.get(ch).copied().unwrap_or(0.0);
        let s = info.std.get(ch).copied().unwrap_or(1.0);
        ((x[ch * plane + i] * s + m).clamp(0.0, 1.0) * 255.0).round() as u8
    };
    let img = RgbImage::from_fn(w as u32, h as u32, |xx, yy| {
        let i = yy as usize * w + xx as usize;
        if c == 1 {
            let v = px(0, i);
            Rgb([v, v, v])
        } else {
            Rgb([px(0, i), px(1, i), px(2, i)])
        }
    });
    // Small inputs (28–32 pixels) stay sharp; larger ones are smoothed.
    let filter = if w < 64 {
        FilterType::Nearest
    } else {
        FilterType::Triangle
    };
    image::imageops::resize(&img, size, size, filter)
}

/// `map` `[h, w]` in [0, 1] upsampled to `size` and laid over `base` (half and half).
pub fn overlay(base: &RgbImage, map: &[f32], [h, w]: [usize; 2]) -> RgbImage {
    let small = image::ImageBuffer::<image::Luma<f32>, Vec<f32>>::from_raw(
        w as u32,
        h as u32,
        map.to_vec(),
    )
    .unwrap_or_else(|| image::ImageBuffer::new(w as u32, h as u32));
    let big = image::imageops::resize(&small, base.width(), base.height(), FilterType::Triangle);
    RgbImage::from_fn(base.width(), base.height(), |x, y| {
        let heat = jet(big.get_pixel(x, y).0[0]);
        let b = base.get_pixel(x, y).0;
        Rgb([0, 1, 2].map(|i| ((b[i] as u16 + heat[i] as u16) / 2) as u8))
    })
}

/// Draws `lines` of text on a white band above `pictures` laid side by side, into `path`.
pub fn captioned(path: &Path, pictures: &[&RgbImage], lines: &[String]) -> Result<()> {
    let pad = 8u32;
    let line_h = 20u32;
    let top = pad + line_h * lines.len() as u32 + pad;
    let width = pictures.iter().map(|p| p.width() + pad).sum::<u32>() + pad;
    let height = top + pictures.iter().map(|p| p.height()).max().unwrap_or(0) + pad;
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut x = pad;
    for p in pictures {
        image::imageops::overlay(&mut canvas, *p, x as i64, top as i64);
        x += p.width() + pad;
    }
    let labels: Vec<Label> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            Label::new(
                line,
                (pad as i32, (pad + line_h * i as u32) as i32),
                15,
                BLACK,
            )
        })
        .collect();
    save_labelled(path, canvas, &labels)
}

/// `convlab cam`: a map per image from a run directory (its best checkpoint) or imported
/// weights, written as `<out>/<image stem>-cam.png`.
pub fn cam(
    weights: &Path,
    images: &[PathBuf],
    class: Option<usize>,
    out: &Path,
    data_dir: Option<&Path>,
) -> Result<Vec<CamResult>> {
    let device = Device::flex().autodiff();
    let (model, info) = crate::run::weights::load(weights, &device, data_dir)?;
    // Evaluation mode (no dropout, batch-norm running statistics) on the autodiff device, for
    // Grad-CAM's gradient.
    let model = model.valid().fork(&device);
    let names = class_names(&info);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let [c, h, w] = info.input;
    let mut results = vec![];
    for path in images {
        let x = preprocess(path, &info)?;
        let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, c, h, w]), &device);
        let ClassMap {
            probs,
            class: k,
            method,
            map,
            size,
            ..
        } = class_map(&model, input, class)?;
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        let name = |i: usize| {
            names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("class {i}"))
        };
        let top: Vec<(usize, String, f32)> = order
            .iter()
            .take(3)
            .map(|&i| (i, name(i), probs[i]))
            .collect();
        let stem = path
            .file_stem()
            .map_or("image".into(), |s| s.to_string_lossy().to_string());
        let picture = out.join(format!("{stem}-cam.png"));
        let base = input_picture(&x, info.input, &info, 224);
        let heat = overlay(&base, &map, size);
        let lines = vec![
            format!(
                "{}: {} for class {k} ({}), from {}x{} feature maps",
                path.file_name()
                    .map_or(String::new(), |s| s.to_string_lossy().to_string()),
                method.name(),
                name(k),
                size[0],
                size[1]
            ),
            top.iter()
                .map(|(i, n, p)| format!("{n} ({i}) {:.1}%", 100.0 * p))
                .collect::<Vec<_>>()
                .join("   "),
        ];
        captioned(&picture, &[&base, &heat], &lines)?;
        results.push(CamResult {
            image: path.display().to_string(),
            picture: picture.display().to_string(),
            method,
            class: k,
            class_name: name(k),
            top,
            map,
            map_size: size,
        });
    }
    Ok(results)
}

//! Training-time augmentation on u8 planar images: random crop with padding (zero or
//! reflect), horizontal flip, random affine (rotation, scale, translation) and random erasing
//! (cutout). Every draw comes from [`sample_rng`]`(seed, epoch, index)`, so an image's
//! augmentation does not depend on loader workers or batch order, and differs per epoch.

use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::sample_rng;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum PadFill {
    #[default]
    Zero,
    Reflect,
}

/// Pad by `padding` on every side, then crop back to the original size at a random offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CropConfig {
    /// Pixels added on each side before the random crop (4 for CIFAR).
    pub padding: usize,
    /// What the padding holds: `zero` or `reflect`.
    #[serde(default)]
    pub fill: PadFill,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AffineConfig {
    /// Probability of applying the transform.
    #[serde(default = "one")]
    pub p: f64,
    /// Maximum rotation in degrees (uniform in ±rotation).
    #[serde(default)]
    pub rotation: f64,
    /// Scale range, e.g. [0.9, 1.1].
    #[serde(default = "unit_range")]
    pub scale: [f64; 2],
    /// Maximum translation as a fraction of width / height.
    #[serde(default)]
    pub translate: f64,
}

/// Random erasing (Zhong et al. 2017) / cutout (DeVries & Taylor 2017): a rectangle of random
/// area and aspect ratio filled with the per-channel mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseConfig {
    /// Probability of erasing a rectangle.
    #[serde(default = "half")]
    pub p: f64,
    /// Erased area as a fraction of the image, e.g. [0.02, 0.33].
    #[serde(default = "erase_area")]
    pub area: [f64; 2],
    /// Aspect ratio range, e.g. [0.3, 3.3].
    #[serde(default = "erase_ratio")]
    pub ratio: [f64; 2],
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn unit_range() -> [f64; 2] {
    [1.0, 1.0]
}
fn erase_area() -> [f64; 2] {
    [0.02, 0.33]
}
fn erase_ratio() -> [f64; 2] {
    [0.3, 3.3]
}

/// The augmentations of a recipe; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Random crop after padding (`[augment.crop]`); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<CropConfig>,
    /// Probability of a horizontal flip (0 = off).
    #[serde(default)]
    pub hflip: f64,
    /// Random rotation, scale and translation (`[augment.affine]`); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affine: Option<AffineConfig>,
    /// Random erasing / cutout (`[augment.erase]`); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase: Option<EraseConfig>,
}

fn invalid(field: &str, message: String) -> DataError {
    DataError::Invalid {
        what: format!("augment.{field}"),
        message,
    }
}

fn check_prob(field: &str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("probability must be in [0, 1], got {p}"),
        ))
    }
}

fn check_range(field: &str, [lo, hi]: [f64; 2], min: f64) -> Result<()> {
    if lo.is_finite() && hi.is_finite() && lo >= min && lo <= hi {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("expected {min} <= low <= high, got [{lo}, {hi}]"),
        ))
    }
}

impl AugmentConfig {
    pub fn is_identity(&self) -> bool {
        self.crop.as_ref().is_none_or(|c| c.padding == 0)
            && self.hflip == 0.0
            && self.affine.is_none()
            && self.erase.is_none()
    }

    /// Checks every value against the image size it will be applied to.
    pub fn validate(&self, [_, h, w]: [usize; 3]) -> Result<()> {
        check_prob("hflip", self.hflip)?;
        if let Some(c) = &self.crop
            && c.fill == PadFill::Reflect
            && c.padding >= h.min(w)
        {
            return Err(invalid(
                "crop.padding",
                format!(
                    "reflect padding {} needs an image larger than {h}x{w}",
                    c.padding
                ),
            ));
        }
        if let Some(a) = &self.affine {
            check_prob("affine.p", a.p)?;
            check_range("affine.scale", a.scale, f64::MIN_POSITIVE)?;
            if !(0.0..=180.0).contains(&a.rotation) {
                return Err(invalid(
                    "affine.rotation",
                    format!("must be in [0, 180] degrees, got {}", a.rotation),
                ));
            }
            if !(0.0..=1.0).contains(&a.translate) {
                return Err(invalid(
                    "affine.translate",
                    format!("must be in [0, 1], got {}", a.translate),
                ));
            }
        }
        if let Some(e) = &self.erase {
            check_prob("erase.p", e.p)?;
            check_range("erase.area", e.area, 0.0)?;
            if e.area[1] > 1.0 {
                return Err(invalid(
                    "erase.area",
                    format!("must be at most 1, got {}", e.area[1]),
                ));
            }
            check_range("erase.ratio", e.ratio, f64::MIN_POSITIVE)?;
        }
        Ok(())
    }
}

/// Applies an [`AugmentConfig`] deterministically per (seed, epoch, index).
#[derive(Debug, Clone)]
pub struct Augmenter {
    pub config: AugmentConfig,
    pub seed: u64,
    /// Per-channel value used for erased pixels (the data's mean).
    pub fill: Vec<u8>,
}

impl Augmenter {
    pub fn new(config: AugmentConfig, seed: u64, fill: Vec<u8>) -> Self {
        Self { config, seed, fill }
    }

    /// Writes the augmented version of `src` (planar `shape`) into `dst`.
    pub fn apply(&self, src: &[u8], shape: [usize; 3], epoch: u64, index: u64, dst: &mut [u8]) {
        let mut rng = sample_rng(self.seed, epoch, index);
        crop_flip(src, shape, &self.config, &mut rng, dst);
        if let Some(a) = &self.config.affine
            && rng.random_bool(a.p)
        {
            affine(dst, shape, a, &mut rng);
        }
        if let Some(e) = &self.config.erase
            && rng.random_bool(e.p)
        {
            erase(dst, shape, e, &self.fill, &mut rng);
        }
    }
}

fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let i = if i < 0 { -i } else { i };
    (if i >= n { 2 * n - 2 - i } else { i }) as usize
}

fn crop_flip(
    src: &[u8],
    [c, h, w]: [usize; 3],
    cfg: &AugmentConfig,
    rng: &mut SmallRng,
    dst: &mut [u8],
) {
    let (pad, fill) = cfg
        .crop
        .as_ref()
        .map_or((0, PadFill::Zero), |c| (c.padding, c.fill));
    let (oy, ox) = if pad > 0 {
        (
            rng.random_range(0..=2 * pad) as isize - pad as isize,
            rng.random_range(0..=2 * pad) as isize - pad as isize,
        )
    } else {
        (0, 0)
    };
    let flip = cfg.hflip > 0.0 && rng.random_bool(cfg.hflip);
    let plane = h * w;
    for ch in 0..c {
        let s = &src[ch * plane..(ch + 1) * plane];
        let d = &mut dst[ch * plane..(ch + 1) * plane];
        for y in 0..h {
            let sy = y as isize + oy;
            let row = &mut d[y * w..(y + 1) * w];
            let sy = match fill {
                _ if (0..h as isize).contains(&sy) => Some(sy as usize),
                PadFill::Reflect => Some(reflect(sy, h)),
                PadFill::Zero => None,
            };
            let Some(sy) = sy else {
                row.fill(0);
                continue;
            };
            let srow = &s[sy * w..(sy + 1) * w];
            if ox == 0 && !flip {
                row.copy_from_slice(srow);
                continue;
            }
            for (x, out) in row.iter_mut().enumerate() {
                let xx = if flip { w - 1 - x } else { x };
                let sx = xx as isize + ox;
                *out = if (0..w as isize).contains(&sx) {
                    srow[sx as usize]
                } else {
                    match fill {
                        PadFill::Reflect => srow[reflect(sx, w)],
                        PadFill::Zero => 0,
                    }
                };
            }
        }
    }
}

/// Rotation, scale and translation about the image centre; bilinear sampling, zero fill.
fn affine(img: &mut [u8], [c, h, w]: [usize; 3], cfg: &AffineConfig, rng: &mut SmallRng) {
    let angle = if cfg.rotation > 0.0 {
        rng.random_range(-cfg.rotation..=cfg.rotation)
    } else {
        0.0
    };
    let scale = if cfg.scale[0] < cfg.scale[1] {
        rng.random_range(cfg.scale[0]..=cfg.scale[1])
    } else {
        cfg.scale[0]
    };
    let (tx, ty) = if cfg.translate > 0.0 {
        let t = cfg.translate;
        (
            rng.random_range(-t..=t) * w as f64,
            rng.random_range(-t..=t) * h as f64,
        )
    } else {
        (0.0, 0.0)
    };
    let (sin, cos) = angle.to_radians().sin_cos();
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let plane = h * w;
    let src = img.to_vec();
    for y in 0..h {
        for x in 0..w {
            // Inverse map: output pixel -> source position.
            let (dx, dy) = (x as f64 - cx - tx, y as f64 - cy - ty);
            let sx = (cos * dx + sin * dy) / scale + cx;
            let sy = (-sin * dx + cos * dy) / scale + cy;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            for ch in 0..c {
                let s = &src[ch * plane..(ch + 1) * plane];
                let at = |xx: f64, yy: f64| -> f64 {
                    if xx < 0.0 || yy < 0.0 || xx >= w as f64 || yy >= h as f64 {
                        0.0
                    } else {
                        s[yy as usize * w + xx as usize] as f64
                    }
                };
                let v = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + at(x0 + 1.0, y0) * fx * (1.0 - fy)
                    + at(x0, y0 + 1.0) * (1.0 - fx) * fy
                    + at(x0 + 1.0, y0 + 1.0) * fx * fy;
                img[ch * plane + y * w + x] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

fn erase(
    img: &mut [u8],
    [c, h, w]: [usize; 3],
    cfg: &EraseConfig,
    fill: &[u8],
    rng: &mut SmallRng,
) {
    let area = (h * w) as f64;
    // torchvision's RandomErasing: up to 10 tries for a rectangle that fits.
    for _ in 0..10 {
        let a = area
            * if cfg.area[0] < cfg.area[1] {
                rng.random_range(cfg.area[0]..=cfg.area[1])
            } else {
                cfg.area[0]
            };
        let (lr0, lr1) = (cfg.ratio[0].ln(), cfg.ratio[1].ln());
        let r = if lr0 < lr1 {
            rng.random_range(lr0..=lr1).exp()
        } else {
            cfg.ratio[0]
        };
        let eh = (a * r).sqrt().round() as usize;
        let ew = (a / r).sqrt().round() as usize;
        if eh == 0 || ew == 0 || eh >= h || ew >= w {
            continue;
        }
        let y0 = rng.random_range(0..=h - eh);
        let x0 = rng.random_range(0..=w - ew);
        let plane = h * w;
        for ch in 0..c {
            let v = fill.get(ch).copied().unwrap_or(0);
            for y in y0..y0 + eh {
                img[ch * plane + y * w + x0..ch * plane + y * w + x0 + ew].fill(v);
            }
        }
        return;
    }
}

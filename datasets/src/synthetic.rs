//! Synthetic classification data for tests and smoke runs: each class is a fixed pattern of
//! oriented gratings (one per channel, from the seed), every sample a shifted, noisy copy.
//! A small CNN separates the classes within seconds; the same seed gives the same bytes.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::ImageSet;
use crate::error::{DataError, Result};
use crate::rng::stream;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    pub samples: usize,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    pub classes: usize,
    pub seed: u64,
    /// Uniform noise amplitude as a fraction of the pixel range.
    #[serde(default = "default_noise")]
    pub noise: f32,
}

fn default_noise() -> f32 {
    0.2
}

impl SyntheticConfig {
    pub fn new(samples: usize, shape: [usize; 3], classes: usize, seed: u64) -> Self {
        Self {
            samples,
            shape,
            classes,
            seed,
            noise: default_noise(),
        }
    }
}

struct Grating {
    fx: f32,
    fy: f32,
    phase: f32,
    offset: f32,
}

pub fn generate(cfg: &SyntheticConfig) -> Result<ImageSet> {
    let [c, h, w] = cfg.shape;
    if cfg.classes == 0 || c == 0 || h == 0 || w == 0 {
        return Err(DataError::Invalid {
            what: "synthetic data".into(),
            message: format!(
                "needs at least one class and a positive shape, got {} classes of {c}x{h}x{w}",
                cfg.classes
            ),
        });
    }
    if !(0.0..=1.0).contains(&cfg.noise) {
        return Err(DataError::Invalid {
            what: "synthetic noise".into(),
            message: format!("must be in [0, 1], got {}", cfg.noise),
        });
    }
    let mut templates = stream(cfg.seed, 0x5157_4e54);
    let gratings: Vec<Vec<Grating>> = (0..cfg.classes)
        .map(|_| {
            (0..c)
                .map(|_| Grating {
                    fx: templates.random_range(-3.0f32..3.0),
                    fy: templates.random_range(-3.0f32..3.0),
                    phase: templates.random_range(0.0f32..std::f32::consts::TAU),
                    offset: templates.random_range(-40.0f32..40.0),
                })
                .collect()
        })
        .collect();
    let mut rng = stream(cfg.seed, 0x5341_4d50);
    let mut pixels = Vec::with_capacity(cfg.samples * c * h * w);
    let mut labels = Vec::with_capacity(cfg.samples);
    let amp = cfg.noise * 127.0;
    for i in 0..cfg.samples {
        let label = i % cfg.classes;
        let (dx, dy) = (
            rng.random_range(-2.0f32..=2.0),
            rng.random_range(-2.0f32..=2.0),
        );
        for g in &gratings[label] {
            for y in 0..h {
                for x in 0..w {
                    let u = (x as f32 + dx) / w as f32;
                    let v = (y as f32 + dy) / h as f32;
                    let s = (std::f32::consts::TAU * (g.fx * u + g.fy * v) + g.phase).sin();
                    let noise = if amp > 0.0 {
                        rng.random_range(-amp..=amp)
                    } else {
                        0.0
                    };
                    let value = 128.0 + g.offset + 70.0 * s + noise;
                    pixels.push(value.clamp(0.0, 255.0) as u8);
                }
            }
        }
        labels.push(label as u16);
    }
    let names = (0..cfg.classes).map(|k| format!("class-{k}")).collect();
    ImageSet::new(cfg.shape, pixels, labels, names)
}

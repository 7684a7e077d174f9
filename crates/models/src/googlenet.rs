//! GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going deeper with convolutions", Table 1)
//! in torchvision's layout: batch norm in every conv block (which replaced the paper's LRN),
//! ceil-mode max pools, the "5×5" branch as a 3×3 (torchvision's kept deviation), dropout 0.2
//! before the classifier, optional auxiliary classifiers after Inception 4a and 4d.
//!
//! `googlenet-cifar` keeps the Inception stack and replaces the 7×7/2 stem and its two pools
//! with one 3×3 conv of 192 (kuangliu/pytorch-cifar), so 32×32 input reaches 8×8 at 5b.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use convlab_blocks::inception::basic_conv;
use convlab_blocks::{
    ClassifierHead, ClassifierHeadConfig, DropoutPosition, InceptionAux, InceptionAuxConfig,
    InceptionConfig, Layer, Sequential, Shape, ShapeError, Trace, Tracer, max_pool, scale_channels,
};

use crate::config::Knobs;

/// Table 1 of the paper: an Inception module's `#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5,
/// pool proj`, or a max pool (`k`, `s`).
#[derive(Clone, Copy)]
enum Stage {
    I(&'static str, [usize; 6]),
    Pool(usize, usize),
}
use Stage::{I, Pool};

const BODY: [Stage; 11] = [
    I("3a", [64, 96, 128, 16, 32, 32]),
    I("3b", [128, 128, 192, 32, 96, 64]),
    Pool(3, 2),
    I("4a", [192, 96, 208, 16, 48, 64]),
    I("4b", [160, 112, 224, 24, 64, 64]),
    I("4c", [128, 128, 256, 24, 64, 64]),
    I("4d", [112, 144, 288, 32, 64, 64]),
    I("4e", [256, 160, 320, 32, 128, 128]),
    Pool(2, 2),
    I("5a", [256, 160, 320, 32, 128, 128]),
    I("5b", [384, 192, 384, 48, 128, 128]),
];

/// Auxiliary classifiers read the outputs of these modules.
const AUX_AFTER: [&str; 2] = ["4a", "4d"];

#[derive(Module, Debug)]
pub struct GoogLeNet {
    pub stem: Sequential,
    pub body: Sequential,
    pub aux: Vec<InceptionAux>,
    /// Body indices whose output feeds `aux[i]`.
    #[module(skip)]
    pub aux_after: Vec<usize>,
    pub head: ClassifierHead,
}

impl GoogLeNet {
    /// `[N, C, H, W]` → logits `[N, classes]` (auxiliary heads skipped).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.body.forward(self.stem.forward(x)))
    }

    /// Main logits and the auxiliary heads' logits, for training.
    pub fn forward_with_aux(&self, x: Tensor<4>) -> (Tensor<2>, Vec<Tensor<2>>) {
        let mut x = self.stem.forward(x);
        let mut aux = Vec::with_capacity(self.aux.len());
        for (i, layer) in self.body.layers.iter().enumerate() {
            x = layer.forward(x);
            if let Some(k) = self.aux_after.iter().position(|&j| j == i) {
                aux.push(self.aux[k].forward(x.clone()));
            }
        }
        (self.head.forward(x), aux)
    }
}

impl Trace for GoogLeNet {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            let mut s = self.stem.trace(t, "stem", input)?;
            let mut taps = Vec::new();
            t.scope("body", |t| {
                for (i, layer) in self.body.layers.iter().enumerate() {
                    s = layer.trace(t, &i.to_string(), s)?;
                    if self.aux_after.contains(&i) {
                        taps.push(s);
                    }
                }
                Ok::<_, ShapeError>(())
            })?;
            for (k, (aux, tap)) in self.aux.iter().zip(taps).enumerate() {
                aux.trace(t, &format!("aux.{k}"), tap)?;
            }
            self.head.trace(t, "head", s)
        })
    }
}

/// `cifar`: the 3×3 stem of 192 without the early pools.
pub(crate) fn build(cifar: bool, knobs: &Knobs, device: &Device) -> Result<GoogLeNet, ShapeError> {
    let w = |c: usize| scale_channels(c, knobs.width, 1);
    let c0 = knobs.input[0];
    let conv = |i, o, k: usize, s: usize| {
        basic_conv(i, o, k, knobs.init)
            .stride(s)
            .init(device)
            .map(Layer::Conv)
    };
    let (stem, mut channels) = if cifar {
        (Sequential::new(vec![conv(c0, w(192), 3, 1)?]), w(192))
    } else {
        let stem = vec![
            conv(c0, w(64), 7, 2)?,
            Layer::MaxPool(max_pool(3, 2, 0, true)),
            conv(w(64), w(64), 1, 1)?,
            conv(w(64), w(192), 3, 1)?,
            Layer::MaxPool(max_pool(3, 2, 0, true)),
        ];
        (Sequential::new(stem), w(192))
    };
    let mut body = Vec::with_capacity(BODY.len());
    let mut aux = Vec::new();
    let mut aux_after = Vec::new();
    for stage in BODY {
        match stage {
            Pool(k, s) => body.push(Layer::MaxPool(max_pool(k, s, 0, true))),
            I(name, [c1, c3r, c3, c5r, c5, pp]) => {
                let cfg = InceptionConfig {
                    in_channels: channels,
                    ch1x1: w(c1),
                    ch3x3_reduce: w(c3r),
                    ch3x3: w(c3),
                    ch5x5_reduce: w(c5r),
                    ch5x5: w(c5),
                    pool_proj: w(pp),
                    branch3_kernel: 3,
                    init: knobs.init,
                };
                channels = cfg.out_channels();
                body.push(Layer::Inception(cfg.init(device)?));
                if knobs.aux_heads && AUX_AFTER.contains(&name) {
                    aux_after.push(body.len() - 1);
                    aux.push(
                        InceptionAuxConfig {
                            in_channels: channels,
                            classes: knobs.classes,
                            conv_channels: w(128),
                            hidden: w(1024),
                            dropout: 0.7,
                            init: knobs.init,
                        }
                        .init(device)?,
                    );
                }
            }
        }
    }
    let head = ClassifierHeadConfig::gap(knobs.classes)
        .dropout(knobs.dropout, DropoutPosition::BeforeOutput)
        .init_scheme(knobs.init)
        .init(Shape::Map(channels, 1, 1), device)?;
    Ok(GoogLeNet {
        stem,
        body: Sequential::new(body),
        aux,
        aux_after,
        head,
    })
}

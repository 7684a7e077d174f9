//! Forward logits on flex and ndarray agree within 1e-4 from the same weights, in eval mode
//! (batch norm with running statistics) and in training mode (batch statistics).

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use convlab_experiments::{Backend, select};
use convlab_models::{Arch, Model, ModelConfig};

const TOLERANCE: f32 = 1e-4;

fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> (f32, f32) {
    let a = a
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 logits");
    let b = b
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 logits");
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    (diff, scale)
}

fn logits_on(model: &Model, x: &Tensor<4>, device: &Device) -> Tensor<2> {
    let m = model.clone().to_device(device);
    let x = Tensor::<4>::from_data(x.to_data(), device);
    m.forward(x)
}

fn check(cfg: ModelConfig) {
    let flex = Device::flex();
    let ndarray = select(Backend::Ndarray)
        .expect("ndarray is compiled in")
        .device;
    flex.seed(11);
    let arch = cfg.arch;
    let model = cfg.init(&flex).expect("model");
    let [c, h, w] = model.input;
    let x = Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), &flex);
    // The first forward pass initialises every (lazy) parameter on flex, so the copies below
    // carry the same weights.
    let reference = model.forward(x.clone());
    for (mode, a, b) in [
        ("eval", flex.clone(), ndarray.clone()),
        ("train", flex.clone().autodiff(), ndarray.clone().autodiff()),
    ] {
        let la = logits_on(&model, &x, &a);
        let lb = logits_on(&model, &x, &b);
        if mode == "eval" {
            let (d, _) = max_abs_diff(reference.clone(), la.clone());
            assert!(
                d == 0.0,
                "{arch}: copying the model changed its logits by {d}"
            );
        }
        let (diff, scale) = max_abs_diff(la, lb);
        println!("{arch} {mode}: max |flex - ndarray| = {diff:e} (max |logit| {scale:.3})");
        assert!(
            diff <= TOLERANCE * scale,
            "{arch} ({mode}): flex and ndarray logits differ by {diff:e} > {TOLERANCE:e}·{scale}"
        );
    }
}

#[test]
fn lenet5_flex_matches_ndarray() {
    check(ModelConfig::new(Arch::LeNet5));
}

#[test]
fn resnet20_flex_matches_ndarray() {
    check(ModelConfig::new(Arch::ResNet20));
}

#[test]
fn vgg11_bn_flex_matches_ndarray() {
    check(
        ModelConfig::new(Arch::Vgg11Bn)
            .with_width(1.0 / 16.0)
            .with_dropout(0.0),
    );
}

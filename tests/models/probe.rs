//! The views inside a model that diagnostics and class activation maps use: `features` then
//! `head` is `forward`; `relu_outputs` gives the same logits and one output per ReLU layer,
//! named as the summary names it, every value ≥ 0.

use burn::module::Module;
use burn::tensor::{Distribution, Tensor};
use convlab_models::{Arch, HeadKind, ModelConfig};

fn close(a: Tensor<2>, b: Tensor<2>, what: &str) {
    let d = (a.clone() - b).abs().max().into_scalar::<f32>();
    let scale = a.abs().max().into_scalar::<f32>().max(1.0);
    assert!(d <= 1e-5 * scale, "{what}: max difference {d}");
}

#[test]
fn features_head_and_relu_outputs_agree_with_forward() {
    let device = super::flex();
    device.seed(3);
    let cases = [
        (Arch::LeNet5, None, None, None, 4usize, false),
        // Cut after its second convolution: a global-average-pooling head.
        (Arch::LeNet5, None, None, Some(3), 2, true),
        // Eight convolutions and the head's two hidden layers.
        (Arch::Vgg11BnCifar, Some(0.125), None, None, 10, false),
        (Arch::Vgg11, Some(0.125), Some(HeadKind::Gap), None, 8, true),
        (Arch::ResNet20, Some(0.5), None, None, 10, true),
        // One stem convolution and nine inception blocks.
        (Arch::GoogLeNetCifar, Some(0.125), None, None, 10, true),
    ];
    for (arch, width, head, cut, relus, gap) in cases {
        let mut cfg = ModelConfig::new(arch);
        cfg.width = width;
        cfg.head = head;
        cfg.cut = cut;
        if arch == Arch::Vgg11 {
            cfg.input = Some([3, 32, 32]);
        }
        let model = cfg.init(&device).expect("model").valid();
        let [c, h, w] = model.input;
        let x = Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let what = format!("{arch} head {head:?} cut {cut:?}");
        let logits = model.forward(x.clone());
        close(
            logits.clone(),
            model.head().forward(model.features(x.clone())),
            &format!("{what}: head(features(x))"),
        );
        let (again, outputs) = model.relu_outputs(x);
        close(logits, again, &format!("{what}: relu_outputs' logits"));
        assert_eq!(outputs.len(), relus, "{what}: ReLU layers");
        let summary: Vec<String> = model
            .summary()
            .rows
            .iter()
            .map(|r| r.path.clone())
            .collect();
        for o in &outputs {
            assert!(
                summary
                    .iter()
                    .any(|p| p == &o.layer || p.starts_with(&format!("{}.", o.layer))),
                "{what}: {} is not a layer of the summary {summary:?}",
                o.layer
            );
            let min = o.output.clone().min().into_scalar::<f32>();
            assert!(
                min >= 0.0,
                "{what}: {} has a value {min} < 0 after its ReLU",
                o.layer
            );
        }
        assert_eq!(model.gap_weight().is_some(), gap, "{what}: GAP head");
    }
}

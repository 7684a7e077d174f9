//! Every architecture, at its default input and batch 2 (width-reduced), gives logits of shape
//! [2, classes], and one backward pass reaches every parameter with a non-zero gradient.

use burn::module::{ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Distribution, Gradients, Int, Tensor};
use convlab_blocks::is_buffer;
use convlab_models::{Arch, ModelConfig};

struct GradCheck<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    checked: usize,
    missing: Vec<String>,
    zero: Vec<String>,
}

impl ModuleVisitor for GradCheck<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if is_buffer(&self.path) {
            return;
        }
        self.checked += 1;
        match param.val().grad(self.grads) {
            None => self.missing.push(self.path.join(".")),
            Some(g) => {
                if g.abs().max().into_scalar::<f32>() == 0.0 {
                    self.zero.push(self.path.join("."));
                }
            }
        }
    }
}

fn forward_backward(cfg: ModelConfig) {
    let device = super::flex().autodiff();
    device.seed(7);
    let arch = cfg.arch;
    let model = cfg.init(&device).unwrap_or_else(|e| panic!("{arch}: {e}"));
    let [c, h, w] = model.input;
    let classes = model.classes;
    let x = Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data([0i64, (classes as i64 - 1).min(1)], &device);
    let (logits, aux) = model.forward_with_aux(x);
    assert_eq!(logits.dims(), [2, classes], "{arch}");
    let ce = CrossEntropyLossConfig::new().init(&device);
    let mut loss = ce.forward(logits, y.clone());
    for a in aux {
        assert_eq!(a.dims(), [2, classes], "{arch} aux head");
        loss = loss + ce.forward(a, y.clone()).mul_scalar(0.3);
    }
    let value = loss.clone().into_scalar::<f32>();
    assert!(value.is_finite(), "{arch}: loss {value}");
    let grads = loss.backward();
    let mut check = GradCheck {
        grads: &grads,
        path: vec![],
        checked: 0,
        missing: vec![],
        zero: vec![],
    };
    burn::module::Module::visit(&model, &mut check);
    assert!(check.checked > 0, "{arch}: no parameters visited");
    assert!(
        check.missing.is_empty(),
        "{arch}: no gradient for {:?}",
        check.missing
    );
    assert!(
        check.zero.is_empty(),
        "{arch}: all-zero gradient for {:?}",
        check.zero
    );
}

#[test]
fn every_arch_forward_and_backward() {
    for &arch in Arch::ALL {
        forward_backward(ModelConfig::new(arch).with_width(super::test_width(arch)));
    }
}

#[test]
fn googlenet_aux_heads_train() {
    forward_backward(
        ModelConfig::new(Arch::GoogLeNetCifar)
            .with_width(0.25)
            .with_aux_heads(true),
    );
}

#[test]
fn knob_variants_train() {
    use convlab_blocks::{Activation, Shortcut};
    use convlab_models::{HeadKind, PoolKind};
    let variants = [
        ModelConfig::new(Arch::LeNet5)
            .with_activation(Activation::Tanh)
            .with_pool(PoolKind::Avg)
            .with_input([1, 32, 32]),
        ModelConfig::new(Arch::LeNet5)
            .with_input([3, 32, 32])
            .with_batch_norm(true),
        ModelConfig::new(Arch::AlexNetCifar)
            .with_lrn(true)
            .with_batch_norm(true)
            .with_width(0.25),
        ModelConfig::new(Arch::AlexNet2012)
            .with_groups(2)
            .with_width(1.0 / 16.0),
        ModelConfig::new(Arch::Vgg11Cifar)
            .with_head(HeadKind::Gap)
            .with_width(0.25),
        ModelConfig::new(Arch::Vgg11BnCifar)
            .with_dropout(0.0)
            .with_width(0.25),
        ModelConfig::new(Arch::ResNet20)
            .with_shortcut(Shortcut::B)
            .with_width(0.5),
        ModelConfig::new(Arch::ResNet20).with_init(convlab_models::Init::Pytorch),
        ModelConfig::new(Arch::ResNet18)
            .with_shortcut(Shortcut::A)
            .with_width(1.0 / 16.0),
        ModelConfig::new(Arch::ResNet56)
            .with_classes(100)
            .with_width(0.25),
    ];
    for cfg in variants {
        forward_backward(cfg);
    }
}

//! Learning-rate schedules (every rate over the iterations, warm-up included) and the default
//! initialisation of each family, against PyTorch and torchvision.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use convlab_experiments::config::recipe::{ScheduleConfig, ScheduleKind};
use convlab_experiments::run::schedule::Schedule;
use convlab_models::{Arch, ModelConfig};

use crate::fixture::values;
use crate::{Fixture, device};

#[test]
fn every_schedule_equals_pytorch_over_every_iteration() {
    let f = Fixture::load("schedules");
    let ipe = f.usize("/iters_per_epoch");
    let cases: [(&str, ScheduleConfig); 6] = [
        (
            "step",
            ScheduleConfig {
                kind: ScheduleKind::Step,
                step_size: 2,
                ..Default::default()
            },
        ),
        (
            "multi_step",
            ScheduleConfig {
                kind: ScheduleKind::MultiStep,
                milestones: vec![2, 5],
                ..Default::default()
            },
        ),
        (
            "cosine",
            ScheduleConfig {
                kind: ScheduleKind::Cosine,
                min_lr: 0.001,
                ..Default::default()
            },
        ),
        (
            "warmup_cosine",
            ScheduleConfig {
                kind: ScheduleKind::Cosine,
                warmup_epochs: 1,
                warmup_start_factor: 0.1,
                ..Default::default()
            },
        ),
        (
            "warmup_multi_step",
            ScheduleConfig {
                kind: ScheduleKind::MultiStep,
                milestones: vec![2, 4],
                gamma: 0.5,
                warmup_epochs: 1,
                warmup_start_factor: 0.25,
                ..Default::default()
            },
        ),
        (
            "constant_warmup",
            ScheduleConfig {
                kind: ScheduleKind::Constant,
                warmup_epochs: 1,
                warmup_start_factor: 0.1,
                ..Default::default()
            },
        ),
    ];
    for (name, cfg) in cases {
        let c = f.at(&format!("/cases/{name}"));
        let want: Vec<f64> = c.0["lr"]
            .as_array()
            .expect("lr")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        let s = Schedule::new(cfg, c.f64("/base_lr"), ipe, c.usize("/epochs"));
        for (it, w) in want.iter().enumerate() {
            let got = s.lr_at(it);
            assert!(
                (got - w).abs() <= 1e-12 * w.abs().max(1e-12),
                "{name}: iteration {it}: {got} vs PyTorch {w}"
            );
        }
    }
}

/// What a parameter is, from its name and its siblings' shapes (torchvision) or its path
/// (convlab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    ConvWeight,
    ConvBias,
    LinearWeight,
    LinearBias,
    BnWeight,
    BnBias,
}

struct Collect {
    path: Vec<String>,
    out: Vec<(Role, Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let p = self.path.join(".");
        let mut shape = param.shape().dims::<D>().to_vec();
        let role = if p.ends_with("bn.gamma") {
            Role::BnWeight
        } else if p.ends_with("bn.beta") {
            Role::BnBias
        } else if p.ends_with("conv.weight") {
            Role::ConvWeight
        } else if p.ends_with("conv.bias") {
            Role::ConvBias
        } else if p.contains("linears.") && p.ends_with("weight") {
            shape.reverse(); // Burn keeps linear weights as [in, out]
            Role::LinearWeight
        } else if p.contains("linears.") && p.ends_with("bias") {
            Role::LinearBias
        } else {
            return; // running statistics
        };
        self.out.push((role, shape, values(param.val())));
    }
}

/// Parameters grouped by role and shape; torchvision's as (mean, std, elements) per tensor.
type Groups<T> = BTreeMap<(Role, Vec<usize>), Vec<T>>;

/// Pooled (n, mean, std) of a set of tensors.
fn pooled(tensors: &[Vec<f32>]) -> (usize, f64, f64) {
    let n: usize = tensors.iter().map(Vec::len).sum();
    let mean = tensors.iter().flatten().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = tensors
        .iter()
        .flatten()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    (n, mean, var.sqrt())
}

#[test]
fn default_init_matches_torchvision_per_family() {
    let f = Fixture::load("init");
    for (arch, key) in [
        (Arch::AlexNet, "alexnet"),
        (Arch::Vgg11Bn, "vgg11_bn"),
        (Arch::ResNet18, "resnet18"),
        (Arch::GoogLeNet, "googlenet"),
    ] {
        // torchvision: role from the name and the shape of the module's weight.
        let params = f.0[key]["params"].as_array().expect("params");
        let shape_of = |name: &str| -> Vec<usize> {
            params
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| {
                    p["shape"]
                        .as_array()
                        .expect("shape")
                        .iter()
                        .map(|d| d.as_u64().expect("dim") as usize)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut theirs: Groups<(f64, f64, usize)> = BTreeMap::new();
        for p in params {
            let name = p["name"].as_str().expect("name");
            let shape = shape_of(name);
            let module = name.rsplit_once('.').map_or("", |(m, _)| m);
            let weight_rank = shape_of(&format!("{module}.weight")).len();
            let role = match (name.ends_with(".weight"), shape.len(), weight_rank) {
                (true, 4, _) => Role::ConvWeight,
                (true, 2, _) => Role::LinearWeight,
                (true, 1, _) => Role::BnWeight,
                (false, _, 4) => Role::ConvBias,
                (false, _, 2) => Role::LinearBias,
                _ => Role::BnBias,
            };
            let n: usize = shape.iter().product();
            theirs.entry((role, shape)).or_default().push((
                p["mean"].as_f64().expect("mean"),
                p["std"].as_f64().expect("std"),
                n,
            ));
        }
        let model = ModelConfig::new(arch).init(&device()).expect("model");
        let mut c = Collect {
            path: vec![],
            out: vec![],
        };
        model.visit(&mut c);
        let mut ours: Groups<Vec<f32>> = BTreeMap::new();
        for (role, shape, v) in c.out {
            ours.entry((role, shape)).or_default().push(v);
        }
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{key}: parameter roles and shapes"
        );
        for (k, tensors) in &ours {
            let (n, mean, std) = pooled(tensors);
            let t = &theirs[k];
            let tn: usize = t.iter().map(|x| x.2).sum();
            let t_mean = t.iter().map(|x| x.0 * x.2 as f64).sum::<f64>() / tn as f64;
            let t_std = (t.iter().map(|x| x.1 * x.1 * x.2 as f64).sum::<f64>() / tn as f64).sqrt();
            // Both sides are samples: a std is off by about std/√(2n) and a mean by std/√n on
            // each; allow five of those (of the difference, hence √2) plus 1 % for the std.
            let tol = t_std * (5.0 * 2f64.sqrt() / (2.0 * n as f64).sqrt() + 0.01);
            assert!(
                (std - t_std).abs() <= tol + 1e-12,
                "{key} {k:?}: std {std:.6} vs torchvision {t_std:.6}"
            );
            assert!(
                (mean - t_mean).abs() <= 5.0 * 2f64.sqrt() * t_std / (n as f64).sqrt() + 1e-9,
                "{key} {k:?}: mean {mean:.6} vs torchvision {t_mean:.6}"
            );
        }
    }
}

/// `model.init = "kaiming"` takes the gain of the model's non-linearity, as PyTorch's
/// `kaiming_normal_(w, mode="fan_out", nonlinearity=...)` with `calculate_gain`: every conv
/// weight's std is √2/√fan_out for ReLU and (5/3)/√fan_out for tanh (fan_out = out·kh·kw).
#[test]
fn kaiming_takes_the_gain_of_the_nonlinearity() {
    use convlab_blocks::Activation;
    use convlab_models::Init;
    for (activation, gain) in [
        (Activation::Relu, 2f64.sqrt()),
        (Activation::Tanh, 5.0 / 3.0),
    ] {
        let mut cfg = ModelConfig::new(Arch::AlexNetCifar).with_activation(activation);
        cfg.init = Some(Init::Kaiming);
        let model = cfg.init(&device()).expect("model");
        let mut c = Collect {
            path: vec![],
            out: vec![],
        };
        model.visit(&mut c);
        let mut convs = 0;
        for (role, shape, v) in &c.out {
            if *role != Role::ConvWeight {
                continue;
            }
            convs += 1;
            let fan_out = (shape[0] * shape[2] * shape[3]) as f64;
            let (n, _, std) = pooled(std::slice::from_ref(v));
            let want = gain / fan_out.sqrt();
            // A sample std is off by about std/√(2n); allow five of those.
            assert!(
                (std - want).abs() <= want * 5.0 / (2.0 * n as f64).sqrt(),
                "{activation:?} {shape:?}: std {std:.6}, want {want:.6}"
            );
        }
        assert!(convs >= 5, "{convs} conv layers");
    }
}

//! Optimisers with PyTorch's semantics (Burn's defaults differ: SGD momentum dampening 0.1,
//! Adam ε 1e-5). Weight decay skips batch-norm parameters and biases unless the recipe says
//! otherwise.

use burn::module::ParamGroup;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use crate::config::recipe::{OptimizerConfig, OptimizerKind};

/// Parameter paths that are batch-norm scales/shifts or biases.
pub const NORM_AND_BIAS: &str = r"(\.bias|\.gamma|\.beta)$";

pub fn build(cfg: &OptimizerConfig) -> ModuleOptimizer {
    let decay = cfg.weight_decay;
    let exempt = !cfg.decay_norm_and_bias && decay > 0.0;
    let group = || ParamGroup::from_regex(NORM_AND_BIAS).expect("valid regex");
    match cfg.kind {
        OptimizerKind::Sgd => {
            let sgd = |wd: f64| {
                SgdConfig::new()
                    .with_momentum((cfg.momentum > 0.0).then(|| {
                        MomentumConfig::new()
                            .with_momentum(cfg.momentum)
                            .with_dampening(0.0)
                            .with_nesterov(cfg.nesterov)
                    }))
                    .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
            };
            let optim = sgd(decay).init();
            if exempt {
                optim.with_group(group(), sgd(0.0).build(), None)
            } else {
                optim
            }
        }
        OptimizerKind::Adam => {
            let adam = |wd: f64| {
                AdamConfig::new()
                    .with_beta_1(cfg.betas[0] as f32)
                    .with_beta_2(cfg.betas[1] as f32)
                    .with_epsilon(cfg.eps as f32)
                    .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
            };
            let optim = adam(decay).init();
            if exempt {
                optim.with_group(group(), adam(0.0).build(), None)
            } else {
                optim
            }
        }
        OptimizerKind::Adamw => {
            let adamw = |wd: f64| {
                AdamWConfig::new()
                    .with_beta_1(cfg.betas[0] as f32)
                    .with_beta_2(cfg.betas[1] as f32)
                    .with_epsilon(cfg.eps as f32)
                    .with_weight_decay(wd as f32)
            };
            let optim = adamw(decay).init();
            if exempt {
                optim.with_group(group(), adamw(0.0).build(), None)
            } else {
                optim
            }
        }
    }
}

//! Backend parity: every family, width-reduced at tiny inputs, on flex, ndarray and wgpu —
//! logits, every parameter's gradient, and the loss trajectory of a few SGD steps — plus 20
//! steps of LeNet-5. flex is the reference. wgpu runs on whatever adapter wgpu finds (Mesa's
//! software Vulkan in CI); set CONVLAB_SKIP_WGPU=1 on machines without Vulkan.
#![cfg(all(feature = "ndarray", feature = "wgpu"))]

use convlab_experiments::compare::{
    CompareConfig, CompareRow, Tolerance, compare, default_models, render,
};
use convlab_experiments::{Backend, select};
use convlab_models::{Arch, Family, ModelConfig};

fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Flex, Backend::Ndarray];
    if std::env::var_os("CONVLAB_SKIP_WGPU").is_some() {
        println!("SKIP wgpu: CONVLAB_SKIP_WGPU is set");
    } else {
        // Fails loudly rather than skipping: CI installs a software Vulkan driver.
        select(Backend::Wgpu)
            .expect("wgpu adapter (install mesa-vulkan-drivers, or set CONVLAB_SKIP_WGPU=1)");
        b.push(Backend::Wgpu);
    }
    b
}

fn check(models: Vec<ModelConfig>, steps: usize, batch: usize) -> Vec<CompareRow> {
    let cfg = CompareConfig {
        models,
        backends: backends(),
        steps,
        batch,
        lr: 1e-3,
        seed: 3,
        tolerance: Tolerance::default(),
    };
    let rows = compare(&cfg).expect("comparison runs");
    println!("{}", render(&rows, steps));
    for r in &rows {
        assert!(
            r.within_tolerance,
            "{} on {}: logits rel {:e}, gradient rel {:e} ({}), loss trajectory rel {:e}",
            r.arch, r.backend, r.logits_rel, r.grad_rel, r.worst_param, r.trajectory_rel
        );
    }
    rows
}

/// The default comparison models of the given families, one SGD step each (with batch norm
/// on small batches, later steps amplify last-bit differences chaotically).
fn family(families: &[Family]) -> Vec<ModelConfig> {
    default_models()
        .into_iter()
        .filter(|m| families.contains(&m.arch.family()))
        .collect()
}

#[test]
fn lenet_alexnet_zfnet() {
    check(
        family(&[Family::LeNet, Family::AlexNet, Family::ZfNet]),
        1,
        4,
    );
}

#[test]
fn vgg_and_googlenet() {
    check(family(&[Family::Vgg, Family::GoogLeNet]), 1, 4);
}

#[test]
fn resnet_family() {
    check(family(&[Family::ResNet]), 1, 4);
}

#[test]
fn lenet_loss_trajectories_agree_over_20_steps() {
    let rows = check(vec![ModelConfig::new(Arch::LeNet5)], 20, 16);
    for r in &rows {
        assert!(
            r.trajectory_rel < 1e-4,
            "{}: {:e}",
            r.backend,
            r.trajectory_rel
        );
        assert!(
            r.loss_after_steps < r.loss_first,
            "{}: the loss decreased over 20 steps",
            r.backend
        );
    }
}

//! Backend parity: every family, width-reduced at small inputs, on flex, ndarray and wgpu from
//! the same weights and batch — logits, every parameter's gradient, every parameter after a few
//! SGD steps (relative to its own update, so an optimizer that did nothing fails) and the loss
//! of each step — plus 20 steps of LeNet-5. flex is the reference. wgpu runs on whatever
//! adapter wgpu finds (Mesa's software Vulkan in CI); set CONVLAB_SKIP_WGPU=1 on machines
//! without Vulkan.
#![cfg(all(feature = "ndarray", feature = "wgpu"))]

use convlab_experiments::perf::compare::{
    CompareConfig, CompareRow, Tolerance, compare, default_models, render,
};
use convlab_experiments::{Backend, select};
use convlab_models::{Arch, ModelConfig};

/// wgpu's adapter: fails loudly rather than skipping (CI installs a software Vulkan driver);
/// `CONVLAB_SKIP_WGPU=1` skips it, saying so, on machines without Vulkan.
fn wgpu() -> Option<Backend> {
    if std::env::var_os("CONVLAB_SKIP_WGPU").is_some() {
        println!("SKIP wgpu: CONVLAB_SKIP_WGPU is set");
        return None;
    }
    select(Backend::Wgpu)
        .expect("wgpu adapter (install mesa-vulkan-drivers, or set CONVLAB_SKIP_WGPU=1)");
    Some(Backend::Wgpu)
}

fn check(
    backends: Vec<Backend>,
    models: Vec<ModelConfig>,
    steps: usize,
    batch: usize,
    lr: f64,
) -> Vec<CompareRow> {
    let cfg = CompareConfig {
        models,
        backends,
        steps,
        batch,
        lr,
        seed: 3,
        tolerance: Tolerance::default(),
    };
    let rows = compare(&cfg).expect("comparison runs");
    println!("{}", render(&rows, steps));
    for r in &rows {
        assert!(
            r.within_tolerance,
            "{} on {}: logits {:e}, gradient {:e} ({}), parameters {:e} ({}), losses {:e}",
            r.arch,
            r.backend,
            r.logits_rel,
            r.grad_rel,
            r.worst_grad,
            r.param_rel,
            r.worst_param,
            r.loss_rel
        );
        // Parameters are named as `convlab summary` and the diagnostics name them: no `net.`,
        // no enum variants (`net.ResNet.stages…` before).
        for name in [&r.worst_grad, &r.worst_param] {
            assert!(
                !name.starts_with("net.") && !name.chars().any(char::is_uppercase),
                "{}: parameter path {name}",
                r.arch
            );
        }
        // The steps must move the loss, or agreeing after them proves nothing.
        assert!(
            r.loss_last < r.loss_first * 0.998,
            "{} on {}: the loss went {} -> {}",
            r.arch,
            r.backend,
            r.loss_first,
            r.loss_last
        );
    }
    rows
}

/// One model per family and the knob variants that change kernels (groups, LRN, auxiliary
/// heads, shortcuts, batch norm or not), 3 SGD steps each, flex against ndarray.
#[test]
fn every_family_agrees_on_ndarray() {
    check(
        vec![Backend::Flex, Backend::Ndarray],
        default_models(),
        3,
        4,
        0.02,
    );
}

/// wgpu compiles (and on a software driver, slowly autotunes) a kernel per shape: it gets one
/// model for each kind of layer — convolutions with groups, LRN and large strides
/// (AlexNet-2012), ceil-mode pools (ZFNet), batch norm, option-A shortcuts and global average
/// pooling (ResNet-20) — at small widths and inputs. GoogLeNet's Inception modules (the same
/// layers, concatenated) are checked on ndarray: on a cold software-Vulkan cache they alone
/// cost 16 minutes of kernel autotuning.
#[test]
fn wgpu_agrees_on_every_kind_of_layer() {
    let Some(wgpu) = wgpu() else { return };
    let models: Vec<ModelConfig> = default_models()
        .into_iter()
        .filter(|m| matches!(m.arch, Arch::AlexNet2012 | Arch::ZfNet | Arch::ResNet20))
        .collect();
    assert_eq!(models.len(), 3);
    check(vec![Backend::Flex, wgpu], models, 3, 4, 0.02);
}

#[test]
fn lenet_loss_trajectories_agree_over_20_steps() {
    let mut backends = vec![Backend::Flex, Backend::Ndarray];
    backends.extend(wgpu());
    let rows = check(backends, vec![ModelConfig::new(Arch::LeNet5)], 20, 16, 0.05);
    for r in &rows {
        assert!(r.loss_rel < 1e-4, "{}: {:e}", r.backend, r.loss_rel);
    }
}

/// Issue 23: `--backend wgpu` names the adapter, its graphics API and driver, and the shader
/// compiler cubecl runs on it (SPIR-V with Burn's `vulkan` feature where the device allows it,
/// WGSL otherwise); the same facts go into `run.json`.
#[test]
#[allow(clippy::unwrap_used)] // a test fails by panicking
fn wgpu_names_its_adapter_driver_and_compiler() {
    if wgpu().is_none() {
        return;
    }
    let s = select(Backend::Wgpu).unwrap();
    let gpu = s.gpu.clone().expect("a wgpu device reports its adapter");
    println!("{}\n{gpu:?}", s.description);
    assert!(
        !gpu.adapter.is_empty() && gpu.adapter != "unknown adapter",
        "{gpu:?}"
    );
    assert_eq!(gpu.api, "Vulkan", "{gpu:?}");
    assert!(gpu.driver != "unknown" && !gpu.driver.is_empty(), "{gpu:?}");
    assert!(
        ["spirv", "wgsl"].contains(&gpu.compiler.as_str()),
        "{gpu:?}"
    );
    assert!(s.description.ends_with(&gpu.line()), "{}", s.description);
    assert!(s.description.contains("compiler"), "{}", s.description);
    // run.json keeps it (and a run.json without it, from a CPU run or an older binary, reads).
    let info = convlab_experiments::record::rundir::RunInfo {
        recipe: "smoke".into(),
        backend: "wgpu".into(),
        device: s.description.clone(),
        gpu: Some(gpu.clone()),
        overfit_batches: None,
        started_by: "test".into(),
        started_at: "now".into(),
    };
    let json = serde_json::to_string(&info).unwrap();
    let back: convlab_experiments::record::rundir::RunInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(back.gpu, Some(gpu));
    let cpu = json.replace(
        &format!(",\"gpu\":{}", serde_json::to_string(&info.gpu).unwrap()),
        "",
    );
    let back: convlab_experiments::record::rundir::RunInfo = serde_json::from_str(&cpu).unwrap();
    assert_eq!(back.gpu, None, "{cpu}");
}

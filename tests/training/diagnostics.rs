//! Training diagnostics: the update/parameter ratio is the update the optimizer applied, the
//! gradient norms are the gradients it used, measuring changes nothing about the run, the
//! warnings follow the band and the patience, a learning rate 100× too high or too low is
//! warned about; and the TensorBoard event file holds the run's numbers, read back by the
//! Python `tensorboard` package.

use std::path::{Path, PathBuf};

use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::record::diagnostics::{self, DiagnosticsConfig, Monitor, ParamRow};
use convlab_experiments::train;

use crate::opts;

fn smoke(sets: &[&str]) -> Recipe {
    let mut all = vec!["epochs=1".to_string()];
    all.extend(sets.iter().map(|s| s.to_string()));
    Recipe::load("smoke", &all).expect("recipe")
}

#[test]
fn the_ratio_is_the_applied_update_and_measuring_changes_nothing() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tmp");
    // Plain SGD at a constant rate: the applied update is exactly lr·g, so ‖Δw‖ = lr·‖g‖.
    let plain = ["optimizer.momentum=0.0", "optimizer.weight_decay=0.0"];
    let mut with: Vec<&str> = plain.to_vec();
    with.push("diagnostics.every=1");
    let measured = train(smoke(&with), &opts(tmp.path())).expect("run");
    let mut without: Vec<&str> = plain.to_vec();
    without.push("diagnostics.every=0");
    let unmeasured = train(smoke(&without), &opts(tmp.path())).expect("run");
    assert_eq!(
        measured.rows[0].train_loss, unmeasured.rows[0].train_loss,
        "diagnostics changed the training"
    );
    assert_eq!(measured.rows[0].valid_loss, unmeasured.rows[0].valid_loss);
    assert!(!unmeasured.dir().join(diagnostics::PARAMS_CSV).exists());

    let (params, dead) = diagnostics::read(measured.dir()).expect("csv");
    let lr = measured.rows[0].lr;
    // 384 training images at batch 32: 12 steps, each measured, 10 tensors of LeNet-5.
    let steps: std::collections::BTreeSet<usize> = params.iter().map(|r| r.step).collect();
    assert_eq!(steps, (1..=12).collect(), "measured steps");
    assert_eq!(params.len(), 12 * 10);
    for r in &params {
        let expected = lr * r.grad_norm;
        assert!(
            (r.update_norm - expected).abs() <= 1e-4 * expected + 1e-9,
            "{} at step {}: ‖Δw‖ {} but lr·‖g‖ {}",
            r.param,
            r.step,
            r.update_norm,
            expected
        );
        assert!((r.ratio - r.update_norm / r.weight_norm).abs() <= 1e-12 * r.ratio.max(1.0));
        assert_eq!(r.epoch, 1);
    }
    let names: Vec<&str> = params
        .iter()
        .filter(|r| r.step == 1)
        .map(|r| r.param.as_str())
        .collect();
    assert_eq!(names[0], "features.layers.0.conv.weight", "{names:?}");
    assert!(params[0].is_weight() && !params[1].is_weight());
    // LeNet-5's ReLUs: two convolutions and the head's two hidden layers, each step.
    assert_eq!(dead.len(), 12 * 4);
    let layers: Vec<&str> = dead
        .iter()
        .filter(|r| r.step == 12)
        .map(|r| r.layer.as_str())
        .collect();
    assert_eq!(
        layers,
        [
            "features.0",
            "features.2",
            "head.linears.0",
            "head.linears.1"
        ]
    );
    assert!(dead.iter().all(|r| (0.0..=1.0).contains(&r.dead_fraction)));
    crate::pictures::check(&measured.dir().join(diagnostics::PICTURE), (1200, 400));
}

fn row(step: usize, param: &str, ratio: f64, grad: f64) -> ParamRow {
    ParamRow {
        step,
        epoch: 1,
        param: param.into(),
        shape: "4x4".into(),
        weight_norm: 1.0,
        update_norm: ratio,
        ratio,
        grad_norm: grad,
    }
}

#[test]
fn warnings_follow_the_band_and_the_patience() {
    let cfg = DiagnosticsConfig::default(); // band [1e-4, 1e-2], patience 3
    let series = [1e-3, 0.1, 0.2, 1e-3, 0.1, 0.2, 0.3, 0.4, 1e-6, 1e-6, 1e-6];
    let rows: Vec<ParamRow> = series
        .iter()
        .enumerate()
        .map(|(i, &r)| row(i + 1, "w", r, 1.0))
        .collect();
    let w = diagnostics::warnings(&cfg, &rows);
    // Two above in a row then back in: nothing; 4 above in a row: one warning at the third;
    // three below: one warning.
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(w[0].step, 7);
    assert!(w[0].message.contains("above"), "{}", w[0]);
    assert_eq!(w[1].step, 11);
    assert!(w[1].message.contains("below"), "{}", w[1]);
    // An update as large as the weights is warned about at once.
    let w = diagnostics::warnings(&cfg, &[row(1, "w", 1e-3, 1.0), row(2, "w", 3.0, 1.0)]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].step == 2 && w[0].message.contains("as large as the weights"),
        "{}",
        w[0]
    );
    let w = diagnostics::warnings(&cfg, &[row(1, "w", f64::NAN, f64::NAN)]);
    assert_eq!(w.len(), 1, "{w:?}");
    // Biases are not watched; a vanished gradient is.
    let mut bias = row(1, "b", 1.0, 1.0);
    bias.shape = "4".into();
    let mut m = Monitor::default();
    for step in 1..=5 {
        bias.step = step;
        assert!(m.observe(&cfg, std::slice::from_ref(&bias)).is_empty());
    }
    let vanishing: Vec<ParamRow> = (1..=3).map(|s| row(s, "v", 1e-3, 1e-9)).collect();
    let w = diagnostics::warnings(&cfg, &vanishing);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].message.contains("vanishing"), "{}", w[0]);
    // The section is checked by key.
    let e = Recipe::load("smoke", &["diagnostics.band=[0.1, 0.01]".into()])
        .expect_err("band")
        .to_string();
    assert!(e.contains("diagnostics.band"), "{e}");
    let e = Recipe::load("smoke", &["diagnostics.patiense=2".into()])
        .expect_err("typo")
        .to_string();
    assert!(e.contains("patiense"), "{e}");
}

#[test]
fn a_learning_rate_100x_off_is_warned_about() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = DiagnosticsConfig::default();
    // The smoke recipe's rate is 0.05. At 100× it, every weight's ratio leaves the band
    // upwards first (then the ReLUs die and the gradients vanish); at 1/100 of it, the ratios
    // stay below the band and never rise above it.
    for (lr, first) in [("5.0", "above"), ("0.0005", "below")] {
        let lr_set = format!("optimizer.lr={lr}");
        let out = train(
            smoke(&[&lr_set, "epochs=2", "diagnostics.every=2"]),
            &opts(tmp.path()),
        )
        .expect("run");
        let (params, _) = diagnostics::read(out.dir()).expect("csv");
        let w = diagnostics::warnings(&cfg, &params);
        assert!(
            w.first().is_some_and(|w| w.message.contains(first)),
            "lr {lr}: the first warning is not {first} the band: {w:?}"
        );
        if first == "below" {
            assert!(
                w.iter().all(|w| w.message.contains("below")),
                "lr {lr}: {w:?}"
            );
            // The head's three weights (the convolutions' ratios, with momentum, stay inside).
            assert!(w.len() >= 3, "lr {lr}: {w:?}");
        }
    }
}

/// The Python with the `tensorboard` package (the venv `scripts/test.sh` makes).
fn tensorboard_python() -> PathBuf {
    crate::pypi_python()
}

const READ_EVENTS: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
ea.Reload()
print(json.dumps({t: [[e.step, e.value] for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}))
"#;

fn read_events(python: &Path, dir: &Path) -> serde_json::Value {
    let out = std::process::Command::new(python)
        .args(["-c", READ_EVENTS])
        .arg(dir)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn tensorboard_reads_the_run_s_scalars() {
    let python = tensorboard_python();
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = train(
        smoke(&["epochs=2", "diagnostics.every=4"]),
        &opts(tmp.path()),
    )
    .expect("run");
    let events = read_events(&python, out.dir());
    let series = |tag: &str| -> Vec<(u64, f64)> {
        events[tag]
            .as_array()
            .unwrap_or_else(|| panic!("no {tag} in {events}"))
            .iter()
            .map(|p| (p[0].as_u64().expect("step"), p[1].as_f64().expect("value")))
            .collect()
    };
    for (tag, pick) in [
        (
            "loss/train",
            (|r| r.train_loss) as fn(&convlab_experiments::record::rundir::EpochRow) -> f64,
        ),
        ("loss/valid", |r| r.valid_loss),
        ("top1/valid", |r| r.valid_acc),
        ("lr", |r| r.lr),
    ] {
        let got = series(tag);
        let want: Vec<(u64, f64)> = out.rows.iter().map(|r| (r.epoch as u64, pick(r))).collect();
        assert_eq!(got.len(), want.len(), "{tag}");
        for ((gs, gv), (ws, wv)) in got.iter().zip(&want) {
            assert_eq!(gs, ws, "{tag}");
            assert!(
                (gv - wv).abs() <= 1e-6 * wv.abs().max(1.0),
                "{tag}: {gv} vs {wv}"
            );
        }
    }
    let (params, dead) = diagnostics::read(out.dir()).expect("csv");
    let ratio = series("update_ratio/features.layers.0.conv.weight");
    let want: Vec<(u64, f64)> = params
        .iter()
        .filter(|r| r.param == "features.layers.0.conv.weight")
        .map(|r| (r.step as u64, r.ratio))
        .collect();
    assert_eq!(ratio.len(), want.len());
    assert_eq!(ratio.len(), 6, "24 steps measured every 4");
    for ((gs, gv), (ws, wv)) in ratio.iter().zip(&want) {
        assert_eq!(gs, ws);
        assert!((gv - wv).abs() <= 1e-6 * wv.abs(), "{gv} vs {wv}");
    }
    assert!(
        events
            .get(format!("dead_units/{}", dead[0].layer))
            .is_some()
    );

    // The checksums are checked: one flipped byte and TensorBoard reads nothing.
    let bad = tmp.path().join("corrupt");
    std::fs::create_dir_all(&bad).expect("dir");
    let mut bytes = std::fs::read(
        out.dir()
            .join(convlab_experiments::record::tensorboard::FILE),
    )
    .expect("events");
    bytes[60] ^= 0xff;
    std::fs::write(
        bad.join(convlab_experiments::record::tensorboard::FILE),
        bytes,
    )
    .expect("write");
    let corrupt = read_events(&python, &bad);
    assert!(
        corrupt.get("loss/train").is_none(),
        "a corrupted record was read: {corrupt}"
    );
}

//! `[transfer]`: a frozen parameter provably does not change (batch-norm statistics included),
//! the trainable part does, the optimizer holds no state for frozen parameters, a new head is
//! sized for the new classes, and bad settings are errors naming the key.

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::ModuleSnapshot;
use burn::tensor::Device;
use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::{RunDir, train};

use crate::opts;

/// LeNet-5 with batch norm on the smoke recipe's synthetic data (`classes` classes).
fn recipe(classes: usize, extra: &[&str]) -> Recipe {
    let mut o: Vec<String> = vec![
        "epochs=2".into(),
        "model.batch_norm=true".into(),
        format!("model.classes={classes}"),
        format!("data.classes={classes}"),
    ];
    o.extend(extra.iter().map(|s| s.to_string()));
    Recipe::load("smoke", &o).expect("recipe")
}

/// Every tensor of a run's best checkpoint (model paths), as f32s.
fn weights(run: &Path) -> BTreeMap<String, Vec<f32>> {
    let (model, _) = convlab_experiments::run::weights::load(run, &Device::flex(), None)
        .unwrap_or_else(|e| panic!("{}: {e:#}", run.display()));
    tensors(&model)
}

fn changed(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).any(|(x, y)| x.to_bits() != y.to_bits())
}

#[test]
fn frozen_parameters_do_not_change_and_trainable_ones_do() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = train(recipe(4, &[]), &opts(tmp.path())).expect("base run");
    let source = weights(base.dir());
    let from = base.dir().display().to_string();

    // Feature extraction into 3 classes: everything but the head is copied and frozen.
    let fe = train(
        recipe(
            3,
            &[
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"feature-extract\"",
            ],
        ),
        &opts(tmp.path()),
    )
    .expect("feature-extract run");
    let after = weights(fe.dir());
    let mut frozen = 0;
    for (name, w) in &after {
        if name.starts_with("net.head.") {
            // The last layer is new (3 classes); the hidden layers train.
            if let Some(src) = source.get(name).filter(|s| s.len() == w.len()) {
                assert!(changed(src, w), "{name} is trainable but did not change");
            }
        } else {
            assert!(!changed(&source[name], w), "{name} is frozen but changed");
            frozen += 1;
        }
    }
    // conv + BN (4 tensors each, running statistics included) twice.
    assert!(frozen >= 10, "{frozen}");
    assert_eq!(after["net.head.linears.2.bias"].len(), 3);

    // No optimizer state for frozen parameters: the optimizer record holds the head's only.
    let run = RunDir::open(fe.dir()).expect("run");
    let last = *run.checkpoint_epochs().last().expect("a checkpoint");
    let optim = burn::store::ModuleRecord::load(run.checkpoint_file("optim", last))
        .expect("optimizer record");
    let heads = after.keys().filter(|n| n.starts_with("net.head.")).count();
    assert!(
        optim.len() <= 2 * heads && !optim.is_empty(),
        "optimizer record has {} tensors for {heads} trainable ones",
        optim.len()
    );

    // Partial: frozen before `features.layers.2` (the second conv block, as `convlab summary`
    // names it), trained after.
    let partial = train(
        recipe(
            4,
            &[
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"partial\"",
                "transfer.trainable_from=\"features.layers.2\"",
            ],
        ),
        &opts(tmp.path()),
    )
    .expect("partial run");
    let after = weights(partial.dir());
    for (name, w) in &after {
        let before = &source[name];
        if name.starts_with("net.features.layers.0.") {
            assert!(
                !changed(before, w),
                "{name} is before trainable_from but changed"
            );
        } else if !name.ends_with(".conv.bias") {
            // (A conv bias followed by batch norm has a zero gradient: BN removes the mean.)
            assert!(changed(before, w), "{name} is trainable but did not change");
        }
    }

    // Fine-tune: everything trains.
    let ft = train(
        recipe(
            4,
            &[
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"fine-tune\"",
                "transfer.lr_scale=0.1",
            ],
        ),
        &opts(tmp.path()),
    )
    .expect("fine-tune run");
    let after = weights(ft.dir());
    // lr_scale reaches the optimizer: the pretrained layers move far less at lr × 1e-3 than
    // at lr × 1, on the same data and seed.
    let moved = |w: &BTreeMap<String, Vec<f32>>| -> f32 {
        let name = "net.features.layers.0.conv.weight";
        w[name]
            .iter()
            .zip(&source[name])
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
    };
    let tiny = train(
        recipe(
            4,
            &[
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"fine-tune\"",
                "transfer.lr_scale=0.001",
            ],
        ),
        &opts(tmp.path()),
    )
    .expect("fine-tune run at lr × 0.001");
    let full = train(
        recipe(
            4,
            &[
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"fine-tune\"",
            ],
        ),
        &opts(tmp.path()),
    )
    .expect("fine-tune run at lr × 1");
    let (small, large) = (moved(&weights(tiny.dir())), moved(&weights(full.dir())));
    assert!(
        small > 0.0 && small < 0.05 * large,
        "moved {small} at 0.001, {large} at 1"
    );
    for (name, w) in &after {
        if !name.ends_with(".conv.bias") {
            assert!(
                changed(&source[name], w),
                "{name} did not change in fine-tuning"
            );
        }
    }
}

#[test]
fn bad_transfer_settings_name_the_key() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = |extra: &[&str]| -> String {
        match Recipe::load(
            "smoke",
            &extra.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ) {
            Err(e) => e.to_string(),
            Ok(r) => match train(r, &opts(tmp.path())) {
                Err(e) => format!("{e:#}"),
                Ok(_) => panic!("{extra:?} was accepted"),
            },
        }
    };
    let e = err(&["transfer.from=\"x\"", "transfer.regime=\"partial\""]);
    assert!(
        e.contains("transfer") && e.contains("trainable_from"),
        "{e}"
    );
    let e = err(&["transfer.from=\"x\"", "transfer.regime=\"sideways\""]);
    assert!(e.contains("transfer") && e.contains("sideways"), "{e}");
    let e = err(&[
        "transfer.from=\"/nonexistent/weights.bpk\"",
        "transfer.regime=\"fine-tune\"",
    ]);
    assert!(
        e.contains("transfer.from = /nonexistent/weights.bpk"),
        "{e}"
    );
    // A module path that does not exist lists the ones that do.
    let base = train(recipe(4, &[]), &opts(tmp.path())).expect("base run");
    let e = err(&[
        "model.batch_norm=true",
        &format!("transfer.from={:?}", base.dir().display().to_string()),
        "transfer.regime=\"partial\"",
        "transfer.trainable_from=\"net.nowhere\"",
    ]);
    assert!(
        e.contains("net.nowhere") && e.contains("modules: features.layers.0"),
        "{e}"
    );
}

#[test]
fn a_run_on_a_class_subset_has_the_subsets_classes() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let load = || {
        Recipe::load(
            "smoke",
            &["epochs=1".into(), "data.class_subset=[3, 1]".into()],
        )
        .expect("recipe")
    };
    // The smoke recipe's `model.classes = 4` contradicts a 2-class subset: named.
    match train(load(), &opts(tmp.path())) {
        Ok(_) => panic!("4 model classes on 2-class data was accepted"),
        Err(e) => assert!(
            format!("{e:#}").contains("model.classes = 4 but the data has 2 classes"),
            "{e:#}"
        ),
    }
    let mut r = load();
    r.model.classes = None;
    let out = train(r, &opts(tmp.path())).expect("run");
    let test = out.summary.test.expect("test evaluation");
    assert_eq!(test.confusion.len(), 2);
    // The smoke recipe's 128 synthetic test images are spread over 4 classes.
    let images: u64 = test.confusion.iter().flatten().sum();
    assert!(images > 0 && images < 128, "{images}");
}

/// The tensors of a model as f32s, by path.
fn tensors(model: &convlab_models::Model) -> BTreeMap<String, Vec<f32>> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|t| {
            let bytes = t.to_bytes().expect("tensor bytes");
            let values = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (t.name.clone(), values)
        })
        .collect()
}

#[test]
fn the_first_n_layers_are_copied_and_the_rest_start_fresh() {
    use convlab_experiments::run::transfer::{
        TransferConfig, TransferSource, prepare, weight_layers,
    };
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = train(recipe(4, &[]), &opts(tmp.path())).expect("base run");
    let source = weights(base.dir());

    // LeNet-5's layers below its classifier: conv1, conv2 (each with its batch norm), fc1,
    // fc2; the last linear layer is not one.
    let target = recipe(4, &[]);
    let fresh = || {
        let cfg = target.model_config().expect("config");
        convlab_experiments::run::model::build(&cfg, &Device::flex(), 7).expect("model")
    };
    let names: Vec<(String, Vec<usize>)> = fresh()
        .collect(None, None, true)
        .into_iter()
        .map(|t| (t.name.clone(), t.shape.as_slice().to_vec()))
        .collect();
    let layers = weight_layers(&names);
    let firsts: Vec<&str> = layers.iter().map(|l| l[0].as_str()).collect();
    assert_eq!(
        firsts,
        [
            "net.features.layers.0.conv.weight",
            "net.features.layers.2.conv.weight",
            "net.head.linears.0.weight",
            "net.head.linears.1.weight"
        ]
    );
    assert!(layers[0].contains(&"net.features.layers.0.bn.running_var".to_string()));

    let init = tensors(&fresh());
    for (regime, n) in [
        (convlab_experiments::run::transfer::Regime::FineTune, 3),
        (convlab_experiments::run::transfer::Regime::Partial, 1),
        (convlab_experiments::run::transfer::Regime::Partial, 0),
    ] {
        let cfg = TransferConfig {
            from: TransferSource::Path(base.dir().to_path_buf()),
            regime,
            trainable_from: None,
            layers: Some(n),
            lr_scale: 1.0,
        };
        cfg.check().expect("valid");
        let (model, plan) = prepare(&cfg, fresh(), true).expect("prepare");
        let after = tensors(&model);
        let copied: Vec<&String> = layers.iter().take(n).flatten().collect();
        assert_eq!(plan.copied.len(), copied.len(), "{regime:?} {n}");
        for (name, w) in &after {
            if copied.contains(&name) {
                assert!(!changed(&source[name], w), "{name} was not copied");
            } else {
                // Left at the target's own initialisation (the same seed).
                assert!(!changed(&init[name], w), "{name} is not fresh");
                assert!(changed(&source[name], w), "{name} equals the source");
            }
        }
        let frozen = if regime == convlab_experiments::run::transfer::Regime::Partial {
            copied.len()
        } else {
            0
        };
        assert_eq!(plan.frozen.len(), frozen, "{regime:?} {n}");
    }

    // Partial with layers = 2, trained: the copied layers are frozen, everything after moves.
    let from = base.dir().display().to_string();
    let run = train(
        recipe(
            4,
            &[
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"partial\"",
                "transfer.layers=2",
            ],
        ),
        &opts(tmp.path()),
    )
    .expect("partial run with layers = 2");
    let after = weights(run.dir());
    for (name, w) in &after {
        let in_copied = layers.iter().take(2).flatten().any(|n| n == name);
        if in_copied {
            assert!(!changed(&source[name], w), "{name} is frozen but changed");
        } else {
            assert!(
                changed(&init[name], w),
                "{name} is trainable but did not change"
            );
        }
    }

    // More layers than the model has below its classifier: named.
    let cfg = TransferConfig {
        from: TransferSource::Path(base.dir().to_path_buf()),
        regime: convlab_experiments::run::transfer::Regime::Partial,
        trainable_from: None,
        layers: Some(5),
        lr_scale: 1.0,
    };
    let e = format!(
        "{:#}",
        prepare(&cfg, fresh(), true)
            .map(|_| ())
            .expect_err("5 > 4 layers")
    );
    assert!(
        e.contains("transfer.layers = 5") && e.contains("4 weight layers"),
        "{e}"
    );
    for (bad, expect) in [
        (
            vec!["transfer.regime=\"feature-extract\"", "transfer.layers=2"],
            "`layers` applies to `partial` and `fine-tune`",
        ),
        (
            vec![
                "transfer.regime=\"partial\"",
                "transfer.layers=2",
                "transfer.trainable_from=\"net.head\"",
            ],
            "not both",
        ),
    ] {
        let mut o: Vec<String> = vec![format!("transfer.from={from:?}")];
        o.extend(bad.iter().map(|s| s.to_string()));
        let e = Recipe::load("smoke", &o)
            .map(|_| ())
            .expect_err("refused")
            .to_string();
        assert!(e.contains("transfer") && e.contains(expect), "{e}");
    }
}

#[test]
fn an_interrupted_transfer_run_resumes_exactly_with_its_layers_still_frozen() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = train(recipe(4, &[]), &opts(tmp.path())).expect("base run");
    let source = weights(base.dir());
    let from = base.dir().display().to_string();
    let target = || {
        recipe(
            3,
            &[
                "epochs=3",
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"partial\"",
                "transfer.trainable_from=\"features.layers.2\"",
            ],
        )
    };
    let full = train(target(), &opts(tmp.path())).expect("uninterrupted");
    // The smoke recipe: 384 training images, batch 32, 12 iterations an epoch.
    let mut o = opts(tmp.path());
    o.stop_after_iterations = Some(12 + 5);
    let cut = train(target(), &o).expect("interrupted");
    assert_eq!(
        cut.summary.status,
        convlab_experiments::RunStatus::Interrupted
    );
    let resumed = convlab_experiments::resume(
        cut.dir(),
        &opts(tmp.path()),
        &convlab_experiments::ResumeOptions::default(),
    )
    .expect("resumed");
    assert_eq!(resumed.rows.len(), full.rows.len());
    for (a, b) in full.rows.iter().zip(&resumed.rows) {
        assert!(
            (a.train_loss - b.train_loss).abs() <= 1e-6 * a.train_loss.abs().max(1.0)
                && (a.valid_acc - b.valid_acc).abs() < 1e-9,
            "epoch {}: {a:?} vs {b:?}",
            a.epoch
        );
    }
    let (w_full, w_resumed) = (weights(full.dir()), weights(resumed.dir()));
    for (name, w) in &w_resumed {
        assert!(
            !changed(&w_full[name], w),
            "{name} differs after the resume"
        );
        if name.starts_with("net.features.layers.0.") {
            assert!(!changed(&source[name], w), "{name} is frozen but changed");
        }
    }
}

#[test]
fn a_cut_network_keeps_its_early_layers_under_a_new_head() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = train(recipe(4, &[]), &opts(tmp.path())).expect("base run");
    let source = weights(base.dir());
    let from = base.dir().display().to_string();
    // LeNet-5 cut after conv1 + pool1 (6 channels), a new GAP head, the conv frozen.
    let cut = train(
        recipe(
            3,
            &[
                "model.cut=2",
                &format!("transfer.from={from:?}"),
                "transfer.regime=\"feature-extract\"",
            ],
        ),
        &opts(tmp.path()),
    )
    .expect("cut run");
    let after = weights(cut.dir());
    let names: Vec<&String> = after.keys().collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("net.features.layers.0.") || n.starts_with("net.head.")),
        "{names:?}"
    );
    // The head is one linear layer from the 6 pooled channels to 3 classes.
    assert_eq!(after["net.head.linears.0.weight"].len(), 6 * 3);
    assert!(!after.contains_key("net.head.linears.1.weight"));
    for (name, w) in &after {
        if name.starts_with("net.features.") {
            assert!(!changed(&source[name], w), "{name} is frozen but changed");
        }
    }
    // ResNet: cut after two of three stages, the head reads 32 channels.
    let cfg = convlab_models::ModelConfig::new("resnet20".parse().expect("arch"))
        .with_classes(10)
        .with_input([3, 32, 32]);
    let mut c = cfg.clone();
    c.cut = Some(2);
    let m = c.init(&Device::flex()).expect("cut resnet20");
    let head = m
        .collect(None, None, true)
        .into_iter()
        .find(|t| t.name == "net.head.linears.0.weight")
        .expect("head");
    assert_eq!(head.shape.as_slice(), [32, 10]);
    // Out of range, a family without a single cut, and export to torchvision: named errors.
    c.cut = Some(4);
    let e = c
        .init(&Device::flex())
        .map(|_| ())
        .expect_err("4 > 3 stages");
    assert!(
        e.to_string().contains("cut") && e.to_string().contains("3 residual stages"),
        "{e}"
    );
    let mut g = convlab_models::ModelConfig::new("googlenet-cifar".parse().expect("arch"));
    g.cut = Some(1);
    let e = g.init(&Device::flex()).map(|_| ()).expect_err("googlenet");
    assert!(e.to_string().contains("cut"), "{e}");
    let mut r18 = convlab_models::ModelConfig::new("resnet18".parse().expect("arch"));
    r18.cut = Some(2);
    let m = r18.init(&Device::flex()).expect("cut resnet18");
    let e = convlab_models::torchvision::key_table(&m)
        .map(|_| ())
        .expect_err("no torchvision counterpart");
    assert!(e.to_string().contains("model.cut"), "{e}");
}

/// `transfer.from` is a path or a reference to another suite's run, read and printed as written
/// (a run's identity hashes it that way); a reference has no path outside a suite's planner.
#[test]
fn transfer_sources_read_and_print_as_written() {
    use convlab_experiments::config::recipe::TransferSource;
    let reference: TransferSource = "suite:transfer-base/A".parse().expect("reference");
    assert_eq!(
        reference,
        TransferSource::SuiteRun {
            suite: "transfer-base".into(),
            variant: "A".into(),
            id: None
        }
    );
    assert_eq!(reference.to_string(), "suite:transfer-base/A");
    let e = reference.path().expect_err("no path before planning");
    assert!(e.contains("convlab ablate"), "{e}");
    let planned = "suite:suites/base.toml/B-small@00ff00ff00ff00ff";
    let parsed: TransferSource = planned.parse().expect("a planned reference");
    assert_eq!(parsed.to_string(), planned);
    assert!(
        matches!(&parsed, TransferSource::SuiteRun { suite, id: Some(_), .. } if suite == "suites/base.toml")
    );
    let path: TransferSource = "/weights/lenet.bpk".parse().expect("path");
    assert_eq!(path.path().expect("path"), Path::new("/weights/lenet.bpk"));
    let e = "suite:nonsense"
        .parse::<TransferSource>()
        .expect_err("no variant");
    assert!(e.contains("expected `suite:<suite>/<variant>`"), "{e}");
    // A recipe outside a suite that names another suite's run is an error naming the key.
    let _guard = crate::serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let r = Recipe::load(
        "smoke",
        &[
            "transfer.from=\"suite:transfer-base/A\"".into(),
            "transfer.regime=\"fine-tune\"".into(),
        ],
    )
    .expect("recipe");
    let e = train(r, &opts(tmp.path()))
        .err()
        .expect("no weights to start from")
        .to_string();
    assert!(e.contains("transfer.from = `suite:transfer-base/A`"), "{e}");
}

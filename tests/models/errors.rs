//! Bad knobs give an error that names the value and why; never a panic.

use convlab_blocks::Shortcut;
use convlab_models::{Arch, ModelConfig, parse_input};

fn err(cfg: ModelConfig) -> String {
    match cfg.init(&super::flex()) {
        Ok(_) => panic!("{:?} should be rejected", cfg),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "`{msg}` should mention `{p}`");
    }
}

#[test]
fn zero_classes() {
    let msg = err(ModelConfig::new(Arch::ResNet20).with_classes(0));
    assert_mentions(&msg, &["resnet20", "classes", "got 0"]);
}

#[test]
fn input_too_small_names_the_layer() {
    // VGG-16's fifth pool needs at least 32x32: at 16x16 the fifth block sees 1x1.
    let msg = err(ModelConfig::new(Arch::Vgg16).with_input([3, 16, 16]));
    assert_mentions(
        &msg,
        &["vgg16", "3x16x16", "features.", "maxpool 2x2", "too small"],
    );
    let msg = err(ModelConfig::new(Arch::AlexNet2012).with_input([3, 32, 32]));
    assert_mentions(&msg, &["alexnet-2012", "too small"]);
    let msg = err(ModelConfig::new(Arch::LeNet5).with_input([1, 8, 8]));
    assert_mentions(&msg, &["lenet5", "1x8x8"]);
}

#[test]
fn knob_that_does_not_apply() {
    let msg = err(ModelConfig::new(Arch::Vgg16).with_shortcut(Shortcut::B));
    assert_mentions(&msg, &["vgg16", "shortcut", "does not apply"]);
    let msg = err(ModelConfig::new(Arch::Plain20).with_shortcut(Shortcut::A));
    assert_mentions(&msg, &["plain20", "shortcut"]);
    let msg = err(ModelConfig::new(Arch::ResNet50).with_lrn(true));
    assert_mentions(&msg, &["resnet50", "lrn"]);
}

#[test]
fn out_of_range_values() {
    assert_mentions(
        &err(ModelConfig::new(Arch::LeNet5).with_width(0.0)),
        &["width", "got 0"],
    );
    assert_mentions(
        &err(ModelConfig::new(Arch::Vgg11).with_dropout(1.5)),
        &["dropout", "[0, 1)", "1.5"],
    );
    assert_mentions(
        &err(ModelConfig::new(Arch::AlexNet2012).with_groups(3)),
        &["groups", "1 or 2", "got 3"],
    );
    assert_mentions(
        &err(ModelConfig::new(Arch::ResNet20).with_input([0, 32, 32])),
        &["input", "0x32x32"],
    );
}

#[test]
fn wrong_batch_shape_is_reported() {
    let model = ModelConfig::new(Arch::ResNet20)
        .init(&super::flex())
        .expect("model");
    let msg = model
        .check_input([8, 1, 32, 32])
        .expect_err("1 channel")
        .to_string();
    assert_mentions(
        &msg,
        &["resnet20", "1x32x32", "expects 3 input channels, got 1"],
    );
    assert!(model.check_input([8, 3, 32, 32]).is_ok());
}

#[test]
fn names_and_shapes_parse() {
    for &arch in Arch::ALL {
        assert_eq!(arch.name().parse::<Arch>().expect("round trip"), arch);
        assert_eq!(arch.name(), arch.name().to_ascii_lowercase());
        assert!(!arch.name().contains('_'));
    }
    let msg = "vgg17".parse::<Arch>().expect_err("unknown").to_string();
    assert_mentions(&msg, &["vgg17", "vgg16-bn", "resnet20"]);
    assert_eq!(parse_input("3x32x32").expect("shape"), [3, 32, 32]);
    for bad in ["3x32", "0x32x32", "ax32x32", "", "3x32x32x1"] {
        assert!(parse_input(bad).is_err(), "{bad}");
    }
}

#[test]
fn unknown_recipe_keys_in_model_config() {
    let bad = r#"{"arch": "resnet20", "widht": 0.5}"#;
    let e = serde_json::from_str::<ModelConfig>(bad)
        .expect_err("typo")
        .to_string();
    assert!(e.contains("widht"), "{e}");
    let ok: ModelConfig =
        serde_json::from_str(r#"{"arch": "resnet20", "width": 0.5, "shortcut": "b"}"#)
            .expect("valid config");
    assert_eq!(ok.shortcut, Some(Shortcut::B));
}

//! ONNX export against onnxruntime (PyPI, in the venv `scripts/test.sh` makes): every
//! architecture, and the knobs that change the graph (LRN, tanh, option A/B/no shortcuts, the
//! GAP head, adaptive pooling to a size that does not divide the map), with batch norm running
//! statistics moved off their initial 0/1 by training steps. `onnx.checker` must accept each
//! file and onnxruntime must reproduce convlab's eval-mode logits.

use std::path::Path;
use std::process::Command;

use burn::module::Module;
use burn::tensor::{Distribution, Tensor};
use convlab_blocks::{Activation, Shortcut};
use convlab_models::{Arch, HeadKind, ModelConfig};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write input");
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32")
}

/// Exports `cfg`'s model after two training steps' worth of batch norm updates, runs the file
/// in onnxruntime and compares logits; returns the script's JSON line.
fn check(cfg: &ModelConfig, label: &str, dir: &Path) -> serde_json::Value {
    let train = burn::tensor::Device::flex().autodiff();
    let model = cfg.init(&train).expect("model");
    let [c, h, w] = model.input;
    for _ in 0..2 {
        let x = Tensor::<4>::random([4, c, h, w], Distribution::Normal(0.5, 2.0), &train);
        let _ = model.forward(x);
    }
    let model = model.valid();
    let device = burn::tensor::Device::flex();
    let x = Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), &device);
    let input = to_vec(x.clone());
    let ours = to_vec(model.forward(x));

    let file = dir.join(format!("{label}.onnx"));
    let nodes = convlab_models::onnx::export(&model, &file, &[("test", label.to_string())])
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert!(nodes > 0, "{label}");
    let in_path = dir.join(format!("{label}.in.f32"));
    let out_path = dir.join(format!("{label}.out.f32"));
    write_f32(&in_path, &input);
    let out = Command::new(crate::pypi_python())
        .arg(repo().join("scripts/onnx_check.py"))
        .arg(&file)
        .arg(&in_path)
        .arg(format!("2,{c},{h},{w}"))
        .arg(&out_path)
        .output()
        .expect("running scripts/onnx_check.py");
    assert!(
        out.status.success(),
        "{label}: onnx_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&out_path).expect("logits");
    let theirs: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(theirs.len(), ours.len(), "{label}: logits");
    let scale = ours.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-4,
        "{label}: onnxruntime's logits differ by {worst:e} (relative to max |logit| {scale})"
    );
    eprintln!("{label}: max relative difference {worst:.1e}");
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

#[test]
fn onnxruntime_reproduces_every_architectures_logits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for &arch in Arch::ALL {
        let mut cfg = ModelConfig::new(arch);
        cfg.width = Some(crate::test_width(arch));
        let json = check(&cfg, arch.name(), tmp.path());
        let built = cfg.init(&crate::flex()).expect("model");
        let [c, h, w] = built.input;
        assert_eq!(
            json["input"],
            serde_json::json!(["input", ["batch", c, h, w]]),
            "{arch}"
        );
        assert_eq!(json["output"][0], "logits", "{arch}");
        assert_eq!(
            json["output"][2],
            serde_json::json!([2, built.classes]),
            "{arch}"
        );
        assert_eq!(json["opset"], serde_json::json!([17]), "{arch}");
        assert_eq!(json["metadata"]["convlab_arch"], arch.name(), "{arch}");
        assert_eq!(json["metadata"]["test"], arch.name(), "{arch}");
    }
}

#[test]
fn onnxruntime_reproduces_the_knobs_that_change_the_graph() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let knob = |arch: Arch, set: &dyn Fn(&mut ModelConfig)| {
        let mut cfg = ModelConfig::new(arch);
        cfg.width = Some(crate::test_width(arch));
        set(&mut cfg);
        cfg
    };
    let cases = [
        ("alexnet-lrn", knob(Arch::AlexNet, &|c| c.lrn = Some(true))),
        (
            "lenet5-relu",
            knob(Arch::LeNet5, &|c| c.activation = Some(Activation::Relu)),
        ),
        (
            "vgg11-tanh-bn",
            knob(Arch::Vgg11, &|c| {
                c.activation = Some(Activation::Tanh);
                c.batch_norm = Some(true);
                c.input = Some([3, 32, 32]);
            }),
        ),
        (
            "vgg11-gap",
            knob(Arch::Vgg11, &|c| c.head = Some(HeadKind::Gap)),
        ),
        (
            "resnet20-option-b",
            knob(Arch::ResNet20, &|c| c.shortcut = Some(Shortcut::B)),
        ),
        (
            "resnet20-plain",
            knob(Arch::ResNet20, &|c| c.shortcut = Some(Shortcut::None)),
        ),
        (
            "resnet18-option-a",
            knob(Arch::ResNet18, &|c| c.shortcut = Some(Shortcut::A)),
        ),
        // 160×160 leaves AlexNet's features at 4×4: the 6×6 adaptive pool's windows overlap
        // (the MatMul path), and at 3 classes and 1 channel.
        (
            "alexnet-160-gray",
            knob(Arch::AlexNet, &|c| {
                c.input = Some([1, 160, 160]);
                c.classes = Some(3);
            }),
        ),
    ];
    for (label, cfg) in &cases {
        check(cfg, label, tmp.path());
    }
}

#[test]
fn an_unwritable_onnx_path_is_an_error_naming_it_and_leaves_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = ModelConfig::new(Arch::LeNet5)
        .init(&crate::flex())
        .expect("model");
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let target = blocker.join("model.onnx");
    let e = convlab_models::onnx::export(&model, &target, &[])
        .expect_err("a file as the parent directory")
        .to_string();
    assert!(e.contains("model.onnx: cannot write the ONNX file"), "{e}");
    // The file is written whole or not at all, readable by others.
    let good = tmp.path().join("lenet5.onnx");
    convlab_models::onnx::export(&model, &good, &[]).expect("export");
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&good).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

//! torchvision weights in and out, against torchvision itself: for each family, torchvision
//! (Debian's python3-torchvision) writes a randomly initialised model's state dict, an input and
//! its eval-mode logits (`scripts/torchvision_fixture.py`; nothing large is committed). We import
//! the file, compare logits, export it back as safetensors and have torchvision load that
//! strictly and reproduce its logits.
//!
//! CI covers alexnet, vgg11-bn, resnet18, resnet50 and googlenet (every rule of the key tables:
//! index gaps, batch norm in a shared index space, downsample, bottlenecks, GoogLeNet's branch4
//! and auxiliary heads, the Linear transpose). `CONVLAB_TORCHVISION_ALL=1` (`just
//! torchvision-parity`) runs every torchvision architecture.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::{Device, Tensor, TensorData};
use convlab_models::torchvision::{export, import, torchvision_archs};
use convlab_models::{Arch, Model, ModelConfig};

const PYTHON: &str = "/usr/bin/python3";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn torchvision_name(arch: Arch) -> String {
    arch.name().replace('-', "_")
}

/// Writes the fixture of `arch` into `dir`; fails (does not skip) without torchvision.
fn fixture(arch: Arch, dir: &Path) {
    let out = Command::new(PYTHON)
        .arg(repo().join("scripts/torchvision_fixture.py"))
        .arg(torchvision_name(arch))
        .arg(dir)
        .output()
        .expect("running /usr/bin/python3 (CI installs python3-torchvision)");
    assert!(
        out.status.success(),
        "torchvision_fixture.py {}: {}",
        arch.name(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn model(arch: Arch, device: &Device) -> Model {
    let mut cfg = ModelConfig::new(arch);
    if arch == Arch::GoogLeNet {
        cfg.aux_heads = Some(true);
    }
    cfg.init(device).expect("model")
}

fn logits(model: &Model, input: &[f32], device: &Device) -> Vec<f32> {
    let n = input.len() / (3 * 224 * 224);
    let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), [n, 3, 224, 224]), device);
    model
        .forward(x)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 logits")
}

/// max |a − b| / max |reference|.
fn relative(ours: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(1e-12);
    ours.iter()
        .zip(reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

fn round_trip(arch: Arch) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    fixture(arch, dir);
    let name = torchvision_name(arch);
    let device = Device::flex();
    let mut ours = model(arch, &device);
    let report = import(&mut ours, &dir.join(format!("{name}.pth")))
        .unwrap_or_else(|e| panic!("{}: {e}", arch.name()));
    assert!(report.not_imported.is_empty(), "{report:?}");
    assert!(
        report
            .skipped
            .iter()
            .all(|k| k.ends_with("num_batches_tracked")),
        "{:?}",
        report.skipped
    );
    let input = read_f32(&dir.join(format!("{name}.input.f32")));
    let reference = read_f32(&dir.join(format!("{name}.logits.f32")));
    let got = logits(&ours, &input, &device);
    let rel = relative(&got, &reference);
    eprintln!(
        "{}: {} tensors, logits max relative difference to torchvision {rel:.2e}",
        arch.name(),
        report.loaded
    );
    assert!(rel < 1e-4, "{}: {rel:e}", arch.name());

    // Export, then torchvision loads the file strictly and reproduces its own logits.
    let st = dir.join(format!("{name}.safetensors"));
    export(&ours, &st).expect("export");
    let out = Command::new(PYTHON)
        .arg(repo().join("scripts/torchvision_fixture.py"))
        .arg(&name)
        .arg(dir)
        .arg("--check")
        .arg(&st)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}: torchvision refused the export: {}{}",
        arch.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And our own import of the export gives the same logits, bit for bit.
    let mut again = model(arch, &device);
    import(&mut again, &st).expect("re-import");
    assert_eq!(logits(&again, &input, &device), got, "{}", arch.name());
}

fn archs() -> Vec<Arch> {
    if std::env::var_os("CONVLAB_TORCHVISION_ALL").is_some() {
        torchvision_archs()
    } else {
        vec![
            Arch::AlexNet,
            Arch::Vgg11Bn,
            Arch::ResNet18,
            Arch::ResNet50,
            Arch::GoogLeNet,
        ]
    }
}

#[test]
fn torchvision_weights_give_torchvisions_logits_and_export_back() {
    for arch in archs() {
        round_trip(arch);
    }
}

#[test]
fn the_key_tables_cover_every_tensor_of_every_torchvision_family() {
    // Without torchvision: each table is one-to-one and names every tensor of the model.
    use burn::store::ModuleSnapshot;
    let device = Device::flex();
    for arch in torchvision_archs() {
        let m = model(arch, &device);
        let table = convlab_models::torchvision::key_table(&m).expect("table");
        let ours: std::collections::BTreeSet<String> = m
            .collect(None, None, true)
            .into_iter()
            .map(|t| t.name)
            .collect();
        let mapped: std::collections::BTreeSet<String> =
            table.iter().map(|p| p.ours.clone()).collect();
        assert_eq!(mapped, ours, "{}", arch.name());
        let tv: std::collections::BTreeSet<&String> =
            table.iter().map(|p| &p.torchvision).collect();
        assert_eq!(
            tv.len(),
            table.len(),
            "{}: two tensors share a key",
            arch.name()
        );
    }
    // Families torchvision does not have are refused by name.
    let m = model(Arch::ResNet20, &device);
    let e = convlab_models::torchvision::key_table(&m)
        .expect_err("must be refused")
        .to_string();
    assert!(e.contains("resnet20 has no torchvision counterpart"), "{e}");
}

#[test]
fn a_file_that_does_not_fit_is_refused_with_the_keys_that_did_not_fit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fixture(Arch::ResNet18, tmp.path());
    let file = tmp.path().join("resnet18.pth");
    let device = Device::flex();
    // Deeper net: the missing blocks are named.
    let mut r34 = model(Arch::ResNet34, &device);
    let e = import(&mut r34, &file)
        .expect_err("must be refused")
        .to_string();
    assert!(
        e.contains("does not fit resnet34") && e.contains("layer1.2.conv1.weight"),
        "{e}"
    );
    // Another family: the file's keys are shown.
    let mut alex = model(Arch::AlexNet, &device);
    let e = import(&mut alex, &file)
        .expect_err("must be refused")
        .to_string();
    assert!(
        e.contains("features.0.weight") && e.contains("conv1.weight"),
        "{e}"
    );
    // A different class count keeps everything but the classifier, which is new.
    let mut cfg = ModelConfig::new(Arch::ResNet18);
    cfg.classes = Some(10);
    let mut ten = cfg.init(&device).expect("model");
    let report = import(&mut ten, &file).expect("import with a new head");
    assert_eq!(report.loaded, 100);
    assert_eq!(
        report.not_imported,
        ["net.head.linears.0.weight", "net.head.linears.0.bias"]
    );
    // A truncated file names the file.
    let bytes = std::fs::read(&file).expect("read");
    let cut = tmp.path().join("cut.pth");
    std::fs::write(&cut, &bytes[..1000]).expect("write");
    let mut r18 = model(Arch::ResNet18, &device);
    let e = import(&mut r18, &cut)
        .expect_err("must be refused")
        .to_string();
    assert!(
        e.contains("cut.pth") && e.contains("cannot read weights"),
        "{e}"
    );
    let e = import(&mut r18, &tmp.path().join("absent.pth"))
        .expect_err("must be refused")
        .to_string();
    assert!(
        e.contains("absent.pth: cannot read weights: no such file"),
        "{e}"
    );
}

#[test]
fn imagenet_preprocessing_matches_torchvisions_transform() {
    use convlab_experiments::run::weights::{IMAGENET_MEAN, IMAGENET_STD, Preprocess, WeightsInfo};
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(PYTHON)
        .arg(repo().join("scripts/torchvision_fixture.py"))
        .args(["-", tmp.path().to_str().expect("path"), "--transform"])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = WeightsInfo {
        arch: "resnet18".into(),
        classes: 1000,
        input: [3, 224, 224],
        aux_heads: false,
        mean: IMAGENET_MEAN.to_vec(),
        std: IMAGENET_STD.to_vec(),
        class_names: vec![],
        labels: Some("imagenet".into()),
        source: "test".into(),
        source_sha256: None,
        preprocess: Preprocess::ResizeCrop {
            resize: 256,
            crop: 224,
        },
    };
    let ours =
        convlab_experiments::inspect::predict::preprocess(&tmp.path().join("image.png"), &info)
            .expect("preprocess");
    let theirs = read_f32(&tmp.path().join("image.f32"));
    assert_eq!(ours.len(), theirs.len());
    let diffs: Vec<f32> = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let max = diffs.iter().fold(0f32, |m, d| m.max(*d));
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    // In normalised units (1/255 of a pixel ≈ 0.017): the resize filters of image-rs and PIL
    // differ in rounding only; the geometry (size, crop offset) must be the same, which a shift
    // of one pixel would break by far on this striped, noisy image.
    eprintln!("ImageNet preprocessing vs torchvision: max |Δ| {max:.4}, mean |Δ| {mean:.5}");
    assert!(mean < 0.01 && max < 0.05, "max {max}, mean {mean}");
}

/// Issue 21, finding 3's import half: a state dict carries no checksum of its own, so a flipped
/// byte used to import silently. `convlab import --checksum` refuses any other file (a whole
/// SHA-256 or the 8-digit prefix torchvision's file names carry), a `.sha256` sidecar beside the
/// file is checked, and the weights' description records the digest.
#[test]
fn an_import_checks_the_files_sha256_when_told_it() {
    use convlab_experiments::run::weights::import as import_weights;
    let tmp = tempfile::tempdir().expect("tempdir");
    fixture(Arch::ResNet18, tmp.path());
    let file = tmp.path().join("resnet18.pth");
    let bytes = std::fs::read(&file).expect("read");
    let sha = convlab_experiments::record::checksum::digest(&bytes);
    let out = tmp.path().join("w.bpk");
    let imported = import_weights(
        Arch::ResNet18,
        &file,
        Some(10),
        false,
        &out,
        Some(&sha[..8]),
    )
    .expect("the right file");
    assert!(imported.checked);
    let json = std::fs::read_to_string(&imported.json).expect("json");
    assert!(json.contains(&sha), "{json}");
    // One flipped byte in the middle of a tensor: the same size, a different file.
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let bad = tmp.path().join("flipped.pth");
    std::fs::write(&bad, &flipped).expect("write");
    let e = import_weights(Arch::ResNet18, &bad, Some(10), false, &out, Some(&sha))
        .err()
        .expect("a flipped byte")
        .to_string();
    assert!(
        e.contains("flipped.pth") && e.contains("does not start with") && e.contains(&sha),
        "{e}"
    );
    // A sidecar in `sha256sum`'s format is checked without being asked.
    std::fs::write(
        tmp.path().join("flipped.pth.sha256"),
        format!("{sha}  flipped.pth\n"),
    )
    .expect("sidecar");
    let e = import_weights(Arch::ResNet18, &bad, Some(10), false, &out, None)
        .err()
        .expect("sidecar mismatch")
        .to_string();
    assert!(e.contains("flipped.pth") && e.contains("changed"), "{e}");
    // Not a SHA-256: said so, naming the option.
    let e = import_weights(Arch::ResNet18, &file, Some(10), false, &out, Some("xyz"))
        .err()
        .expect("not hex")
        .to_string();
    assert!(e.contains("--checksum xyz"), "{e}");
}

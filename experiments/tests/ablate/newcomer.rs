//! The newcomer's path through the binary (issues 25 and 26): what `convlab` says when it is
//! given nothing or a recipe it does not know, and training on one's own image folders in both
//! layouts README shows.

use super::{EXE, convlab, ok, serial, text};
use std::path::Path;
use std::process::Command;

/// `convlab` alone prints its help and names the two recipes that work offline; so does an
/// unknown recipe's error.
#[test]
fn convlab_without_arguments_points_to_the_offline_recipes() {
    let o = Command::new(EXE).output().unwrap();
    let t = text(&o);
    assert!(!o.status.success());
    for want in ["Usage:", "train lenet-fashion", "train smoke"] {
        assert!(t.contains(want), "no {want:?} in:\n{t}");
    }
    let o = convlab(&["train", "lenet-fahsion", "--no-fetch"]);
    let t = text(&o);
    assert!(!o.status.success());
    for want in [
        "unknown recipe `lenet-fahsion`",
        "train lenet-fashion",
        "train smoke",
    ] {
        assert!(t.contains(want), "no {want:?} in:\n{t}");
    }
}

/// `k` images of class `c` (a colour per class, so the classes are learnable) in `dir`.
fn images(dir: &Path, c: u8, k: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..k {
        let shade = [40 + 90 * c, 200 - 80 * c, (i * 7) as u8];
        image::RgbImage::from_pixel(20, 12, image::Rgb(shade))
            .save(dir.join(format!("{i:02}.png")))
            .unwrap();
    }
}

fn run_dirs(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// README's own-images example: `root/<class>/*.png` trains, with a fixed per-class test split
/// (`data.test_fraction`), and the run is filed under the folder's name with a description
/// that says its data was replaced; `root/train|test/<class>` is used as given. A missing key
/// is an error naming it.
#[test]
fn own_image_folders_train_in_both_layouts() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let flat = tmp.path().join("my-images");
    images(&flat.join("cats"), 0, 10);
    images(&flat.join("dogs"), 1, 10);
    let out = tmp.path().join("runs");
    let out_s = out.to_str().unwrap();
    let path = format!("data.path={:?}", flat.to_str().unwrap());
    let common = [
        "--no-tui",
        "--no-fetch",
        "--epochs",
        "1",
        "--set",
        "data.dataset=\"folder\"",
        "--set",
        "data.shape=[3,16,16]",
        "--out",
        out_s,
    ];
    let mut args = vec!["train", "smoke", "--set", &path];
    args.extend(common);
    let t = ok(&args);
    assert_eq!(run_dirs(&out), ["smoke-my-images"], "{t}");
    let run = std::fs::read_dir(out.join("smoke-my-images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    // 20 % of each class of 10: 2 + 2 test images.
    let json: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let confusion = &json["test"]["confusion"];
    let tested: u64 = confusion
        .as_array()
        .unwrap_or_else(|| panic!("no test confusion in {summary}"))
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(tested, 4, "{summary}");
    let recipe = std::fs::read_to_string(run.join("recipe.toml")).unwrap();
    assert!(
        recipe.contains("data replaced by --set: the image folder"),
        "{recipe}"
    );

    // train/ and test/ side by side are taken as they are.
    let split = tmp.path().join("split");
    for (part, k) in [("train", 6), ("test", 3)] {
        images(&split.join(part).join("a"), 0, k);
        images(&split.join(part).join("b"), 1, k);
    }
    let path = format!("data.path={:?}", split.to_str().unwrap());
    let mut args = vec!["train", "smoke", "--name", "mine", "--set", &path];
    args.extend(common);
    ok(&args);
    assert_eq!(run_dirs(&out), ["mine", "smoke-my-images"]);

    // Without data.path: an error naming the key, and no run directory.
    let o = convlab(&[
        "train",
        "lenet-fashion",
        "--set",
        "data.dataset=\"folder\"",
        "--out",
        out_s,
    ]);
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.contains("`data.path`") && t.contains("root/<class>"),
        "{t}"
    );
    assert_eq!(run_dirs(&out), ["mine", "smoke-my-images"]);
}

/// With `--no-tui` (logs, Slurm) a long epoch says where it stands between epoch lines
/// (`CONVLAB_PROGRESS_SECS` shortens the 30 s interval here), and top-5 is not printed for
/// four classes (it used to read `top5 NaN%` per epoch and 100 % at the end).
#[test]
fn no_tui_prints_progress_within_an_epoch() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(EXE)
        .args([
            "train",
            "smoke",
            "--no-tui",
            "--no-fetch",
            "--epochs",
            "1",
            "--set",
            "data.samples=8000",
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .env("BURN_DEVICE", "flex")
        .env("CONVLAB_PROGRESS_SECS", "0.05")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let progress = t
        .find("  epoch 1/1 train ")
        .unwrap_or_else(|| panic!("no progress line in:\n{t}"));
    let epoch = t.find("epoch   1/1  train loss").expect("epoch line");
    assert!(progress < epoch, "{t}");
    assert!(t.contains("img/s, ~"), "{t}");
    assert!(!t.contains("NaN"), "{t}");
    assert!(!t.contains("top-5") && !t.contains("top5"), "{t}");
}

/// On a terminal, the closing `done: …` line is printed after the progress view has left the
/// terminal's alternate screen, so it stays in sight (it used to vanish with the view). Run
/// under `script`, which gives the process a pseudo-terminal.
#[test]
fn the_final_metrics_stay_on_the_screen_after_the_progress_view() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{EXE} train smoke --no-fetch --epochs 1 --out {}",
        tmp.path().display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("BURN_DEVICE", "flex")
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs the command on a pseudo-terminal");
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{t}");
    // The TUI ran (it switches to the alternate screen) and left it before `done:`.
    let leave = t
        .rfind("\x1b[?1049l")
        .unwrap_or_else(|| panic!("no TUI in:\n{t:?}"));
    let done = t.rfind("done: best epoch").expect("done line");
    assert!(leave < done, "`done:` inside the alternate screen:\n{t:?}");
}

/// `convlab runs` lists the runs under a folder with their status and numbers, and filters
/// them; `convlab recipe show` prints a recipe resolved, `--set` applied.
#[test]
fn runs_are_listed_and_recipes_shown_resolved() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let out_s = out.to_str().unwrap();
    ok(&[
        "train",
        "smoke",
        "--no-tui",
        "--no-fetch",
        "--epochs",
        "1",
        "--out",
        out_s,
    ]);
    let t = ok(&["runs", out_s]);
    assert!(t.contains("smoke") && t.contains("completed"), "{t}");
    let json = ok(&["runs", out_s, "--json"]);
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(row["status"], "completed", "{json}");
    assert_eq!(row["epochs"], 1, "{json}");
    assert!(row["test_top1"].as_f64().is_some(), "{json}");
    // Any trained model exports for use outside convlab: LeNet-5 has no torchvision
    // counterpart, so its keys are convlab's module paths in PyTorch's layout; others may read
    // the file (0644, not a temporary file's 0600).
    let run = std::fs::read_dir(out.join("smoke"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = tmp.path().join("lenet.safetensors");
    let t = ok(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(t.contains("convlab's module paths"), "{t}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
    let bytes = std::fs::read(&file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let keys: Vec<&String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .collect();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| !k.starts_with("net.")), "{keys:?}");
    // The classifier: PyTorch's [out, in], out = the 4 classes of smoke.
    let classifier = keys
        .iter()
        .rfind(|k| {
            k.ends_with("weight") && header[k.as_str()]["shape"].as_array().unwrap().len() == 2
        })
        .unwrap();
    assert_eq!(header[classifier.as_str()]["shape"][0], 4, "{header}");
    assert_eq!(header["__metadata__"]["convlab_arch"], "lenet5", "{header}");
    // And as ONNX, by default into the run directory, with the normalisation it expects.
    let t = ok(&["export", run.to_str().unwrap(), "--format", "onnx"]);
    assert!(
        t.contains("model.onnx: ONNX opset 17") && t.contains("minus mean ["),
        "{t}"
    );
    let onnx = run.join("model.onnx");
    let mode = std::fs::metadata(&onnx).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "mode {mode:o}");
    assert!(!run.join("model.onnx.partial").exists());

    let t = ok(&["runs", out_s, "--filter", "lenet-mnist"]);
    assert!(t.contains("no runs"), "{t}");
    let o = convlab(&["runs", tmp.path().join("nowhere").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("no such folder"));

    let t = ok(&[
        "recipe",
        "show",
        "lenet-fashion",
        "--set",
        "optimizer.lr=0.125",
    ]);
    assert!(t.contains("lr = 0.125"), "{t}");
    assert!(t.contains("dataset = \"fashion-mnist\""), "{t}");
    assert!(t.contains("valid_fraction = 0.1"), "extends resolved: {t}");
}

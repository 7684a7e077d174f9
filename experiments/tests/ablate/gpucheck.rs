//! Issue 23: the GPU check, packed and run here on Mesa's lavapipe (a CPU Vulkan driver): every
//! step but PyTorch CUDA's runs as on the GPU machine, at `--quick` sizes.
#![cfg(feature = "wgpu")]

use super::*;

/// `scripts/gpu-check.sh pack --binary` (this build's binary, stripped and compressed, the
/// Vulkan loader, the Python peer) under 60 MiB; then the packed `check --quick`: compare-backends
/// flex,wgpu agrees, convlab's bench runs on wgpu, the smoke run's loss falls on wgpu and
/// records its adapter and compiler in run.json, cubecl's kernel profile is summed; the summary
/// says so and PyTorch's CUDA side is reported missing rather than passed.
#[test]
fn the_gpu_check_packs_and_runs_on_a_software_vulkan_driver() {
    if std::env::var_os("CONVLAB_SKIP_WGPU").is_some() {
        println!("SKIP wgpu: CONVLAB_SKIP_WGPU is set");
        return;
    }
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let script = repo.join("scripts/gpu-check.sh");
    let pack = tmp.path().join("pack");
    let o = Command::new(&script)
        .args(["pack", "--binary", EXE, "--out", pack.to_str().unwrap()])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "pack failed:\n{t}");
    let names: Vec<String> = std::fs::read_dir(&pack)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for want in [
        "convlab-wgsl.xz",
        "gpu-check.sh",
        "bench_torch.py",
        "bench_vs_torch.py",
        "cubecl_profile.py",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not packed: {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("libvulkan1_") && n.ends_with(".deb"))
            || pack.join("lib/libvulkan.so.1").is_file(),
        "no Vulkan loader packed: {names:?}"
    );
    let bytes: u64 = std::fs::read_dir(&pack)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(bytes < 60 << 20, "the pack is {bytes} bytes");
    assert!(!tmp.path().join("pack.partial").exists());

    let out = tmp.path().join("out");
    let o = Command::new(pack.join("gpu-check.sh"))
        .args(["check", out.to_str().unwrap(), "--quick"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "check failed:\n{t}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let log = std::fs::read_to_string(out.join("check.log")).unwrap();
    for row in [
        "| compare-backends flex,wgpu (convlab-wgsl) | ok |",
        "| libraries resolve (ldd) | ok |",
        "| train smoke --backend wgpu | ok |",
        "| smoke loss falls | ok:",
        "| kernel profile (lenet5) | ok |",
    ] {
        assert!(summary.contains(row), "no `{row}` in:\n{summary}\n{log}");
    }
    // Without CUDA the PyTorch side is named as missing, convlab's bench still runs.
    assert!(
        summary.contains("| throughput: convlab wgpu (no PyTorch CUDA here) | ok |"),
        "{summary}\n{log}"
    );
    // The adapter, its driver and the compiler, as `--backend wgpu` prints them.
    let wgpu = summary
        .lines()
        .find(|l| l.starts_with("wgpu: "))
        .unwrap_or_default();
    assert!(
        wgpu.starts_with("wgpu: wgpu (") && wgpu.ends_with(", WGSL compiler"),
        "{summary}"
    );
    assert!(
        summary.contains("kernel time by kernel")
            && summary.contains("| launches | specialisations |")
            // A kernel family's row: its name without cubecl's per-specialisation hash.
            && summary.lines().any(|l| l.starts_with("| `")
                && l.matches('|').count() == 7
                && !l.contains(" | TensorArgs")),
        "no kernel profile table in:\n{summary}\n{log}"
    );
    let files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.len() <= 8,
        "{files:?}: the device machine returns 8 files at most"
    );
    let list = Command::new("tar")
        .args(["tzf", out.join("details.tar.gz").to_str().unwrap()])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for f in ["run.json", "metrics.csv", "cubecl-profile.log.gz"] {
        assert!(list.contains(f), "no {f} in details.tar.gz:\n{list}");
    }
}

//! README, walked (issue 26): every command in README's `sh` blocks is either run here as
//! written, at a small budget where its own would take minutes (the substitutions are listed
//! below with each command), or listed with the reason it cannot run in CI (network, a GPU, a
//! Slurm cluster path, a user's own file, or minutes of training). A README command this walk
//! does not know fails it, so README cannot drift from what the binary does; so does a listed
//! command README no longer has.
//!
//! Commands run in a scratch folder that mirrors a clone: `experiments/` is a link to the
//! repository's and `results/` a copy (commands rewrite reports there), and the images README
//! names (`shirt.png`, `my-images/…`) are made there. A run directory README names by a timestamp (`runs/lenet-fashion/20261122-001858`)
//! is the newest run of that recipe the walk made before it; a suite report directory likewise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{EXE, serial};

/// What the walk does with a README command, chosen by the command's start (after `cargo run
/// … --bin convlab --`, which is dropped).
enum Plan {
    /// Run it, with these arguments appended (budget flags; placeholders are resolved anyway).
    Run(&'static [Change]),
    /// Not run in CI, and why.
    Skip(&'static str),
}

#[derive(Clone, Copy)]
enum Change {
    /// Append these arguments.
    Append(&'static [&'static str]),
}

use Change::Append;
use Plan::{Run, Skip};

const SMALL: &[&str] = &["--no-tui", "--set", "data.limit=2000"];
const NETWORK: &str = "needs network (a download or a file from torchvision's site)";
const SLURM: &str = "submits to a Slurm cluster's shared folder; the executor runs against a one-node Slurm in ablate::slurm_executor_*";

/// Every README command, in README's order of first appearance of its start.
const PLANS: &[(&str, Plan)] = &[
    (
        "scripts/train.sh lenet-fashion",
        Skip(
            "the first of README's two commands: a cold build; measured by hand (README's Set-up table)",
        ),
    ),
    (
        "scripts/test.sh",
        Skip("README's test command: the run this test is part of"),
    ),
    ("models", Run(&[])),
    ("summary resnet20", Run(&[])),
    ("summary vgg16-bn --input 3x64x64 --classes 10", Run(&[])),
    ("summary googlenet --json", Run(&[])),
    ("data info fashion-mnist", Run(&[])),
    ("data verify cifar10", Skip(NETWORK)),
    ("data fetch mnist", Skip(NETWORK)),
    ("data bench", Run(&[])),
    ("recipes", Run(&[])),
    (
        "train lenet-fashion --backend flex --epochs 3",
        Run(&[Append(SMALL)]),
    ),
    (
        "train smoke --set optimizer.lr=0.1 --set model.width=0.5",
        Run(&[Append(&["--no-tui"])]),
    ),
    ("train resnet20-cifar --data-dir /data", Skip(NETWORK)),
    (
        "train smoke --overfit-batches 2 --epochs 60",
        Run(&[Append(&["--no-tui"])]),
    ),
    ("train lenet-fashion --until-epoch 2", Run(&[Append(SMALL)])),
    (
        "train --resume runs/lenet-fashion/20261122-001858 --epochs 20",
        Run(&[Append(&["--no-tui"])]),
    ),
    (
        "train --resume runs/lenet-fashion/20261122-001858",
        Run(&[Append(&["--no-tui"])]),
    ),
    (
        "train --resume runs/smoke/20261122-001858 --from-epoch 1",
        Run(&[Append(&["--no-tui"])]),
    ),
    (
        "eval runs/lenet-fashion/20261122-001858 --split test --checkpoint best",
        Run(&[]),
    ),
    ("runs", Run(&[])),
    ("recipe show lenet-fashion", Run(&[])),
    ("recipe keys", Run(&[])),
    (
        "train smoke --set data.dataset=\"folder\" --set data.path=my-images",
        Run(&[Append(&["--no-tui"])]),
    ),
    (
        "train lenet-fashion --set diagnostics.every=10",
        Run(&[Append(SMALL), Append(&["--epochs", "1"])]),
    ),
    (
        "train lenet-fashion",
        Run(&[Append(SMALL), Append(&["--epochs", "1"])]),
    ),
    ("report runs/lenet-fashion/20261122-134536", Run(&[])),
    (
        "eval runs/lenet-fashion/20261122-134536 --misclassified 24",
        Run(&[]),
    ),
    ("cam runs/lenet-fashion/20261122-134536", Run(&[])),
    ("cam runs/weights/resnet18.bpk", Skip(NETWORK)),
    (
        "tensorboard --logdir runs",
        Skip(
            "TensorBoard's own viewer (a server); the event files are read back by the tensorboard package in tests/training/diagnostics.rs",
        ),
    ),
    ("ablations", Run(&[])),
    ("ablate residual --budget smoke --seeds 2", Run(&[])),
    (
        "ablate residual --budget short --seeds 2 --dataset fashion-mnist --jobs 2",
        Skip(
            "about 20 minutes on 2 cores: the committed results/ablations/residual are its output",
        ),
    ),
    ("ablate residual --budget full --dry-run", Run(&[])),
    (
        "ablate residual --budget medium --dataset fashion-mnist --jobs 2 --dry-run",
        Run(&[]),
    ),
    (
        "ablate batchnorm --retry-failed",
        Run(&[Append(&["--budget", "smoke"])]),
    ),
    ("ablate vgg-depth --executor slurm", Skip(SLURM)),
    ("ablate lrn --executor slurm --no-wait", Skip(SLURM)),
    ("ablate report ablations/lrn/20261122-101500", Run(&[])),
    ("ablate verdicts results/ablations/residual", Run(&[])),
    (
        "ablate verdicts results/ablations/activation-kaiming --suite activation",
        Run(&[]),
    ),
    ("ablate scorecard", Run(&[])),
    ("ablate my-suite.toml", Skip("a user's own suite file")),
    ("import ", Skip(NETWORK)),
    ("predict runs/weights/resnet18.bpk", Skip(NETWORK)),
    (
        "predict runs/lenet-fashion/20261122-001858 shirt.png",
        Run(&[]),
    ),
    ("export runs/weights/resnet18.bpk", Skip(NETWORK)),
    ("export runs/smoke-resnet18/20261122-001858", Run(&[])),
    (
        "just ",
        Skip("`just` wraps the commands walked here (it is not in Debian 12)"),
    ),
    (
        "train lenet-fashion --set transfer.from=",
        Skip(
            "needs a LeNet trained on MNIST (network); transfer runs are tested in tests/training/transfer.rs",
        ),
    ),
    (
        "train lenet-fashion --set model.cut=2",
        Skip(
            "needs a LeNet trained on MNIST (network); transfer runs are tested in tests/training/transfer.rs",
        ),
    ),
    (
        "search lenet-fashion --space experiments/search/lenet-fashion-lr-wd.toml",
        Run(&[Append(&["--trials", "2", "--stages", "1"])]),
    ),
    (
        "search smoke --space experiments/search/smoke.toml --stages 1",
        Run(&[]),
    ),
    ("search resnet20-cifar", Skip(SLURM)),
    (
        "train searches/lenet-fashion-lenet-fashion-lr-wd/best.toml",
        Run(&[Append(SMALL), Append(&["--epochs", "1"])]),
    ),
    ("ensemble runs/ensemble/lenet-fashion/*", Run(&[])),
    (
        "ensemble ablations/residual/20261122-120000 --variant residual-20",
        Run(&[]),
    ),
    ("compare-backends --arch resnet20", Run(&[])),
    (
        "compare-backends",
        Skip(
            "the default set on a software Vulkan driver takes minutes; .ci/run prints the same comparison at small sizes",
        ),
    ),
    (
        "bench --backend flex --backend ndarray",
        Skip("minutes: ndarray on the default set at batch 128"),
    ),
    ("bench --arch resnet20 --backend flex --json", Run(&[])),
    (
        "gpu-pack/gpu-check.sh check gpu-out",
        Skip(
            "runs on a GPU machine from the pack; gpucheck.rs packs the test build and runs the check here on lavapipe at --quick sizes",
        ),
    ),
    (
        "python3 scripts/bench_torch.py --device cuda",
        Skip("needs an NVIDIA GPU with CUDA"),
    ),
];

/// README's commands: `sh` blocks, continuation lines joined, comments dropped.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut cur = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = strip_comment(line);
        if let Some(head) = code.trim_end().strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(code);
        let cmd = cur.split_whitespace().collect::<Vec<_>>().join(" ");
        cur.clear();
        if !cmd.is_empty() {
            out.push(cmd);
        }
    }
    out
}

/// A line without its `# comment` (a `#` after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut prev_space) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return &line[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// `cargo run [-q] [--features F] --bin convlab -- ARGS` → ARGS as one string; anything else
/// as it is.
fn convlab_part(cmd: &str) -> String {
    match cmd.split_once("--bin convlab -- ") {
        Some((cargo, args)) if cargo.starts_with("cargo run") => args.to_string(),
        _ => cmd.to_string(),
    }
}

/// The plan whose start is the longest prefix of `cmd` (its words unquoted).
fn plan_for(cmd: &str) -> Option<(&'static str, &'static Plan)> {
    let words = shlex::split(cmd)?.join(" ");
    PLANS
        .iter()
        .filter(|(start, _)| words.starts_with(start) || words == start.trim_end())
        .max_by_key(|(start, _)| start.len())
        .map(|(s, p)| (*s, p))
}

/// The newest directory inside `dir` (by name: run and report names start with a timestamp).
fn newest(dir: &Path) -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Runs and reports are named by their start time; a suite's `runs/` is not one.
        .filter(|p| {
            p.is_dir()
                && p.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .starts_with(|c: char| c.is_ascii_digit())
                })
        })
        .collect();
    v.sort();
    v.pop()
}

/// A README placeholder for a run or report directory (`<folder>/<name>/YYYYmmdd-HHMMSS`)
/// becomes the newest one the walk made there; `runs/ensemble/lenet-fashion/*` the walk's
/// lenet-fashion runs; `runs/smoke-resnet18/…` a ResNet-18 smoke run made for it.
fn resolve(arg: &str, work: &Path) -> Vec<String> {
    if arg == "runs/ensemble/lenet-fashion/*" {
        let mut v: Vec<String> = std::fs::read_dir(work.join("runs/lenet-fashion"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("summary.json").is_file())
                    .map(|e| e.path().display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        return v;
    }
    let parts: Vec<&str> = arg.split('/').collect();
    let stamp = parts.last().is_some_and(|l| {
        l.len() == 15
            && l.as_bytes()[8] == b'-'
            && l.bytes().filter(u8::is_ascii_digit).count() == 14
    });
    if stamp && parts.len() == 3 {
        let parent = work.join(parts[0]).join(parts[1]);
        if !parent.is_dir() && parts[0] == "ablations" {
            let o = convlab(work, &["ablate", parts[1], "--budget", "smoke"]);
            assert!(o.0, "preparing {arg}:\n{}", o.1);
        }
        if !parent.is_dir() && parts[1] == "smoke-resnet18" {
            let o = convlab(
                work,
                &[
                    "train",
                    "smoke",
                    "--no-tui",
                    "--epochs",
                    "1",
                    "--name",
                    "smoke-resnet18",
                    "--set",
                    "model.arch=\"resnet18\"",
                    "--set",
                    "model.input=[3,32,32]",
                    "--set",
                    "data.shape=[3,32,32]",
                    "--set",
                    "data.samples=64",
                    "--set",
                    "data.test_samples=16",
                ],
            );
            assert!(o.0, "preparing {arg}:\n{}", o.1);
        }
        let found = newest(&parent)
            .unwrap_or_else(|| panic!("README names {arg}: the walk made no run there"));
        return vec![found.display().to_string()];
    }
    vec![arg.to_string()]
}

fn convlab(work: &Path, args: &[&str]) -> (bool, String) {
    let o = Command::new(EXE)
        .args(args)
        .current_dir(work)
        .env("BURN_DEVICE", "flex")
        .output()
        .expect("starting convlab");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// The scratch folder: links to the repository's `experiments/` and `results/`, and the
/// images README's commands name.
fn scratch(repo: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let w = tmp.path();
    std::os::unix::fs::symlink(repo.join("experiments"), w.join("experiments")).expect("link");
    // A copy, not a link: README's commands rewrite reports under results/ (`ablate verdicts`),
    // which must not touch the committed files.
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo.join("results"))
        .arg(w.join("results"))
        .status()
        .expect("cp");
    assert!(status.success(), "copying results/");
    for (name, shade) in [("shirt.png", 90u8), ("boot.png", 200)] {
        image::GrayImage::from_fn(28, 28, |x, y| {
            image::Luma([shade.wrapping_add((x * y) as u8)])
        })
        .save(w.join(name))
        .expect("image");
    }
    for (class, k) in [("cats", 0u8), ("dogs", 1)] {
        let dir = w.join("my-images").join(class);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for i in 0..8u8 {
            image::RgbImage::from_pixel(20, 20, image::Rgb([40 + 150 * k, 90, i * 20]))
                .save(dir.join(format!("{i}.png")))
                .expect("image");
        }
    }
    tmp
}

#[test]
fn every_readme_command_runs_as_written_or_says_why_not() {
    let _g = serial();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    let commands = readme_commands(&readme);
    assert!(commands.len() > 50, "{commands:?}");
    let tmp = scratch(&repo);
    let work = tmp.path();
    let mut used = BTreeSet::new();
    let mut ran = 0;
    let mut failures = Vec::new();
    for cmd in &commands {
        let part = convlab_part(cmd);
        let Some((start, plan)) = plan_for(&part) else {
            failures.push(format!(
                "not walked (add it to PLANS in ablate/readme.rs): {cmd}"
            ));
            continue;
        };
        used.insert(start);
        let changes = match plan {
            Run(changes) => changes,
            Skip(why) => {
                println!("not run in CI: {cmd}\n    {why}");
                continue;
            }
        };
        let Some(words) = shlex::split(&part) else {
            failures.push(format!("unbalanced quotes: {cmd}"));
            continue;
        };
        let mut args: Vec<String> = words.iter().flat_map(|w| resolve(w, work)).collect();
        for c in *changes {
            let Append(more) = c;
            args.extend(more.iter().map(|s| s.to_string()));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, text) = convlab(work, &refs);
        ran += 1;
        if !ok || text.contains("panicked") {
            failures.push(format!("`{cmd}` (run as convlab {args:?}) failed:\n{text}"));
        }
    }
    for (start, _) in PLANS {
        if !used.contains(start) {
            failures.push(format!("PLANS lists `{start}`, which README no longer has"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran > 30, "only {ran} commands ran");
}

//! A user's bad day, part one (issue 21's findings 2, 5, 6 and 7): a run directory another
//! process is writing, names that would leave `--out`, sizes that would exhaust memory, and
//! values that used to be accepted in silence. Each ends in an error naming the key or the file.

use clap::Parser;
use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::record::rundir::{RunDir, plain_name};
use convlab_experiments::sweep::runstore::RunStore;
use convlab_experiments::{ResumeOptions, resume, train};

use crate::{opts, serial};

fn smoke(sets: &[&str]) -> Result<Recipe, String> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Recipe::load("smoke", &sets).map_err(|e| e.to_string())
}

/// Finding 2: a second writer of a run directory is refused, naming the holder's pid; the lock
/// goes with the holder. A suite never sets aside or resumes a run someone is writing.
#[test]
fn a_run_being_written_is_refused_to_a_second_writer() {
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let first = train(smoke(&["epochs=1"]).expect("recipe"), &opts(tmp.path())).expect("run");
    let run = RunDir::open(first.dir()).expect("open");
    let held = run.lock().expect("lock");
    let pid = format!("pid {}", std::process::id());
    assert_eq!(RunDir::writer(run.path()), Some(pid.clone()));
    let extend = ResumeOptions {
        epochs: Some(2),
        from_epoch: None,
    };
    let e = resume(run.path(), &opts(tmp.path()), &extend)
        .err()
        .expect("a second writer")
        .to_string();
    assert!(
        e.contains("in use by another convlab process") && e.contains(&pid),
        "{e}"
    );
    // A suite's store refuses to move it aside or resume it.
    let parent = run.path().parent().expect("parent");
    let id = run
        .path()
        .file_name()
        .expect("id")
        .to_string_lossy()
        .into_owned();
    let e = RunStore::at(parent)
        .next_step(&id, true)
        .expect_err("live run")
        .to_string();
    assert!(
        e.contains("still being written by") && e.contains(&pid),
        "{e}"
    );
    drop(held);
    assert_eq!(RunDir::writer(run.path()), None);
    let out = resume(run.path(), &opts(tmp.path()), &extend).expect("resume once free");
    assert_eq!(out.summary.epochs, 2);
}

/// Finding 6: a run's or a search's name is one directory name, never a path out of `--out`.
#[test]
fn names_stay_inside_out() {
    for bad in ["../../x", "a/b", "..", ".", "", "a\\b"] {
        assert!(!plain_name(bad), "{bad:?}");
    }
    for good in ["lenet-fashion", "smoke_2", "v1.2"] {
        assert!(plain_name(good), "{good:?}");
    }
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let mut recipe = smoke(&["epochs=1"]).expect("recipe");
    recipe.name = "../../escaped".into();
    let e = train(recipe, &opts(&out))
        .err()
        .expect("bad name")
        .to_string();
    assert!(
        e.contains("`../../escaped`") && e.contains("no path"),
        "{e}"
    );
    assert!(!tmp.path().join("escaped").exists() && !out.exists());
}

/// Findings 5 and 7: sizes beyond any sane run and values that trained nonsense are errors
/// naming the key (and the limit), before anything is allocated.
#[test]
fn impossible_sizes_and_silent_nonsense_name_their_key() {
    let cases: [(&[&str], &str); 9] = [
        (&["model.input=[3, 100000, 100000]"], "model.input"),
        (&["data.pad=100000"], "data.pad"),
        (&["data.samples=1000000000"], "data.samples"),
        (&["data.test_samples=0"], "data.test_samples"),
        (&["data.limit=0"], "data.limit"),
        (
            &["train.early_stopping_patience=0"],
            "train.early_stopping_patience",
        ),
        (
            &[
                "optimizer.kind=\"adam\"",
                "optimizer.momentum=0.0",
                "optimizer.eps=inf",
            ],
            "optimizer.eps",
        ),
        (&["data.shape=[1, 100000, 8]"], "data.shape"),
        (&["data.resize=[5000, 5000]"], "data.resize"),
    ];
    for (sets, key) in cases {
        let e = smoke(sets).expect_err(key);
        assert!(e.contains(&format!("`{key}`")), "{sets:?}: {e}");
    }
    let suite = |seeds: &str| {
        convlab_experiments::config::suite::Suite::parse(
            "big",
            &format!(
                "description = \"d\"\nquestion = \"q\"\nbase = \"smoke\"\nseeds = {seeds}\nbaseline = \"a\"\nmetrics = [\"test_acc\"]\n[[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\" }}]\n"
            ),
        )
    };
    assert!(suite("2").is_ok());
    let e = suite("1000000000").expect_err("seeds").to_string();
    assert!(e.contains("seeds") && e.contains("1000"), "{e}");
    let space = |trials: &str| {
        convlab_experiments::config::space::Space::parse(
            "big",
            &format!(
                "seed = 0\n[params.\"optimizer.lr\"]\nkind = \"log-uniform\"\nlow = 1e-3\nhigh = 1.0\n[[stages]]\ntrials = {trials}\nepochs = 1\n"
            ),
        )
    };
    assert!(space("4").is_ok());
    let e = space("1000000000000").expect_err("trials").to_string();
    assert!(e.contains("trials") && e.contains("10000"), "{e}");
}

/// Finding 7: `--seed` beyond a TOML integer is an error saying so, not "invalid type: string"
/// (nor a wrapped negative number).
#[test]
fn a_seed_beyond_toml_integers_says_so() {
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: convlab_experiments::cli::Command,
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().to_str().expect("utf8");
    let cli = Cli::try_parse_from([
        "convlab",
        "train",
        "smoke",
        "--seed",
        "18446744073709551615",
        "--out",
        out,
        "--no-fetch",
    ])
    .expect("parse");
    let e = convlab_experiments::cli::run(cli.command)
        .expect_err("too large")
        .to_string();
    assert!(
        e.contains("--seed 18446744073709551615: at most 9223372036854775807"),
        "{e}"
    );
}

/// Finding 7: a report of a run whose summary cannot be read says so, instead of calling the
/// run still in training.
#[test]
fn a_report_names_an_unreadable_summary() {
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let run = train(smoke(&["epochs=1"]).expect("recipe"), &opts(tmp.path())).expect("run");
    std::fs::write(run.dir().join("summary.json"), "{ not json").expect("corrupt");
    let page = convlab_experiments::record::page::render(run.dir()).expect("page");
    assert!(
        page.contains("summary.json cannot be read"),
        "a corrupt summary is named"
    );
    assert!(!page.contains("still training"));
}

/// Finding 3: a checkpoint whose bytes changed after it was written (one flipped byte) is an
/// error naming the file on every load (evaluation, a run used as weights, resume), offering the
/// epochs that still verify; the sidecars are `sha256sum -c` compatible.
#[test]
fn a_flipped_byte_in_a_checkpoint_is_named_on_every_load() {
    use convlab_experiments::Backend;
    use convlab_experiments::run::eval::{CheckpointChoice, Split, evaluate_run};
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let run = train(smoke(&["epochs=2"]).expect("recipe"), &opts(tmp.path())).expect("run");
    let ckpt = run.dir().join("checkpoint");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "model-2.bpk.sha256", "optim-1.bpk.sha256"])
        .current_dir(&ckpt)
        .output()
        .expect("sha256sum");
    assert!(check.status.success(), "{check:?}");
    let eval = || {
        evaluate_run(
            run.dir(),
            Split::Test,
            CheckpointChoice::Last,
            Backend::Flex,
            None,
        )
    };
    eval().expect("an intact run evaluates");
    let model = ckpt.join("model-2.bpk");
    let mut bytes = std::fs::read(&model).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x80;
    std::fs::write(&model, bytes).expect("flip");
    let e = format!("{:#}", eval().err().expect("a flipped byte"));
    assert!(
        e.contains("model-2.bpk") && e.contains("SHA-256") && e.contains("verifies: [1]"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        convlab_experiments::run::weights::load(run.dir(), &burn::tensor::Device::flex(), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    // The run's best checkpoint may be epoch 1 (intact) or 2 (flipped): only the latter errs.
    if run.run.best_epoch().expect("best") == Some(2) {
        assert!(e.contains("model-2.bpk"), "{e}");
    }
    let extend = ResumeOptions {
        epochs: Some(3),
        from_epoch: None,
    };
    let e = resume(run.dir(), &opts(tmp.path()), &extend)
        .err()
        .expect("resume from a changed checkpoint")
        .to_string();
    assert!(
        e.contains("model-2.bpk") && e.contains("SHA-256") && e.contains("--from-epoch 1"),
        "{e}"
    );
}

/// Finding 4: a resume never rewrites history: rows lost from `metrics.csv` are an error naming
/// the file and the missing epochs, not a run whose summary forgets its best epoch. Finding 8:
/// a resume removes the temporary files a killed writer left behind.
#[test]
fn a_resume_refuses_a_lost_history_and_clears_leftovers() {
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let run = train(smoke(&["epochs=2"]).expect("recipe"), &opts(tmp.path())).expect("run");
    let metrics = run.dir().join("metrics.csv");
    let kept = std::fs::read_to_string(&metrics).expect("metrics");
    let header = kept.lines().next().expect("header").to_string();
    std::fs::write(&metrics, format!("{header}\n")).expect("empty history");
    let extend = ResumeOptions {
        epochs: Some(3),
        from_epoch: None,
    };
    let e = resume(run.dir(), &opts(tmp.path()), &extend)
        .err()
        .expect("a lost history")
        .to_string();
    assert!(
        e.contains("metrics.csv") && e.contains("missing [1, 2]") && e.contains("refused"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(&metrics).expect("metrics"),
        format!("{header}\n")
    );
    std::fs::write(&metrics, kept).expect("restore");
    let leftovers = [
        run.dir().join(".tmp-AbC123"),
        run.dir().join("curves.tmp.png"),
        run.dir().join("checkpoint/.tmp-XyZ789"),
    ];
    for f in &leftovers {
        std::fs::write(f, b"torn").expect("leftover");
    }
    let out = resume(run.dir(), &opts(tmp.path()), &extend).expect("resume");
    assert_eq!(out.summary.epochs, 3);
    for f in &leftovers {
        assert!(!f.exists(), "{} left behind", f.display());
    }
}

/// Finding 8: a paused and resumed run keeps the checkpoints an uninterrupted run keeps (the
/// last two epochs and the best), not also the epoch it paused at.
#[test]
fn a_resumed_run_keeps_the_checkpoints_of_an_uninterrupted_one() {
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let listing = |dir: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("checkpoint"))
            .expect("checkpoints")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let whole = train(
        smoke(&["epochs=6"]).expect("recipe"),
        &opts(&tmp.path().join("a")),
    )
    .expect("uninterrupted");
    let paused = convlab_experiments::TrainOptions {
        until_epoch: Some(3),
        ..opts(&tmp.path().join("b"))
    };
    let part = train(smoke(&["epochs=6"]).expect("recipe"), &paused).expect("paused");
    assert!(listing(part.dir()).contains(&"model-3.bpk".to_string()));
    let resumed = resume(part.dir(), &opts(tmp.path()), &ResumeOptions::default()).expect("resume");
    assert_eq!(resumed.summary.epochs, 6);
    assert_eq!(listing(resumed.dir()), listing(whole.dir()));
}

/// Finding 6: `extends` names a built-in recipe or a sibling file, never a path, so a recipe
/// cannot make convlab read (and echo in an error) any file on the machine.
#[test]
fn extends_follows_no_path() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("base.toml"), "extends = \"smoke\"\n").expect("write");
    for bad in ["/etc/passwd", "../../etc/passwd", "base.toml", ".."] {
        let child = dir.path().join("child.toml");
        std::fs::write(&child, format!("extends = {bad:?}\n")).expect("write");
        let e = Recipe::load(child.to_str().expect("utf8"), &[])
            .expect_err(bad)
            .to_string();
        assert!(
            e.contains("`extends`") && e.contains("paths are not followed") && !e.contains("root:"),
            "{bad}: {e}"
        );
    }
    // A sibling by name and a built-in name still work.
    let child = dir.path().join("child.toml");
    std::fs::write(&child, "extends = \"base\"\n").expect("write");
    Recipe::load(child.to_str().expect("utf8"), &[]).expect("a sibling");
}

/// Finding 6, the suite's half: `base` names a built-in recipe or a recipe file beside the
/// suite, never a path; a sibling is preferred to a built-in of the same name.
#[test]
fn a_suite_base_follows_no_path() {
    use convlab_experiments::config::suite::Suite;
    let dir = tempfile::tempdir().expect("tmp");
    let suite = |base: &str| {
        format!(
            "description = \"d\"\nquestion = \"q\"\nbase = {base:?}\nbaseline = \"a\"\n\
             metrics = [\"test_acc\"]\n\
             [[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\", set = {{ epochs = 1 }} }}]\n"
        )
    };
    let path = dir.path().join("s.toml");
    for bad in ["/etc/passwd", "../../etc/passwd", "smoke.toml", ".."] {
        std::fs::write(&path, suite(bad)).expect("write");
        let e = Suite::load(path.to_str().expect("utf8"))
            .expect_err(bad)
            .to_string();
        assert!(
            e.contains("`base`") && e.contains("paths are not followed") && !e.contains("root:"),
            "{bad}: {e}"
        );
    }
    std::fs::write(&path, suite("smoke")).expect("write");
    let s = Suite::load(path.to_str().expect("utf8")).expect("a built-in base");
    assert_eq!(s.base_ref(), "smoke");
    std::fs::write(
        dir.path().join("smoke.toml"),
        "extends = \"lenet-fashion\"\n",
    )
    .expect("write");
    assert_eq!(
        s.base_ref(),
        dir.path().join("smoke.toml").to_string_lossy(),
        "a sibling file comes first"
    );
}

/// Finding 5, memory: a training step that cannot fit in the machine's memory is refused
/// before anything is allocated for it (no run directory), naming `batch_size` and the limit.
/// The floor is the traced model's parameters (×2, +1 momentum buffer) plus every layer's
/// output per image: LeNet-5 at 1×28×28 (torchvision-style padding 2 in conv1) keeps
/// 6·28·28 + 6·14·14 + 16·10·10 + 16·5·5 + 120 + 84 + 10 = 8,094 values per image.
#[test]
fn a_step_beyond_the_machines_memory_is_refused_before_it_starts() {
    use convlab_experiments::run::model::step_memory;
    let lenet = Recipe::load("lenet-fashion", &[]).expect("recipe");
    let mut cfg = lenet.model.clone();
    cfg.input = Some([1, 28, 28]);
    cfg.classes = Some(10);
    let m = step_memory(&lenet, &cfg, 54_000).expect("traced");
    assert_eq!(m.activations_per_image, 8_094, "{m:?}");
    assert_eq!(m.batch, lenet.batch_size);
    let states = if lenet.optimizer.momentum > 0.0 { 3 } else { 2 };
    assert_eq!(
        m.bytes,
        4 * (m.params * states + 8_094 * lenet.batch_size as u64)
    );
    assert_eq!(
        step_memory(&lenet, &cfg, 7).expect("traced").batch,
        7,
        "a batch is never larger than the training set"
    );

    // VGG-16 at 4096×4096 keeps about 5·10⁹ values per image: 12 images need ~240 GiB.
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let huge = smoke(&[
        "model.arch=\"vgg16\"",
        "model.input=[1, 4096, 4096]",
        "data.shape=[1, 4096, 4096]",
        "data.samples=16",
        "data.test_samples=1",
        "batch_size=16",
    ])
    .expect("a recipe whose sizes are each allowed");
    let e = train(huge, &opts(tmp.path()))
        .err()
        .expect("beyond memory")
        .to_string();
    assert!(
        e.contains("`batch_size` = 16")
            && e.contains("needs at least")
            && e.contains("more than this machine's"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("out").count(),
        0,
        "no run directory"
    );
}

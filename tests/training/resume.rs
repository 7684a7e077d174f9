//! Resume: exact for a model with dropout and batch norm, extending a finished run, early
//! stopping that remembers the epochs before the resume, unreadable checkpoints, the flags a
//! resume refuses, and the divergence guard's kept checkpoint.

use clap::Parser;
use convlab_experiments::cli::{Command, run};
use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::record::rundir::EpochRow;
use convlab_experiments::{ResumeOptions, RunDir, RunStatus, resume, train};

use crate::opts;

/// A model with both dropout and batch norm (AlexNet-style at 16×16, width 1/8) on the smoke
/// recipe's synthetic data.
fn dropout_bn_recipe(epochs: usize) -> Recipe {
    Recipe::load(
        "smoke",
        &[
            format!("epochs={epochs}"),
            "model.arch=\"alexnet-cifar\"".into(),
            "model.width=0.125".into(),
            "model.batch_norm=true".into(),
            "model.dropout=0.5".into(),
        ],
    )
    .expect("recipe")
}

fn assert_same_rows(a: &[EpochRow], b: &[EpochRow]) {
    assert_eq!(a.len(), b.len(), "epochs");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.epoch, y.epoch);
        for (p, q, what) in [
            (x.train_loss, y.train_loss, "train loss"),
            (x.train_acc, y.train_acc, "train acc"),
            (x.valid_loss, y.valid_loss, "valid loss"),
            (x.valid_acc, y.valid_acc, "valid acc"),
            (x.lr, y.lr, "lr"),
        ] {
            assert!(
                (p - q).abs() <= 1e-6 * p.abs().max(1.0),
                "epoch {}: {what} {p} vs {q}",
                x.epoch
            );
        }
    }
}

#[test]
fn resume_is_exact_for_a_model_with_dropout_and_batch_norm() {
    let _serial = crate::serial();
    let out = tempfile::tempdir().expect("tmp");
    let full = train(dropout_bn_recipe(3), &opts(out.path())).expect("uninterrupted");
    assert_eq!(full.summary.status, RunStatus::Completed);
    // 384 training images / batch 32 = 12 iterations per epoch: stop in the middle of epoch 2.
    let mut o = opts(out.path());
    o.stop_after_iterations = Some(12 + 5);
    let cut = train(dropout_bn_recipe(3), &o).expect("interrupted");
    assert_eq!(cut.summary.status, RunStatus::Interrupted);
    assert_eq!(cut.run.last_checkpoint(), Some(1));
    // metrics.csv keeps the finished epoch's row.
    assert_eq!(cut.run.metrics().expect("metrics").len(), 1);
    let began = std::time::Instant::now();
    let resumed = resume(cut.dir(), &opts(out.path()), &ResumeOptions::default()).expect("resumed");
    let this_process = began.elapsed().as_secs_f64();
    assert_eq!(resumed.dir(), cut.dir(), "resumes in place");
    assert_eq!(resumed.summary.status, RunStatus::Completed);
    // Its wall time counts the epoch trained before the resume, not only this process's.
    let before = cut.run.metrics().expect("metrics")[0].epoch_s;
    let wall = resumed.summary.wall_time_s;
    assert!(
        wall > this_process && wall <= this_process + before + 1e-6,
        "wall {wall} s: this process {this_process} s, epoch 1 {before} s"
    );
    assert_same_rows(&full.rows, &resumed.rows);
    assert_same_rows(&full.rows, &resumed.run.metrics().expect("metrics.csv"));
    let (a, b) = (
        full.summary.test.expect("test"),
        resumed.summary.test.expect("test"),
    );
    assert!(
        (a.loss - b.loss).abs() < 1e-6 && a.top1 == b.top1,
        "{a:?} vs {b:?}"
    );
}

#[test]
fn a_finished_run_extends_with_epochs_and_equals_a_longer_run() {
    let _serial = crate::serial();
    let out = tempfile::tempdir().expect("tmp");
    let recipe = |e: usize| Recipe::load("smoke", &[format!("epochs={e}")]).expect("smoke");
    let three = train(recipe(3), &opts(out.path())).expect("3 epochs");
    let two = train(recipe(2), &opts(out.path())).expect("2 epochs");
    assert_eq!(two.summary.status, RunStatus::Completed);
    let extended = resume(
        two.dir(),
        &opts(out.path()),
        &ResumeOptions {
            epochs: Some(3),
            from_epoch: None,
        },
    )
    .expect("extended");
    assert_eq!(extended.summary.status, RunStatus::Completed);
    assert_eq!(extended.run.recipe().expect("recipe").epochs, 3);
    assert_same_rows(&three.rows, &extended.rows);
    // Shrinking is not extending.
    let e = resume(
        two.dir(),
        &opts(out.path()),
        &ResumeOptions {
            epochs: Some(1),
            from_epoch: None,
        },
    );
    let e = e.err().expect("cannot shrink").to_string();
    assert!(e.contains("--epochs 1") && e.contains("extended"), "{e}");
}

#[test]
fn early_stopping_counts_the_epochs_before_a_resume() {
    let _serial = crate::serial();
    // The decision itself: patience 2, best validation loss at epoch 1.
    let row = |epoch, valid_loss| EpochRow {
        epoch,
        valid_loss,
        ..Default::default()
    };
    let rows = [row(1, 0.5), row(2, 0.6), row(3, 0.7)];
    use convlab_experiments::record::renderer::patience_exhausted;
    assert!(!patience_exhausted(&rows[..2], 2, 2));
    assert!(patience_exhausted(&rows, 3, 2));
    // In a run: a learning rate so small that no weight changes, so every epoch's validation
    // loss equals the first (the best). Patience 2 stops after epoch 3, also when the run is
    // interrupted in epoch 3 and resumed: the epochs before the resume count.
    let out = tempfile::tempdir().expect("tmp");
    let recipe = Recipe::load(
        "smoke",
        &[
            "epochs=8".into(),
            "optimizer.lr=1e-30".into(),
            "train.early_stopping_patience=2".into(),
        ],
    )
    .expect("recipe");
    let whole = train(recipe.clone(), &opts(out.path())).expect("run");
    assert_eq!(whole.summary.status, RunStatus::EarlyStopped);
    assert_eq!(whole.rows.len(), 3);
    let mut o = opts(out.path());
    o.stop_after_iterations = Some(2 * 12 + 3);
    let cut = train(recipe, &o).expect("interrupted");
    assert_eq!(cut.rows.len(), 2);
    let resumed = resume(cut.dir(), &opts(out.path()), &ResumeOptions::default()).expect("resume");
    assert_eq!(resumed.summary.status, RunStatus::EarlyStopped);
    assert_eq!(
        resumed.rows.len(),
        3,
        "stopped after epoch 3 as the uninterrupted run did"
    );
    assert!(
        resumed.summary.test.is_some(),
        "an early-stopped run is evaluated"
    );
}

#[test]
fn an_unreadable_checkpoint_is_named_and_an_earlier_one_offered() {
    let _serial = crate::serial();
    let out = tempfile::tempdir().expect("tmp");
    let done = train(
        Recipe::load("smoke", &["epochs=2".into()]).expect("smoke"),
        &opts(out.path()),
    )
    .expect("run");
    let model2 = done.run.checkpoint_file("model", 2);
    let bytes = std::fs::read(&model2).expect("read");
    std::fs::write(&model2, &bytes[..1000.min(bytes.len() / 2)]).expect("truncate");
    let more = ResumeOptions {
        epochs: Some(3),
        from_epoch: None,
    };
    let e = resume(done.dir(), &opts(out.path()), &more)
        .err()
        .expect("a truncated checkpoint is refused")
        .to_string();
    assert!(
        e.contains("model-2.bpk") && e.contains("unreadable") && e.contains("--from-epoch 1"),
        "{e}"
    );
    let from1 = resume(
        done.dir(),
        &opts(out.path()),
        &ResumeOptions {
            epochs: Some(3),
            from_epoch: Some(1),
        },
    )
    .expect("resumes from epoch 1");
    assert_eq!(from1.summary.status, RunStatus::Completed);
    assert_eq!(
        from1.rows.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[test]
fn resume_refuses_flags_it_cannot_honour() {
    for flags in [
        vec!["--lr", "0.1"],
        vec!["--set", "optimizer.lr=0.1"],
        vec!["--seed", "3"],
        vec!["--batch-size", "8"],
        vec!["--backend", "ndarray"],
    ] {
        let mut args = vec!["convlab", "train", "--resume", "/nonexistent/run"];
        args.extend(&flags);
        let cli = Cli::try_parse_from(&args).expect("parses");
        let e = run(cli.command).expect_err("refused").to_string();
        assert!(
            e.contains(flags[0]) && e.contains("--epochs"),
            "{flags:?}: {e}"
        );
    }
}

#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let _serial = crate::serial();
    let out = tempfile::tempdir().expect("tmp");
    let mut o = opts(out.path());
    // NaN logits from the 6th iteration of epoch 2 (12 iterations per epoch).
    o.nan_after_iterations = Some(12 + 5);
    let outcome = train(
        Recipe::load("smoke", &["epochs=3".into()]).expect("smoke"),
        &o,
    )
    .expect("runs");
    assert_eq!(outcome.summary.status, RunStatus::Diverged);
    assert!(outcome.summary.test.is_none());
    assert_eq!(outcome.rows.len(), 1, "epoch 2 never finished");
    let run = RunDir::open(outcome.dir()).expect("run");
    assert_eq!(
        run.checkpoint_epochs(),
        [1],
        "nothing of the diverged epoch is saved"
    );
    // The kept checkpoint is the good one: it loads, its weights are finite, and it
    // evaluates to the validation loss recorded for epoch 1.
    let e = convlab_experiments::run::eval::evaluate_run(
        outcome.dir(),
        convlab_experiments::run::eval::Split::Valid,
        convlab_experiments::run::eval::CheckpointChoice::Last,
        convlab_experiments::Backend::Flex,
        None,
    )
    .expect("evaluates");
    assert_eq!(e.epoch, 1);
    assert!(e.evaluation.loss.is_finite() && e.evaluation.no_prediction == 0);
    assert!(
        (e.evaluation.loss - outcome.rows[0].valid_loss).abs() < 1e-4,
        "{} vs {}",
        e.evaluation.loss,
        outcome.rows[0].valid_loss
    );
}

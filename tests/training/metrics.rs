//! Honest evaluation: one ranking rule everywhere (NaN is never right, ties go to the lower
//! class index), and plain cross entropy reported for training, validation and test alike.

use convlab_experiments::base::metrics::{Tally, predicted, target_rank};
use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::train;

use crate::opts;

#[test]
fn nan_is_never_right_and_ties_go_to_the_lower_index() {
    // A NaN anywhere in the row: no prediction, wrong at every k.
    assert_eq!(target_rank(&[f32::NAN, 0.0, 1.0], 2), None);
    assert_eq!(target_rank(&[f32::NAN; 3], 0), None);
    assert_eq!(predicted(&[0.0, f32::NAN]), None);
    // Ties: the lower index ranks first, as argmax.
    assert_eq!(predicted(&[1.0, 3.0, 3.0]), Some(1));
    assert_eq!(target_rank(&[1.0, 3.0, 3.0], 1), Some(0));
    assert_eq!(target_rank(&[1.0, 3.0, 3.0], 2), Some(1));
    assert_eq!(target_rank(&[2.0, 2.0, 2.0, 2.0, 2.0, 2.0], 5), Some(5));
    // The confusion matrix, top-1 and top-5 use the same rule.
    let mut t = Tally::new(6);
    let rows = [
        [1.0, 3.0, 3.0, 0.0, 0.0, 0.0],      // target 2: tie lost to class 1
        [f32::NAN, 9.0, 0.0, 0.0, 0.0, 0.0], // target 1: NaN row
        [0.0, 0.0, 0.0, 0.0, 0.0, 5.0],      // target 5: right
        [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],      // target 5: rank 5, outside the top 5
    ];
    let logits: Vec<f32> = rows.iter().flatten().copied().collect();
    t.add(&logits, &[2, 1, 5, 5]);
    let e = t.finish().expect("rows");
    assert_eq!(e.images, 4);
    assert_eq!(e.no_prediction, 1);
    assert!((e.top1 - 25.0).abs() < 1e-9, "{}", e.top1);
    assert!((e.top5 - 50.0).abs() < 1e-9, "{}", e.top5);
    assert_eq!(e.confusion[2][1], 1);
    assert_eq!(e.confusion[5][5], 1);
    assert_eq!(e.confusion[5][0], 1, "all-equal row predicts class 0");
    let counted: u64 = e.confusion.iter().flatten().sum();
    assert_eq!(counted + e.no_prediction, 4);
    assert!(
        e.loss.is_nan(),
        "a NaN row makes the mean loss NaN, not smaller"
    );
}

#[test]
fn validation_loss_is_plain_cross_entropy_under_label_smoothing() {
    let _serial = crate::serial();
    let out = tempfile::tempdir().expect("tmp");
    let recipe = Recipe::load(
        "smoke",
        &["epochs=1".into(), "train.label_smoothing=0.3".into()],
    )
    .expect("recipe");
    let r = train(recipe, &opts(out.path())).expect("run");
    let row = &r.rows[0];
    assert!(
        row.train_objective.is_finite() && (row.train_objective - row.train_loss).abs() > 1e-4,
        "the smoothed objective ({}) is reported apart from the plain loss ({})",
        row.train_objective,
        row.train_loss
    );
    // The validation loss of the epoch is what `convlab eval` computes on the same
    // checkpoint: plain cross entropy.
    let e = convlab_experiments::run::eval::evaluate_run(
        r.dir(),
        convlab_experiments::run::eval::Split::Valid,
        convlab_experiments::run::eval::CheckpointChoice::Last,
        convlab_experiments::Backend::Flex,
        None,
    )
    .expect("eval");
    assert!(
        (e.evaluation.loss - row.valid_loss).abs() < 1e-4,
        "{} vs {}",
        e.evaluation.loss,
        row.valid_loss
    );
    let test = r.summary.test.expect("test");
    assert!(test.loss.is_finite());
}

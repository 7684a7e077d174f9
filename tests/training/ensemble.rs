//! Ensemble averaging on known logits: softmax per member, the mean of the probabilities (not
//! of the logits), and top-1 of the mean.

use convlab_experiments::inspect::ensemble::{average, softmax_rows, top1};

#[test]
fn ensemble_averaging_on_known_logits() {
    // Two samples, three classes, labels [0, 1].
    let labels = [0i64, 1];
    // Member A is right on sample 0 only; member B on sample 1 only, very confidently on it and
    // barely wrong on sample 0.
    let a = softmax_rows(&[2.0, 0.0, 0.0, 3.0, 0.0, 0.0], 3);
    let b = softmax_rows(&[0.0, 0.1, 0.0, 0.0, 5.0, 0.0], 3);
    // softmax([2, 0, 0]) = [e²/(e²+2), 1/(e²+2), 1/(e²+2)] = [0.786986, 0.106507, 0.106507].
    let expect = [0.786_986f32, 0.106_507, 0.106_507];
    for (x, y) in a[..3].iter().zip(expect) {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }
    assert!((a.iter().sum::<f32>() - 2.0).abs() < 1e-6);
    assert_eq!(top1(&a, &labels, 3), 50.0);
    assert_eq!(top1(&b, &labels, 3), 50.0);
    let mean = average(&[a.clone(), b.clone()]);
    for i in 0..6 {
        assert!((mean[i] - (a[i] + b[i]) / 2.0).abs() < 1e-7);
    }
    // Sample 0: A's 0.787 for class 0 outweighs B's 0.356 for class 1; sample 1: B wins.
    assert_eq!(top1(&mean, &labels, 3), 100.0);
    // A member with itself is itself.
    assert_eq!(average(&[a.clone(), a.clone()]), a);
    // Large logits do not overflow (the row maximum is subtracted).
    let big = softmax_rows(&[1000.0, 0.0, -1000.0], 3);
    assert!((big[0] - 1.0).abs() < 1e-6 && big[1] >= 0.0 && big.iter().all(|v| v.is_finite()));
}

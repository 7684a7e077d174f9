//! The summary table: rows, totals and the exact last line.

use convlab_models::{Arch, summarize};

#[test]
fn last_line_is_exact() {
    let s = summarize(Arch::LeNet5, None, None).expect("summary");
    let table = s.render();
    let last = table.lines().last().expect("lines");
    assert_eq!(last, "total params: 61706  MACs: 416520");
    // conv1 (pad 2) 6·28·28·25 = 117,600; conv2 16·10·10·150 = 240,000; FC 48,000 + 10,080 + 840.
    assert_eq!(s.total_macs, 117_600 + 240_000 + 48_000 + 10_080 + 840);
    let paths: Vec<&str> = s.rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "features.0",
            "features.1",
            "features.2",
            "features.3",
            "head.linears.0",
            "head.linears.1",
            "head.linears.2"
        ]
    );
    assert_eq!(s.rows[0].output.to_string(), "6x28x28");
    assert_eq!(s.rows[3].output.to_string(), "16x5x5");
}

#[test]
fn macs_match_hand_counts_and_published_figures() {
    // AlexNet (torchvision) by hand: conv 64·55²·3·121 + 192·27²·64·25 + 384·13²·192·9
    // + 256·13²·384·9 + 256·13²·256·9, FC 9216·4096 + 4096² + 4096·1000.
    let alexnet = summarize(Arch::AlexNet, None, None)
        .expect("alexnet")
        .total_macs;
    assert_eq!(alexnet, 714_188_480);
    // torchvision's model docs: ResNet-18 1.81, ResNet-50 4.09, VGG-16 15.47, GoogLeNet 1.50
    // GFLOPS (multiply-adds of convolutions and linear layers).
    for (arch, gmacs) in [
        (Arch::ResNet18, 1.81),
        (Arch::ResNet50, 4.09),
        (Arch::Vgg16, 15.47),
        (Arch::GoogLeNet, 1.50),
    ] {
        let m = summarize(arch, None, None).expect("summary").total_macs as f64 / 1e9;
        assert!(
            (m - gmacs).abs() / gmacs < 0.01,
            "{arch}: {m} GMACs vs {gmacs}"
        );
    }
}

#[test]
fn every_row_has_a_path_and_a_positive_shape() {
    for &arch in Arch::ALL {
        let s = summarize(arch, None, None).expect("summary");
        assert!(!s.rows.is_empty(), "{arch}");
        for r in &s.rows {
            assert!(!r.path.is_empty() && !r.kind.is_empty(), "{arch}: {r:?}");
            assert!(r.output.numel() > 0, "{arch}: {r:?}");
        }
    }
}

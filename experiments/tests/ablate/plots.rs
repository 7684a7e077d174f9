//! Issue 20's plots at scale: the 36-variant transfer study's pictures keep every label
//! readable (no two label boxes overlap), put every series in a legend beside the plot, give
//! every series its own colour, and draw error bars on the axis charts.

use super::*;
use convlab_experiments::base::layout::{
    Rect, bar_label_boxes, bar_labels, bars_width, colour_of, legend,
};
use convlab_experiments::base::plot::bar_slot;
use convlab_experiments::record::rundir::EpochRow;
use convlab_experiments::sweep::report::{PlanRecord, RunResult};
use convlab_experiments::sweep::runstore::RunState;

fn no_overlaps(boxes: &[Rect], what: &str) {
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            assert!(!a.overlaps(b), "{what}: {a:?} overlaps {b:?}");
        }
    }
}

#[test]
fn labels_legends_and_colours_stay_apart_at_36_variants() {
    for suite in ["transferability", "residual", "activation"] {
        let names = Suite::load(suite).unwrap().variant_names();
        // Bars: one slot per variant in a chart as wide as they need.
        let width = bars_width(names.len(), 1000);
        let slot = bar_slot(width, names.len());
        let how = bar_labels(&names, slot);
        let boxes = bar_label_boxes(&names, 0, slot, how);
        no_overlaps(&boxes, suite);
        assert_eq!(how.upright, suite == "transferability", "{suite}: {how:?}");
        // The legend: a box for every series, none overlapping, inside the picture's height.
        let (boxes, w) = legend(&names, 520);
        assert_eq!(boxes.len(), names.len());
        no_overlaps(&boxes, suite);
        for b in &boxes {
            assert!(
                b.y + b.h as i32 <= 520 && b.x + b.w as i32 <= w as i32,
                "{b:?}"
            );
        }
        // Colours: no two series alike (RGB distance).
        let n = names.len();
        let c: Vec<(u8, u8, u8)> = (0..n).map(|i| colour_of(i, n)).collect();
        for i in 0..n {
            for j in i + 1..n {
                let d = |a: u8, b: u8| (a as f64 - b as f64).powi(2);
                let dist = (d(c[i].0, c[j].0) + d(c[i].1, c[j].1) + d(c[i].2, c[j].2)).sqrt();
                assert!(dist > 25.0, "{suite}: series {i} and {j} look alike: {c:?}");
            }
        }
    }
}

#[test]
fn the_transfer_studys_pictures_are_drawn_with_legend_and_error_bars() {
    let suite = Suite::load("transferability").unwrap();
    let mut results = vec![];
    for (k, v) in suite.variant_names().iter().enumerate() {
        for seed in 0..2u64 {
            let acc = 80.0 + (k % 7) as f64 + seed as f64;
            let mut r = RunResult {
                variant: v.clone(),
                seed,
                id: format!("{k}-{seed}"),
                status: RunState::Done,
                rows: (1..=3)
                    .map(|e| EpochRow {
                        epoch: e,
                        train_loss: 1.0 / e as f64,
                        train_acc: acc - 3.0 + e as f64,
                        valid_acc: acc - 3.0 + e as f64,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            for m in &suite.metrics {
                r.values.insert(*m, acc);
            }
            results.push(r);
        }
    }
    let plan = PlanRecord {
        suite: suite.clone(),
        budget: convlab_experiments::config::suite::BudgetName::Short,
        dataset: Some("fashion-mnist".into()),
        seeds: 2,
        executor: serde_json::from_str(r#""local, 1 at once""#).unwrap(),
        command: "test".into(),
        store: PathBuf::from("/nonexistent"),
        runs: vec![],
        started: String::new(),
        binary: String::new(),
    };
    let tmp = tempfile::tempdir().unwrap();
    convlab_experiments::sweep::charts::write_plots(tmp.path(), &plan, &results).unwrap();
    convlab_experiments::sweep::charts::write_axis_plots(tmp.path(), &plan, &results).unwrap();
    let curves = image::open(tmp.path().join("curves.png")).unwrap();
    assert!(curves.width() > 1800, "the legend beside the panels");
    let bars = image::open(tmp.path().join("bars.png")).unwrap();
    assert!(
        bars.width() >= bars_width(34, 1000) && bars.height() > 560,
        "upright labels"
    );
    let axis = image::open(tmp.path().join("axis-layers.png")).unwrap();
    assert!(axis.width() > 200 + 600 * 2, "two panels and a legend");
    if let Ok(keep) = std::env::var("CONVLAB_KEEP_PLOTS") {
        for f in ["curves.png", "bars.png", "axis-layers.png"] {
            std::fs::copy(tmp.path().join(f), Path::new(&keep).join(f)).unwrap();
        }
    }
}

/// Committed results keep no plan or runs: `ablate report` rebuilds from `results.csv` what its
/// numbers give (the summary, with how it was run read from the old one's first lines; bars
/// with upright labels; the axis charts with error bars; verdicts.md) and keeps the curves.
#[test]
fn a_committed_results_directory_is_redrawn_from_its_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("transferability");
    std::fs::create_dir(&dir).unwrap();
    for f in ["results.csv", "summary.md"] {
        std::fs::copy(
            repo().join("results/ablations/transferability").join(f),
            dir.join(f),
        )
        .unwrap();
    }
    let old = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let t = ok(&["ablate", "report", dir.to_str().unwrap()]);
    assert!(t.contains("136 rows of results.csv"), "{t}");
    let bars = image::open(dir.join("bars.png")).unwrap();
    assert!(bars.height() > 560, "upright labels for 34 variants");
    assert!(dir.join("axis-layers.png").exists() && dir.join("verdicts.md").exists());
    let new = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    for line in old.lines().filter(|l| l.starts_with("- ")).take(3) {
        assert!(new.contains(line), "{line} kept in:\n{new}");
    }
    assert!(new.contains("## Comparisons"), "{new}");
    assert!(
        new.contains("vs `small-BnB-0`"),
        "a per-group baseline:\n{new}"
    );
    // Without plan.json and under another name, the suite must be named.
    let other = tmp.path().join("elsewhere");
    std::fs::rename(&dir, &other).unwrap();
    let o = convlab(&["ablate", "report", other.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("--suite"),
        "{}",
        text(&o)
    );
    ok(&[
        "ablate",
        "report",
        other.to_str().unwrap(),
        "--suite",
        "transferability",
    ]);
}

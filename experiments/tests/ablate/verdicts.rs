//! Issue 20's statistics and verdicts against known values. The expected numbers come from
//! SciPy 1.10 (Debian's python3-scipy):
//!
//! ```python
//! from scipy import stats; import numpy as np
//! a = np.array([70.15, 71.20, 69.80]); b = np.array([68.00, 69.50, 67.10])
//! stats.ttest_ind(a, b, equal_var=False)   # p 0.0686569495, Welch–Satterthwaite df 3.2778156997
//! stats.ttest_rel(a, b)                    # p 0.0170913937 (paired by seed)
//! # intervals: mean ± stats.t.ppf(0.975, df) · se
//! stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)   # 5.363312901691097
//! ```
//! Holm by hand: p = [0.01, 0.04, 0.03, 0.005] → sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1 made
//! monotone → [0.03, 0.06, 0.06, 0.02].

use super::*;
use convlab_experiments::base::stats::{Method, holm, paired, welch};
use convlab_experiments::config::suite::Metric;
use convlab_experiments::sweep::report::RunResult;
use convlab_experiments::sweep::verdicts::{Verdict, judge, read_results, section};

const A: [f64; 3] = [70.15, 71.20, 69.80];
const B: [f64; 3] = [68.00, 69.50, 67.10];

fn close(x: f64, y: f64) {
    assert!((x - y).abs() < 1e-7, "{x} vs {y}");
}

#[test]
fn intervals_p_values_and_holm_match_scipy() {
    let w = welch(&A, &B).unwrap();
    assert_eq!(w.method, Method::Welch);
    close(w.diff, 2.1833333333);
    close(w.se, 0.8166666667);
    close(w.df, 3.2778156997);
    close(w.lo, -0.2953834854);
    close(w.hi, 4.6620501521);
    close(w.p, 0.0686569495);
    assert!(!w.excludes_zero());
    let seeded = |v: &[f64]| {
        v.iter()
            .enumerate()
            .map(|(s, x)| (s as u64, *x))
            .collect::<Vec<_>>()
    };
    let p = paired(&seeded(&A), &seeded(&B)).unwrap();
    assert_eq!((p.method, p.df), (Method::Paired, 2.0));
    close(p.se, 0.2891558595);
    close(p.lo, 0.9391960849);
    close(p.hi, 3.4274705818);
    close(p.p, 0.0170913937);
    assert!(p.excludes_zero());
    close(p.min_detectable(), 5.363312901691097 * p.se);
    // Pairs are matched by seed, not by position.
    let mut shuffled = seeded(&B);
    shuffled.reverse();
    close(paired(&seeded(&A), &shuffled).unwrap().p, p.p);
    let h = holm(&[0.01, 0.04, 0.03, 0.005]);
    for (x, y) in h.iter().zip([0.03, 0.06, 0.06, 0.02]) {
        close(*x, y);
    }
    assert!(holm(&[f64::NAN, 0.02])[0].is_nan());
    close(holm(&[f64::NAN, 0.02])[1], 0.02);
    assert!(welch(&A[..1], &B).is_none());
}

/// Loads a suite file written in `dir`: axes x = a, b and n = 1, 2 over `smoke`, with
/// `baseline` and `body` (more TOML); its error as text.
fn two_axis_suite(dir: &Path, baseline: &str, body: &str) -> Result<(), String> {
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        format!(
            "description = \"d\"\nquestion = \"q\"\nbase = \"smoke\"\nbaseline = \"{baseline}\"\nmetrics = [\"test_acc\"]\n\
             [[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\" }}, {{ name = \"b\" }}]\n\
             [[axes]]\nname = \"n\"\nvalues = [{{ name = \"1\" }}, {{ name = \"2\" }}]\n{body}"
        ),
    )
    .unwrap();
    Suite::load(path.to_str().unwrap())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn comparisons_expand_over_axes_and_name_unknown_variants() {
    let residual = Suite::load("residual").unwrap();
    let pairs = residual.comparison_pairs().unwrap();
    let names: Vec<(String, String)> = pairs.iter().map(|p| (p.a.clone(), p.b.clone())).collect();
    assert_eq!(pairs.len(), 4 + 3 + 3, "{names:?}");
    assert!(names.contains(&("residual-56".into(), "plain-56".into())));
    assert!(names.contains(&("plain-44".into(), "plain-20".into())));
    assert!(!names.contains(&("plain-20".into(), "plain-20".into())));
    // The transfer study: every comparison within one data size; layer 0 of AnB+ is excluded
    // by the suite, so it is skipped, not an error; its equal-budget controls are variants.
    let t = Suite::load("transferability").unwrap();
    let pairs = t.comparison_pairs().unwrap();
    assert_eq!(pairs.len(), 2 * 4 + 2 + 2 * 4, "{pairs:?}");
    assert!(
        pairs
            .iter()
            .any(|p| p.a == "small-AnB+-2" && p.b == "small-long")
    );
    assert_eq!(
        t.baseline_of("large-long"),
        None,
        "a control sits in no group"
    );
    // Budgets the tool can see differ: a fine-tuned transfer against scratch training, and
    // the equal-budget control's epochs.
    let note = t.budget_note("small-AnB+-2", "small-BnB-0").unwrap();
    assert!(
        note.contains("`small-AnB+-2` starts from a trained base"),
        "{note}"
    );
    let note = t.budget_note("large-AnB+-2", "large-long").unwrap();
    assert!(note.contains("6 vs 12 epochs"), "{note}");
    assert_eq!(t.budget_note("small-AnB-4", "small-BnB-4"), None);
    assert_eq!(residual.budget_note("residual-56", "plain-56"), None);
    for p in &pairs {
        assert_eq!(p.a.split('-').next(), p.b.split('-').next(), "{p:?}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let write = |body: &str| two_axis_suite(tmp.path(), "a-1", body);
    let c = |a: &str, b: &str| {
        format!("[[comparisons]]\na = \"{a}\"\nb = \"{b}\"\nexpect = \"higher\"\nsource = \"s\"\n")
    };
    write(&c("a-{n}", "b-{n}")).unwrap();
    let e = write(&c("a-{n}", "c-{n}")).unwrap_err();
    assert!(
        e.contains("comparisons[0].b") && e.contains("`c-1` is not a variant"),
        "{e}"
    );
    let e = write(&c("a-{m}", "b-{n}")).unwrap_err();
    assert!(
        e.contains("comparisons[0].a") && e.contains("`{m}` names no axis"),
        "{e}"
    );
    let e = write(&c("a-1", "a-1")).unwrap_err();
    assert!(e.contains("with itself"), "{e}");
    let e = write(&format!("{}\nextra = 1\n", c("a-1", "b-1"))).unwrap_err();
    assert!(e.contains("extra"), "{e}");
}

#[test]
fn verdicts_follow_the_interval_and_holm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("activation");
    std::fs::create_dir(&dir).unwrap();
    // tanh's final training error above relu's on every seed (paired p 0.017): agrees with
    // Krizhevsky et al.; Welch alone would call it inconclusive (p 0.069).
    let mut csv = String::from("variant,seed,run_id,status,final_train_error,test_acc,converged\n");
    for (s, (a, b)) in A.iter().zip(B).enumerate() {
        csv.push_str(&format!(
            "tanh,{s},t{s},done,{a},50,yes\nrelu,{s},r{s},done,{b},50,yes\n"
        ));
    }
    std::fs::write(dir.join("results.csv"), &csv).unwrap();
    let suite = Suite::load("activation").unwrap();
    let results = read_results(&dir.join("results.csv")).unwrap();
    let j = judge(&suite, &results).unwrap();
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].verdict, Verdict::Agrees);
    assert_eq!(j[0].verdict_holm, Verdict::Agrees);
    close(j[0].difference.unwrap().p, 0.0170913937);
    assert_eq!(j[0].converged, (6, 6, 0));
    // One run whose validation accuracy was still moving. Krizhevsky et al.'s claim is about
    // speed (training error after equal epochs), so the interval still decides...
    std::fs::write(dir.join("results.csv"), csv.replacen(",yes\n", ",no\n", 1)).unwrap();
    let unconverged = read_results(&dir.join("results.csv")).unwrap();
    let j = judge(&suite, &unconverged).unwrap();
    assert_eq!(j[0].converged, (5, 6, 0));
    assert!(j[0].pair.speed);
    assert_eq!(
        (j[0].verdict, j[0].verdict_holm),
        (Verdict::Agrees, Verdict::Agrees)
    );
    assert!(
        section(&j).contains("| 5 of 6 runs (a speed claim: not required) |"),
        "{}",
        section(&j)
    );
    // ...but a claim about where training ends (Zhou et al.: a GAP head tests worse) does
    // not: the same numbers no longer decide it.
    let head = Suite::load("head").unwrap();
    let as_head = |r: &RunResult| {
        let mut r = r.clone();
        r.variant = if r.variant == "tanh" { "gap" } else { "fc" }.into();
        let v = r.values.remove(&Metric::FinalTrainError).unwrap();
        r.values.insert(Metric::TestError, v);
        r
    };
    let j = judge(&head, &unconverged.iter().map(as_head).collect::<Vec<_>>()).unwrap();
    assert!(!j[0].pair.speed);
    assert_eq!(j[0].converged, (5, 6, 0));
    assert_eq!(
        (j[0].verdict, j[0].verdict_holm),
        (Verdict::NotConverged, Verdict::NotConverged)
    );
    let j = judge(&head, &results.iter().map(as_head).collect::<Vec<_>>()).unwrap();
    assert_eq!(j[0].verdict, Verdict::Agrees);
    std::fs::write(dir.join("results.csv"), &csv).unwrap();
    // One seed fewer on a side: no longer paired (Welch), and inconclusive.
    let fewer: Vec<_> = results
        .iter()
        .filter(|r| !(r.variant == "relu" && r.seed == 2))
        .cloned()
        .collect();
    let j = judge(&suite, &fewer).unwrap();
    assert_eq!(j[0].difference.unwrap().method, Method::Welch);
    // The binary writes verdicts.md beside the CSV, naming the suite by the directory.
    let t = ok(&["ablate", "verdicts", dir.to_str().unwrap()]);
    assert!(
        t.contains("| `tanh` | `relu` | final_train_error | higher |"),
        "{t}"
    );
    assert!(t.contains("agrees with the paper"), "{t}");
    let md = std::fs::read_to_string(dir.join("verdicts.md")).unwrap();
    assert!(md.contains("paired by seed (2.0)"), "{md}");
}

/// README's claims come from the committed results: at this budget and two seeds, the
/// residual-vs-plain difference at 56 layers is not established (README once said "clearly").
#[test]
fn the_committed_residual_results_do_not_support_a_56_layer_claim() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("residual");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        repo().join("results/ablations/residual/results.csv"),
        dir.join("results.csv"),
    )
    .unwrap();
    let suite = Suite::load("residual").unwrap();
    let results = read_results(&dir.join("results.csv")).unwrap();
    let j = judge(&suite, &results).unwrap();
    let at56 = j
        .iter()
        .find(|j| j.pair.a == "residual-56" && j.pair.b == "plain-56")
        .unwrap();
    let d = at56.difference.unwrap();
    assert_eq!(d.method, Method::Paired);
    assert!((d.diff - -20.56).abs() < 0.01, "{d:?}");
    assert!(d.lo < 0.0 && d.hi > 0.0, "{d:?}");
    assert_eq!(
        (at56.verdict, at56.verdict_holm),
        (Verdict::Inconclusive, Verdict::Inconclusive)
    );
}

#[test]
fn a_plateau_is_three_epochs_within_a_third_of_a_point() {
    use convlab_experiments::record::rundir::EpochRow;
    use convlab_experiments::sweep::report::plateaued;
    let rows = |acc: &[f64]| -> Vec<EpochRow> {
        acc.iter()
            .enumerate()
            .map(|(i, a)| EpochRow {
                epoch: i + 1,
                valid_acc: *a,
                ..Default::default()
            })
            .collect()
    };
    assert!(plateaued(&rows(&[60.0, 85.0, 85.1, 85.29])));
    assert!(!plateaued(&rows(&[60.0, 85.0, 85.1, 85.31])));
    assert!(!plateaued(&rows(&[80.0, 84.0, 85.0])));
    assert!(
        !plateaued(&rows(&[85.0, 85.0])),
        "two epochs show no plateau"
    );
}

/// README's scorecard is the scorecard of the committed results, regenerated here: a claim in
/// README that the numbers do not make fails this test. So does a stale `results/scorecard.md`.
#[test]
fn readmes_scorecard_is_regenerated_from_the_committed_results() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("<!-- scorecard: ")
        .expect("README has a scorecard block");
    let rest = &readme[start + "<!-- scorecard: ".len()..];
    let (args, rest) = rest.split_once(" -->").unwrap();
    let (block, _) = rest.split_once("<!-- /scorecard -->").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("scorecard.md");
    let mut command: Vec<&str> = vec!["ablate", "scorecard"];
    command.extend(args.split_whitespace());
    let o = Command::new(EXE)
        .args(&command)
        .args(["--out", out.to_str().unwrap()])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let fresh = std::fs::read_to_string(&out).unwrap();
    assert_eq!(block.trim(), fresh.trim(), "README's scorecard is stale");
    let committed = std::fs::read_to_string(repo().join("results/scorecard.md")).unwrap();
    assert_eq!(
        committed.trim(),
        fresh.trim(),
        "results/scorecard.md is stale"
    );
    // Every verdict word in the table is one the statistics gave.
    assert!(fresh.contains("inconclusive") && fresh.contains("agrees with the paper"));
}

/// A per-group baseline: `{axis}` in `baseline` takes each variant's own value, so the
/// batch-norm suite compares each net with itself without batch norm (it once compared LeNet-5
/// with VGG-11), and the transfer study each variant with scratch training on the same data.
#[test]
fn each_variant_has_the_baseline_of_its_group() {
    let bn = Suite::load("batchnorm").unwrap();
    assert_eq!(bn.baseline_of("lenet5-bn").as_deref(), Some("lenet5-plain"));
    assert_eq!(bn.baseline_of("vgg11-bn").as_deref(), Some("vgg11-plain"));
    assert_eq!(
        bn.baseline_of("vgg11-plain").as_deref(),
        Some("vgg11-plain")
    );
    let t = Suite::load("transferability").unwrap();
    assert_eq!(
        t.baseline_of("small-AnB+-3").as_deref(),
        Some("small-BnB-0")
    );
    assert_eq!(t.baseline_of("large-BnB-2").as_deref(), Some("large-BnB-0"));
    // A placeholder that names no axis, or a group whose baseline is no variant, is an error.
    let tmp = tempfile::tempdir().unwrap();
    let write = |baseline: &str| two_axis_suite(tmp.path(), baseline, "");
    write("a-{n}").unwrap();
    let e = write("a-{m}").unwrap_err();
    assert!(
        e.contains("`baseline`") && e.contains("`{m}` names no axis"),
        "{e}"
    );
    let e = write("c-{n}").unwrap_err();
    assert!(e.contains("gives `c-1`"), "{e}");
}

/// Every interval README's prose quotes (`[−153, +112]`, to whatever precision) is one of the
/// scorecard's, rounded: prose never states an interval the committed results do not give.
#[test]
fn every_interval_readme_quotes_is_the_scorecards() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (before, rest) = readme.split_once("<!-- scorecard: ").unwrap();
    let (table, after) = rest.split_once("<!-- /scorecard -->").unwrap();
    // `[lo, hi]` with both signs written, as the tables and the prose give differences.
    let intervals = |text: &str| -> Vec<(String, String)> {
        let text = text.replace('−', "-");
        let mut out = vec![];
        let mut rest = text.as_str();
        while let Some(i) = rest.find('[') {
            rest = &rest[i + 1..];
            let Some(j) = rest.find(']') else { break };
            let inside = &rest[..j];
            if let Some((lo, hi)) = inside.split_once(',') {
                let (lo, hi) = (lo.trim(), hi.trim());
                let signed = |s: &str| {
                    (s.starts_with('+') || s.starts_with('-')) && s[1..].parse::<f64>().is_ok()
                };
                if signed(lo) && signed(hi) {
                    out.push((lo.to_string(), hi.to_string()));
                }
            }
        }
        out
    };
    let known: Vec<(f64, f64)> = intervals(table)
        .iter()
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .collect();
    assert!(known.len() >= 20, "{known:?}");
    let quoted = intervals(&format!("{before}\n{after}"));
    assert!(quoted.len() >= 10, "{quoted:?}");
    for (lo, hi) in &quoted {
        // Rounded to the quote's own decimals (the table's two are themselves rounded).
        let decimals = |s: &str| s.split_once('.').map_or(0, |(_, d)| d.len());
        let tol = |s: &str| 0.5 * 10f64.powi(-(decimals(s) as i32)) + 0.006;
        let (l, h): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
        assert!(
            known
                .iter()
                .any(|(a, b)| (a - l).abs() <= tol(lo) && (b - h).abs() <= tol(hi)),
            "README quotes [{lo}, {hi}], which is no interval of the scorecard"
        );
    }
}

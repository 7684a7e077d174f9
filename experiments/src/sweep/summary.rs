//! A suite report's `summary.md`: how the suite was run, then per variant the mean ± std over
//! seeds of each metric, the difference to the baseline with a 95 % interval, the epochs to
//! each target and the published number beside ours; then the runs that did not finish.

use std::path::Path;

use anyhow::Result;

use crate::base::stats::{mean, std};
use crate::config::suite::{Metric, Suite};
use crate::record::rundir::write_atomic;
use crate::sweep::report::{PlanRecord, RunResult, finished, values};
use crate::sweep::runstore::RunState;
use crate::sweep::verdicts::{difference, seeded};
use crate::sweep::wall::WallTime;

/// The note under the table: how to read Δ and the published numbers.
const FOOTNOTE: &str = "\nΔ: difference of means to the variant's baseline (the suite's `baseline`, its `{axis}` \
     placeholders filled with the variant's own values), with a 95 % interval where both sides have at least two runs: \
     paired by seed where both ran the same seeds, Welch's otherwise; uncorrected for multiple comparisons (the \
     comparisons' table is). Published numbers come from the papers' own set-ups (data, \
     epochs, scale) and are printed beside ours, not as a target.\n";

/// Writes `summary.md`.
pub fn write_summary(
    path: &Path,
    plan: &PlanRecord,
    results: &[RunResult],
    took: Option<&WallTime>,
) -> Result<()> {
    let mut md = intro(plan, results, took);
    md.push_str(&variant_table(&plan.suite, results, comparable(plan)));
    let judged = crate::sweep::verdicts::judge(&plan.suite, results)?;
    md.push_str(&crate::sweep::verdicts::section(&judged));
    md.push_str(&not_finished(results));
    md.push_str(FOOTNOTE);
    write_atomic(path, md.as_bytes())?;
    Ok(())
}

/// The title, the question, and how this report's runs were made and how long they took.
fn intro(plan: &PlanRecord, results: &[RunResult], took: Option<&WallTime>) -> String {
    let s = &plan.suite;
    let mut md = format!("# `{}`: {}\n\n{}\n\n", s.name, s.question, s.description);
    md.push_str(&format!(
        "- Base recipe `{}`; budget `{}`; dataset {}; seeds 0–{} per variant; executor {}.\n",
        s.base,
        plan.budget.name(),
        if !comparable(plan) {
            "synthetic (the smoke budget; the papers' numbers are left out: they are not comparable)".to_string()
        } else {
            plan.dataset
                .as_deref()
                .map_or("of the base recipe".to_string(), |d| format!("`{d}`"))
        },
        plan.seeds.saturating_sub(1),
        plan.executor
    ));
    md.push_str(&format!("- Command: `{}`\n", plan.command));
    if !plan.binary.is_empty() {
        md.push_str(&format!("- Made by {}\n", plan.binary));
    }
    let done = results
        .iter()
        .filter(|r| r.status == RunState::Done)
        .count();
    md.push_str(&format!(
        "- Runs: {done} of {} finished{}.\n",
        results.len(),
        took.map_or(String::new(), |w| format!("; {}", w.phrase()))
    ));
    let run_time: f64 = results
        .iter()
        .filter_map(|r| r.values.get(&Metric::WallTimeS))
        .sum();
    md.push_str(&format!(
        "- Training time of the finished runs, summed: {:.0} s.\n\n",
        run_time
    ));
    md
}

/// Whether published numbers may stand beside this report's: not for the smoke budget, whose
/// runs train on synthetic data.
pub fn comparable(plan: &PlanRecord) -> bool {
    plan.budget != crate::config::suite::BudgetName::Smoke
}

/// The table: one row per variant (`published`: with the papers' numbers).
fn variant_table(s: &Suite, results: &[RunResult], published: bool) -> String {
    let primary = s.metrics[0];
    let mut header = vec!["variant".to_string(), "runs".into()];
    header.extend(
        s.metrics
            .iter()
            .map(|m| format!("{} (mean ± std)", m.name())),
    );
    header.push(format!(
        "Δ {} vs `{}` (95 % CI)",
        primary.name(),
        s.baseline
    ));
    header.extend(s.targets.iter().map(|t| format!("{} (mean)", t.column())));
    if published {
        header.push("published".into());
    }
    let mut md = format!("| {} |\n", header.join(" | "));
    md.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for v in &s.variant_names() {
        md.push_str(&format!(
            "| {} |\n",
            variant_row(s, results, v, published).join(" | ")
        ));
    }
    md
}

/// A variant's cells: its finished runs, each metric, Δ to its baseline, the epochs to each
/// target, the published number.
fn variant_row(s: &Suite, results: &[RunResult], v: &str, published: bool) -> Vec<String> {
    let primary = s.metrics[0];
    let n = finished(results, v).count();
    let mut cells = vec![format!("`{v}`"), n.to_string()];
    cells.extend(s.metrics.iter().map(|&m| mean_std(&values(results, v, m))));
    let here = seeded(results, v, primary);
    let base = s.baseline_of(v).map(|b| (seeded(results, &b, primary), b));
    cells.push(match base {
        None => "–".into(),
        Some((_, b)) if b == v => "baseline".into(),
        Some((base, _)) if here.is_empty() || base.is_empty() => "–".into(),
        Some((base, b)) => match difference(&here, &base) {
            Some(d) => format!("{} vs `{b}`", d.interval()),
            None => {
                let m = |x: &[(u64, f64)]| mean(&x.iter().map(|p| p.1).collect::<Vec<_>>());
                format!("{:+.2} vs `{b}`", m(&here) - m(&base))
            }
        },
    });
    cells.extend((0..s.targets.len()).map(|k| target_cell(results, v, k)));
    if published {
        cells.push(s.published.get(v).map_or(String::new(), |p| {
            format!("{} {:.2} ({})", p.metric.name(), p.value, p.source)
        }));
    }
    cells
}

/// The mean epochs variant `v`'s finished runs took to reach target `k`, and how many
/// reached it when not all did.
fn target_cell(results: &[RunResult], v: &str, k: usize) -> String {
    let reached: Vec<f64> = finished(results, v)
        .filter_map(|r| r.reached.get(k).copied().flatten())
        .map(|e| e as f64)
        .collect();
    let total = finished(results, v).count();
    match reached.len() {
        0 if total > 0 => "not reached".into(),
        0 => "–".into(),
        k if k < total => format!("{:.1} ({k} of {total} reached)", mean(&reached)),
        _ => format!("{:.1}", mean(&reached)),
    }
}

/// The list of runs that did not finish, with the first line of why (empty when all did).
fn not_finished(results: &[RunResult]) -> String {
    let failed: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.status != RunState::Done)
        .collect();
    if failed.is_empty() {
        return String::new();
    }
    let mut md = "\nNot finished:\n\n".to_string();
    for r in failed {
        md.push_str(&format!(
            "- `{}` seed {} (`{}`): {}{}\n",
            r.variant,
            r.seed,
            r.id,
            r.status.label(),
            if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note.lines().next().unwrap_or_default())
            }
        ));
    }
    md
}

fn mean_std(v: &[f64]) -> String {
    match v.len() {
        0 => "–".into(),
        1 => format!("{:.2}", v[0]),
        _ => format!("{:.2} ± {:.2}", mean(v), std(v)),
    }
}

//! A suite's report, rebuilt from its runs at any time: `results.csv` (one row per run),
//! `summary.md` (per variant: mean ± std over seeds, the difference to the baseline with a 95 %
//! interval, the published number beside ours), `curves.png`, `bars.png`, and `axis-<name>.png`
//! for each axis whose values are numbers.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::plan::PlannedRun;
use crate::plot::{self, Bar, Panel};
use crate::rundir::{EpochRow, RunDir, RunStatus, RunSummary, write_atomic};
use crate::runstore::{RunState, RunStore};
use crate::stats::{diff_ci95, mean, std};
use crate::suite::{Curve, Metric, Suite, Target};

/// What `plan.json` in a report directory records: the suite, how it was run, its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRecord {
    pub suite: Suite,
    pub budget: String,
    pub dataset: Option<String>,
    pub seeds: usize,
    pub executor: String,
    /// The command line that made it.
    pub command: String,
    /// The suite's run store (`<out>/<suite>/runs`).
    pub store: std::path::PathBuf,
    pub runs: Vec<PlannedRun>,
    pub started: String,
}

/// One run's line of `results.csv`.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub variant: String,
    pub seed: u64,
    pub id: String,
    pub status: String,
    /// Why a run did not finish (its failure, from the store).
    pub note: String,
    pub parameters: Option<u64>,
    pub macs: Option<u64>,
    pub epochs: Option<usize>,
    pub values: BTreeMap<Metric, f64>,
    /// Epochs until each target was met (`None`: not met).
    pub reached: Vec<Option<usize>>,
    pub rows: Vec<EpochRow>,
}

fn metric_value(m: Metric, s: &RunSummary, rows: &[EpochRow]) -> Option<f64> {
    let last = rows.last();
    match m {
        Metric::TestAcc => s.test.as_ref().map(|t| t.top1),
        Metric::TestError => s.test.as_ref().map(|t| 100.0 - t.top1),
        Metric::TestTop5 => s.test.as_ref().map(|t| t.top5),
        Metric::BestValidAcc => s.best_valid_acc,
        Metric::FinalValidAcc => s.final_valid_acc,
        Metric::FinalTrainLoss => last.map(|r| r.train_loss),
        Metric::FinalTrainError => last.map(|r| 100.0 - r.train_acc),
        Metric::WallTimeS => Some(s.wall_time_s),
        Metric::ImagesPerS => Some(s.images_per_s),
    }
}

const ALL_METRICS: [Metric; 9] = [
    Metric::BestValidAcc,
    Metric::FinalValidAcc,
    Metric::TestAcc,
    Metric::TestError,
    Metric::TestTop5,
    Metric::FinalTrainLoss,
    Metric::FinalTrainError,
    Metric::WallTimeS,
    Metric::ImagesPerS,
];

fn curve(r: &EpochRow, c: Curve) -> f64 {
    match c {
        Curve::ValidAcc => r.valid_acc,
        Curve::TrainAcc => r.train_acc,
        Curve::TrainError => 100.0 - r.train_acc,
        Curve::ValidError => 100.0 - r.valid_acc,
    }
}

/// The first epoch at which `target` is met.
pub fn epochs_to(rows: &[EpochRow], target: &Target) -> Option<usize> {
    rows.iter()
        .find(|r| {
            let v = curve(r, target.curve);
            if target.curve.falls() {
                v <= target.value
            } else {
                v >= target.value
            }
        })
        .map(|r| r.epoch)
}

/// Collects every planned run's results from the store.
pub fn collect(plan: &PlanRecord) -> Vec<RunResult> {
    let store = RunStore::at(&plan.store);
    plan.runs
        .iter()
        .map(|p| {
            let mut r = RunResult {
                variant: p.variant.clone(),
                seed: p.seed,
                id: p.id.clone(),
                status: store.state(&p.id).label().to_string(),
                note: match store.state(&p.id) {
                    RunState::Failed(why) => why,
                    _ => String::new(),
                },
                ..Default::default()
            };
            if let Ok((params, macs)) = crate::plan::check_model(p) {
                r.parameters = Some(params);
                r.macs = Some(macs);
            }
            if let Ok(run) = RunDir::open(&store.dir(&p.id)) {
                let rows = run.metrics().unwrap_or_default();
                if let Ok(s) = run.summary() {
                    for m in ALL_METRICS {
                        if let Some(v) = metric_value(m, &s, &rows) {
                            r.values.insert(m, v);
                        }
                    }
                    r.epochs = Some(s.epochs);
                    if s.status == RunStatus::Diverged {
                        r.status = "diverged".into();
                    }
                }
                r.reached = plan
                    .suite
                    .targets
                    .iter()
                    .map(|t| epochs_to(&rows, t))
                    .collect();
                r.rows = rows;
            }
            r
        })
        .collect()
}

fn fmt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.4}"))
}

/// Writes `results.csv`.
pub fn write_csv(path: &Path, plan: &PlanRecord, results: &[RunResult]) -> Result<()> {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header: Vec<String> = [
        "variant",
        "seed",
        "run_id",
        "status",
        "parameters",
        "macs",
        "epochs",
    ]
    .map(String::from)
    .to_vec();
    header.extend(ALL_METRICS.iter().map(|m| m.name().to_string()));
    header.extend(plan.suite.targets.iter().map(Target::column));
    w.write_record(&header)?;
    for r in results {
        let mut row = vec![
            r.variant.clone(),
            r.seed.to_string(),
            r.id.clone(),
            r.status.clone(),
            r.parameters.map_or(String::new(), |v| v.to_string()),
            r.macs.map_or(String::new(), |v| v.to_string()),
            r.epochs.map_or(String::new(), |v| v.to_string()),
        ];
        row.extend(ALL_METRICS.iter().map(|m| fmt(r.values.get(m).copied())));
        row.extend(
            r.reached
                .iter()
                .map(|e| e.map_or("not reached".to_string(), |e| e.to_string())),
        );
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().context("writing results.csv")?;
    write_atomic(path, &bytes)?;
    Ok(())
}

/// Values of metric `m` for variant `v` over its finished runs.
fn values(results: &[RunResult], v: &str, m: Metric) -> Vec<f64> {
    results
        .iter()
        .filter(|r| r.variant == v && r.status == RunState::Done.label())
        .filter_map(|r| r.values.get(&m).copied())
        .collect()
}

fn mean_std(v: &[f64]) -> String {
    match v.len() {
        0 => "–".into(),
        1 => format!("{:.2}", v[0]),
        _ => format!("{:.2} ± {:.2}", mean(v), std(v)),
    }
}

/// Writes `summary.md`.
pub fn write_summary(
    path: &Path,
    plan: &PlanRecord,
    results: &[RunResult],
    wall_s: Option<f64>,
) -> Result<()> {
    let s = &plan.suite;
    let primary = s.metrics[0];
    let variants = s.variant_names();
    let mut md = format!("# `{}`: {}\n\n{}\n\n", s.name, s.question, s.description);
    md.push_str(&format!(
        "- Base recipe `{}`; budget `{}`; dataset {}; seeds 0–{} per variant; executor {}.\n",
        s.base,
        plan.budget,
        plan.dataset
            .as_deref()
            .map_or("of the base recipe".to_string(), |d| format!("`{d}`")),
        plan.seeds.saturating_sub(1),
        plan.executor
    ));
    md.push_str(&format!("- Command: `{}`\n", plan.command));
    let done = results.iter().filter(|r| r.status == "done").count();
    md.push_str(&format!(
        "- Runs: {done} of {} finished{}.\n",
        results.len(),
        wall_s.map_or(String::new(), |w| format!(
            "; this invocation took {:.0} s",
            w
        ))
    ));
    let run_time: f64 = results
        .iter()
        .filter_map(|r| r.values.get(&Metric::WallTimeS))
        .sum();
    md.push_str(&format!(
        "- Training time of the finished runs, summed: {:.0} s.\n\n",
        run_time
    ));
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
    header.push("published".into());
    md.push_str(&format!("| {} |\n", header.join(" | ")));
    md.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    let base = values(results, &s.baseline, primary);
    for v in &variants {
        let n = results
            .iter()
            .filter(|r| &r.variant == v && r.status == "done")
            .count();
        let mut cells = vec![format!("`{v}`"), n.to_string()];
        cells.extend(s.metrics.iter().map(|&m| mean_std(&values(results, v, m))));
        let here = values(results, v, primary);
        cells.push(if v == &s.baseline {
            "baseline".into()
        } else if here.is_empty() || base.is_empty() {
            "–".into()
        } else {
            match diff_ci95(&here, &base) {
                (d, Some((lo, hi))) => format!("{d:+.2} [{lo:+.2}, {hi:+.2}]"),
                (d, None) => format!("{d:+.2}"),
            }
        });
        for (k, _) in s.targets.iter().enumerate() {
            let reached: Vec<f64> = results
                .iter()
                .filter(|r| &r.variant == v && r.status == "done")
                .filter_map(|r| r.reached.get(k).copied().flatten())
                .map(|e| e as f64)
                .collect();
            let total = results
                .iter()
                .filter(|r| &r.variant == v && r.status == "done")
                .count();
            cells.push(match reached.len() {
                0 if total > 0 => "not reached".into(),
                0 => "–".into(),
                k if k < total => format!("{:.1} ({k} of {total} reached)", mean(&reached)),
                _ => format!("{:.1}", mean(&reached)),
            });
        }
        cells.push(s.published.get(v).map_or(String::new(), |p| {
            format!("{} {:.2} ({})", p.metric.name(), p.value, p.source)
        }));
        md.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    let failed: Vec<&RunResult> = results.iter().filter(|r| r.status != "done").collect();
    if !failed.is_empty() {
        md.push_str("\nNot finished:\n\n");
        for r in failed {
            md.push_str(&format!(
                "- `{}` seed {} (`{}`): {}{}\n",
                r.variant,
                r.seed,
                r.id,
                r.status,
                if r.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.note.lines().next().unwrap_or_default())
                }
            ));
        }
    }
    md.push_str(
        "\nΔ: difference of means to the baseline, with Welch's 95 % interval where both sides \
         have at least two runs. Published numbers come from the papers' own set-ups (data, \
         epochs, scale) and are printed beside ours, not as a target.\n",
    );
    write_atomic(path, md.as_bytes())?;
    Ok(())
}

/// Mean over seeds of a per-epoch quantity, per variant.
fn mean_curve(results: &[RunResult], v: &str, f: impl Fn(&EpochRow) -> f64) -> Vec<(f64, f64)> {
    let mut by_epoch: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.variant == v) {
        for row in &r.rows {
            by_epoch.entry(row.epoch).or_default().push(f(row));
        }
    }
    by_epoch
        .into_iter()
        .map(|(e, v)| (e as f64, mean(&v)))
        .filter(|(_, y)| y.is_finite())
        .collect()
}

/// Writes `curves.png` (training loss and validation accuracy per epoch, mean over seeds) and
/// `bars.png` (the primary metric per variant, ± std, published numbers as black marks).
pub fn write_plots(dir: &Path, plan: &PlanRecord, results: &[RunResult]) -> Result<()> {
    let s = &plan.suite;
    let variants = s.variant_names();
    let series = |f: &dyn Fn(&EpochRow) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        variants
            .iter()
            .map(|v| (v.clone(), mean_curve(results, v, f)))
            .filter(|(_, p)| !p.is_empty())
            .collect()
    };
    plot::lines(
        &dir.join("curves.png"),
        &[
            Panel {
                title: &format!("{}: training loss", s.name),
                x_label: "epoch",
                y_label: "cross entropy",
                series: series(&|r| r.train_loss),
                log_x: false,
            },
            Panel {
                title: "training error",
                x_label: "epoch",
                y_label: "100 - top-1 %",
                series: series(&|r| 100.0 - r.train_acc),
                log_x: false,
            },
            Panel {
                title: "validation accuracy",
                x_label: "epoch",
                y_label: "top-1 %",
                series: series(&|r| r.valid_acc),
                log_x: false,
            },
        ],
        (1800, 520),
    )?;
    let primary = s.metrics[0];
    let bars: Vec<Bar> = variants
        .iter()
        .map(|v| {
            let vals = values(results, v, primary);
            Bar {
                label: v.clone(),
                value: if vals.is_empty() { 0.0 } else { mean(&vals) },
                spread: std(&vals),
                reference: s
                    .published
                    .get(v)
                    .filter(|p| p.metric == primary)
                    .map(|p| p.value),
            }
        })
        .collect();
    plot::bars(
        &dir.join("bars.png"),
        &format!("{}: {} (mean ± std over seeds)", s.name, primary.name()),
        primary.name(),
        &bars,
        (1000, 560),
    )?;
    Ok(())
}

/// For each axis whose values are numbers (e.g. depth, or how many layers were transferred):
/// `axis-<name>.png`, the primary metric (mean over seeds) against that number, one line per
/// combination of the other axes, one panel per value of the first other axis when there are
/// two or more (Yosinski et al.'s Fig. 2 is `layers` with a panel per amount of data).
pub fn write_axis_plots(dir: &Path, plan: &PlanRecord, results: &[RunResult]) -> Result<()> {
    let s = &plan.suite;
    let primary = s.metrics[0];
    let variants = s.variant_list();
    for (i, axis) in s.axes.iter().enumerate() {
        let numeric: Option<Vec<f64>> = axis
            .values
            .iter()
            .map(|v| v.name.parse::<f64>().ok())
            .collect();
        if numeric.is_none() || axis.values.len() < 2 {
            continue;
        }
        let others: Vec<usize> = (0..s.axes.len()).filter(|&j| j != i).collect();
        let (panel_axis, series_axes) = match others.split_first() {
            Some((&p, rest)) if !rest.is_empty() => (Some(p), rest.to_vec()),
            _ => (None, others.clone()),
        };
        let panel_values: Vec<Option<&str>> = match panel_axis {
            Some(p) => s.axes[p]
                .values
                .iter()
                .map(|v| Some(v.name.as_str()))
                .collect(),
            None => vec![None],
        };
        let mut panels = vec![];
        let titles: Vec<String> = panel_values
            .iter()
            .map(|pv| match (pv, panel_axis) {
                (Some(v), Some(p)) => format!("{}: {} = {v}", s.name, s.axes[p].name),
                _ => format!("{}: {} against {}", s.name, primary.name(), axis.name),
            })
            .collect();
        for (pv, title) in panel_values.iter().zip(&titles) {
            let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            let mut order: Vec<String> = vec![];
            for v in &variants {
                if let (Some(p), Some(want)) = (panel_axis, pv)
                    && v.values[p] != *want
                {
                    continue;
                }
                let vals = values(results, &v.name, primary);
                let Ok(x) = v.values[i].parse::<f64>() else {
                    continue;
                };
                if vals.is_empty() {
                    continue;
                }
                let label = if series_axes.is_empty() {
                    primary.name().to_string()
                } else {
                    series_axes
                        .iter()
                        .map(|&j| v.values[j].as_str())
                        .collect::<Vec<_>>()
                        .join("-")
                };
                if !order.contains(&label) {
                    order.push(label.clone());
                }
                series.entry(label).or_default().push((x, mean(&vals)));
            }
            let mut lines: Vec<(String, Vec<(f64, f64)>)> = order
                .into_iter()
                .map(|l| {
                    let mut pts = series.remove(&l).unwrap_or_default();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (l, pts)
                })
                .collect();
            lines.retain(|(_, p)| !p.is_empty());
            panels.push((title.as_str(), lines));
        }
        if panels.iter().all(|(_, l)| l.is_empty()) {
            continue;
        }
        let y_label = format!("{} (mean over seeds)", primary.name());
        let panels: Vec<Panel> = panels
            .into_iter()
            .map(|(title, series)| Panel {
                title,
                x_label: &axis.name,
                y_label: &y_label,
                series,
                log_x: false,
            })
            .collect();
        let width = 200 + 600 * panels.len() as u32;
        plot::lines(
            &dir.join(format!("axis-{}.png", axis.name)),
            &panels,
            (width, 520),
        )?;
    }
    Ok(())
}

/// Everything of a report directory, from its `plan.json`.
pub fn write_all(dir: &Path, plan: &PlanRecord, wall_s: Option<f64>) -> Result<Vec<RunResult>> {
    let results = collect(plan);
    write_csv(&dir.join("results.csv"), plan, &results)?;
    write_summary(&dir.join("summary.md"), plan, &results, wall_s)?;
    write_plots(dir, plan, &results)?;
    write_axis_plots(dir, plan, &results)?;
    Ok(results)
}

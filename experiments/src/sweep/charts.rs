//! A suite report's charts: `curves.png` (per-epoch curves, mean over seeds), `bars.png` (the
//! primary metric per variant) and `axis-<name>.png` for each axis whose values are numbers.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::base::plot::{self, Bar, Panel};
use crate::base::stats::{mean, std};
use crate::config::suite::{Axis, Metric, Suite, Variant};
use crate::record::rundir::EpochRow;
use crate::sweep::report::{PlanRecord, RunResult, values};

/// Named lines of (x, y) points, as a panel draws them.
type Lines = Vec<(String, Vec<(f64, f64)>)>;
/// An axis chart's panel: its title, its lines and each line's error bars.
type AxisPanel = (String, (Lines, Vec<Vec<f64>>));

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
    write_curves(dir, s, results)?;
    write_bars(dir, s, results, crate::sweep::summary::comparable(plan))
}

/// `curves.png`: training loss, training error and validation accuracy per epoch.
fn write_curves(dir: &Path, s: &Suite, results: &[RunResult]) -> Result<()> {
    let variants = s.variant_names();
    let series = |f: &dyn Fn(&EpochRow) -> f64| -> Lines {
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
                errors: vec![],
            },
            Panel {
                title: "training error",
                x_label: "epoch",
                y_label: "100 - top-1 %",
                series: series(&|r| 100.0 - r.train_acc),
                log_x: false,
                errors: vec![],
            },
            Panel {
                title: "validation accuracy",
                x_label: "epoch",
                y_label: "top-1 %",
                series: series(&|r| r.valid_acc),
                log_x: false,
                errors: vec![],
            },
        ],
        (1800, 520),
    )?;
    Ok(())
}

/// `bars.png`: the primary metric per variant, mean ± std, the published number as a mark.
pub fn write_bars(dir: &Path, s: &Suite, results: &[RunResult], published: bool) -> Result<()> {
    let primary = s.metrics[0];
    // Variants without a finished run (failed, or not run) get no bar rather than one at 0.
    let bars: Vec<Bar> = s
        .variant_names()
        .iter()
        .filter(|v| !values(results, v, primary).is_empty())
        .map(|v| {
            let vals = values(results, v, primary);
            Bar {
                label: v.clone(),
                value: if vals.is_empty() { 0.0 } else { mean(&vals) },
                spread: std(&vals),
                reference: s
                    .published
                    .get(v)
                    .filter(|p| published && p.metric == primary)
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
    write_axis_charts(dir, &plan.suite, results)
}

/// [`write_axis_plots`] for a suite and its results alone (a committed `results.csv`).
pub fn write_axis_charts(dir: &Path, s: &Suite, results: &[RunResult]) -> Result<()> {
    let variants = s.variant_list();
    for (i, axis) in s.axes.iter().enumerate() {
        let numeric = axis.values.iter().all(|v| v.name.parse::<f64>().is_ok());
        if !numeric || axis.values.len() < 2 {
            continue;
        }
        let layout = AxisLayout::of(s, i);
        let panels: Vec<AxisPanel> = layout
            .panel_values(s)
            .into_iter()
            .map(|pv| {
                let lines = layout.lines(&variants, results, s.metrics[0], pv);
                (layout.title(s, pv), lines)
            })
            .collect();
        if panels.iter().all(|(_, (l, _))| l.is_empty()) {
            continue;
        }
        draw_axis(dir, axis, s.metrics[0], panels)?;
    }
    Ok(())
}

/// How an axis chart is laid out: the axis on x, a panel per value of the first other axis
/// when there are two others or more, a line per combination of the remaining ones.
struct AxisLayout {
    /// The axis on x.
    axis: usize,
    panel_axis: Option<usize>,
    series_axes: Vec<usize>,
}

impl AxisLayout {
    fn of(s: &Suite, axis: usize) -> Self {
        let others: Vec<usize> = (0..s.axes.len()).filter(|&j| j != axis).collect();
        let (panel_axis, series_axes) = match others.split_first() {
            Some((&p, rest)) if !rest.is_empty() => (Some(p), rest.to_vec()),
            _ => (None, others.clone()),
        };
        Self {
            axis,
            panel_axis,
            series_axes,
        }
    }

    /// The value of the panel axis each panel shows (one `None` panel without a panel axis).
    fn panel_values<'s>(&self, s: &'s Suite) -> Vec<Option<&'s str>> {
        match self.panel_axis {
            Some(p) => s.axes[p]
                .values
                .iter()
                .map(|v| Some(v.name.as_str()))
                .collect(),
            None => vec![None],
        }
    }

    fn title(&self, s: &Suite, panel_value: Option<&str>) -> String {
        match (panel_value, self.panel_axis) {
            (Some(v), Some(p)) => format!("{}: {} = {v}", s.name, s.axes[p].name),
            _ => format!(
                "{}: {} against {}",
                s.name,
                s.metrics[0].name(),
                s.axes[self.axis].name
            ),
        }
    }

    /// One panel's lines: the mean of `primary` over each variant's finished runs against the
    /// variant's value on the x axis, grouped by the series axes, in the variants' order; and
    /// per line, each point's standard deviation over seeds (its error bar).
    fn lines(
        &self,
        variants: &[Variant],
        results: &[RunResult],
        primary: Metric,
        panel_value: Option<&str>,
    ) -> (Lines, Vec<Vec<f64>>) {
        let mut series: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
        let mut order: Vec<String> = vec![];
        for v in variants {
            if let (Some(p), Some(want)) = (self.panel_axis, panel_value)
                && v.values[p] != want
            {
                continue;
            }
            let vals = values(results, &v.name, primary);
            let Ok(x) = v.values[self.axis].parse::<f64>() else {
                continue;
            };
            if vals.is_empty() {
                continue;
            }
            let label = if self.series_axes.is_empty() {
                primary.name().to_string()
            } else {
                self.series_axes
                    .iter()
                    .map(|&j| v.values[j].as_str())
                    .collect::<Vec<_>>()
                    .join("-")
            };
            if !order.contains(&label) {
                order.push(label.clone());
            }
            series
                .entry(label)
                .or_default()
                .push((x, mean(&vals), std(&vals)));
        }
        let mut lines: Lines = vec![];
        let mut errors = vec![];
        for l in order {
            let mut pts = series.remove(&l).unwrap_or_default();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !pts.is_empty() {
                errors.push(pts.iter().map(|p| p.2).collect());
                lines.push((l, pts.iter().map(|p| (p.0, p.1)).collect()));
            }
        }
        (lines, errors)
    }
}

/// Draws `axis-<name>.png`, its panels side by side.
fn draw_axis(dir: &Path, axis: &Axis, primary: Metric, panels: Vec<AxisPanel>) -> Result<()> {
    let y_label = format!("{} (mean ± std over seeds)", primary.name());
    let panels: Vec<Panel> = panels
        .iter()
        .map(|(title, (series, errors))| Panel {
            title: title.as_str(),
            x_label: &axis.name,
            y_label: &y_label,
            series: series.clone(),
            log_x: false,
            errors: errors.clone(),
        })
        .collect();
    let width = 200 + 600 * panels.len() as u32;
    plot::lines(
        &dir.join(format!("axis-{}.png", axis.name)),
        &panels,
        (width, 520),
    )?;
    Ok(())
}

//! Each comparison of a suite judged on its runs: the difference of means with its 95 %
//! interval (paired by seed where both variants ran the same seeds, Welch's otherwise), a
//! p-value, Holm's adjustment across the suite's comparisons, the smallest effect the seeds
//! could have detected, and a verdict against the paper's direction: *agrees*, *disagrees*
//! or *inconclusive* (the interval includes 0, or too few runs). Read from the runs of a
//! report, or from a `results.csv` alone (committed results keep no run directories).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::base::stats::{Difference, holm, mean, paired, welch};
use crate::config::comparisons::Pair;
use crate::config::suite::Expect;
use crate::config::suite::{Metric, Suite};
use crate::sweep::report::{PLATEAU_EPOCHS, PLATEAU_POINTS, RunResult, finished};
use crate::sweep::runstore::RunState;

/// What the runs say about one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Agrees,
    Disagrees,
    /// The interval includes 0 (or, after Holm, the adjusted p is not below 0.05).
    Inconclusive,
    /// Fewer than two finished runs on a side.
    TooFewRuns,
    /// The interval would decide, but some runs had not converged (their validation accuracy
    /// still moving): the difference may be one of speed, not of the end point.
    NotConverged,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Agrees => "agrees with the paper",
            Verdict::Disagrees => "disagrees",
            Verdict::Inconclusive => "inconclusive",
            Verdict::TooFewRuns => "inconclusive (fewer than 2 runs a side)",
            Verdict::NotConverged => "inconclusive (runs not converged)",
        }
    }

    fn of(diff: f64, significant: bool, expect: Expect) -> Self {
        if !significant {
            return Verdict::Inconclusive;
        }
        match (diff < 0.0, expect) {
            (true, Expect::Lower) | (false, Expect::Higher) => Verdict::Agrees,
            _ => Verdict::Disagrees,
        }
    }
}

/// One comparison with its numbers and verdicts.
#[derive(Debug, Clone)]
pub struct Judged {
    pub pair: Pair,
    pub runs: (usize, usize),
    pub means: (f64, f64),
    pub difference: Option<Difference>,
    /// Holm-adjusted p-value over the suite's comparisons (NaN without a test).
    pub p_holm: f64,
    /// Judged by the 95 % interval alone.
    pub verdict: Verdict,
    /// Judged by the Holm-adjusted p-value.
    pub verdict_holm: Verdict,
    /// Runs of both sides that had converged, of those whose convergence is known, and how
    /// many are unknown.
    pub converged: (usize, usize, usize),
    /// How the two sides' training budgets differ ([`Suite::budget_note`]): a confound to
    /// weigh before reading the verdict as the paper's effect.
    pub budget: Option<String>,
}

impl Judged {
    fn convergence(&self) -> String {
        let (yes, known, unknown) = self.converged;
        let runs = match (known, unknown) {
            (0, _) => "unknown".into(),
            (k, 0) if yes == k => "yes".into(),
            _ => format!("{yes} of {} runs", known + unknown),
        };
        if self.pair.speed {
            format!("{runs} (a speed claim: not required)")
        } else {
            runs
        }
    }
}

/// Agrees or disagrees only where every run whose convergence is known converged, unless the
/// claim is about speed (then the runs' progress at an equal budget is the measurement).
fn unless_unconverged(v: Verdict, converged: (usize, usize, usize), speed: bool) -> Verdict {
    match v {
        Verdict::Agrees | Verdict::Disagrees if !speed && converged.0 < converged.1 => {
            Verdict::NotConverged
        }
        v => v,
    }
}

/// `(seed, value)` of metric `m` over variant `v`'s finished runs.
pub(crate) fn seeded(results: &[RunResult], v: &str, m: Metric) -> Vec<(u64, f64)> {
    finished(results, v)
        .filter_map(|r| r.values.get(&m).map(|x| (r.seed, *x)))
        .collect()
}

/// The difference `a − b`: paired when both sides ran exactly the same seeds (same data order
/// and initialisation stream), Welch's otherwise.
pub fn difference(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<Difference> {
    let seeds = |v: &[(u64, f64)]| {
        let mut s: Vec<u64> = v.iter().map(|x| x.0).collect();
        s.sort_unstable();
        s
    };
    if seeds(a) == seeds(b) && seeds(a).windows(2).all(|w| w[0] != w[1]) {
        paired(a, b)
    } else {
        let values = |v: &[(u64, f64)]| v.iter().map(|x| x.1).collect::<Vec<f64>>();
        welch(&values(a), &values(b))
    }
}

/// Every comparison of `suite` judged on `results`.
pub fn judge(suite: &Suite, results: &[RunResult]) -> Result<Vec<Judged>> {
    let pairs = suite
        .comparison_pairs()
        .map_err(|(key, message)| anyhow::anyhow!("suite `{}`: `{key}`: {message}", suite.name))?;
    let mut judged: Vec<Judged> = pairs
        .into_iter()
        .map(|pair| {
            let a = seeded(results, &pair.a, pair.metric);
            let b = seeded(results, &pair.b, pair.metric);
            let difference = difference(&a, &b);
            let verdict = match &difference {
                None => Verdict::TooFewRuns,
                Some(d) => Verdict::of(d.diff, d.excludes_zero(), pair.expect),
            };
            let m = |v: &[(u64, f64)]| mean(&v.iter().map(|x| x.1).collect::<Vec<_>>());
            let runs: Vec<Option<bool>> = finished(results, &pair.a)
                .chain(finished(results, &pair.b))
                .map(|r| r.converged)
                .collect();
            let converged = (
                runs.iter().filter(|c| **c == Some(true)).count(),
                runs.iter().filter(|c| c.is_some()).count(),
                runs.iter().filter(|c| c.is_none()).count(),
            );
            let verdict = unless_unconverged(verdict, converged, pair.speed);
            Judged {
                budget: suite.budget_note(&pair.a, &pair.b),
                converged,
                runs: (a.len(), b.len()),
                means: (m(&a), m(&b)),
                difference,
                p_holm: f64::NAN,
                verdict,
                verdict_holm: verdict,
                pair,
            }
        })
        .collect();
    let p: Vec<f64> = judged
        .iter()
        .map(|j| j.difference.map_or(f64::NAN, |d| d.p))
        .collect();
    for (j, adjusted) in judged.iter_mut().zip(holm(&p)) {
        j.p_holm = adjusted;
        if let Some(d) = j.difference {
            j.verdict_holm = unless_unconverged(
                Verdict::of(d.diff, adjusted < 0.05, j.pair.expect),
                j.converged,
                j.pair.speed,
            );
        }
    }
    Ok(judged)
}

/// The comparisons as a markdown section (empty when the suite declares none).
pub fn section(judged: &[Judged]) -> String {
    if judged.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Comparisons\n\n| a | b | metric | paper: a is | a − b (95 % CI) | method (df) | p | p (Holm) | smallest detectable | converged | budget | verdict | after Holm | source |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for j in judged {
        let p = &j.pair;
        let (diff, method, pv, mde) = match &j.difference {
            Some(d) => (
                d.interval(),
                format!("{} ({:.1})", d.method.name(), d.df),
                format!("{:.3}", d.p),
                format!("{:.2}", d.min_detectable()),
            ),
            None => (
                format!("{:+.2}", j.means.0 - j.means.1),
                format!("– ({} vs {} runs)", j.runs.0, j.runs.1),
                "–".into(),
                "–".into(),
            ),
        };
        md.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {diff} | {method} | {pv} | {} | {mde} | {} | {} | {} | {} | {} |\n",
            p.a,
            p.b,
            p.metric.name(),
            p.expect.name(),
            if j.p_holm.is_nan() {
                "–".to_string()
            } else {
                format!("{:.3}", j.p_holm)
            },
            j.convergence(),
            j.budget.as_deref().unwrap_or("equal"),
            j.verdict.name(),
            j.verdict_holm.name(),
            p.source
        ));
    }
    let m = judged.iter().filter(|j| j.difference.is_some()).count();
    md.push_str(&format!(
        "\n{m} comparison{} tested. A verdict needs the 95 % interval to exclude 0; with {m} test{} at α = 0.05, about {:.2} would do so by chance alone if no variant differed, so *after Holm* judges each by its Holm-adjusted p-value (family-wise error 5 %). Paired by seed where both variants ran the same seeds (df = seeds − 1), Welch otherwise. *Converged*: runs whose validation accuracy moved less than {PLATEAU_POINTS} points over their last {PLATEAU_EPOCHS} epochs; where any did not, an interval that excludes 0 gives *inconclusive (runs not converged)*, since the difference may be one of speed, except where the paper's claim is itself about speed (the same budget on both sides is then the measurement). *Budget*: how the two sides' training differs by their own overrides (epochs, a trained base to start from), a confound to weigh before reading a verdict as the paper's effect. *Smallest detectable*: the true difference these seeds would find with 80 % power, (t₀.₉₇₅ + t₀.₈₀)·se. Differences are `a − b` in the metric's units (percentage points for accuracies and errors).\n",
        if m == 1 { " was" } else { "s were" },
        if m == 1 { "" } else { "s" },
        0.05 * m as f64
    ));
    md
}

/// A suite's results read back from its `results.csv`: variant, seed, state and metrics
/// (committed results keep no run directories).
pub fn read_results(path: &Path) -> Result<Vec<RunResult>> {
    read_results_with(path, &[])
}

/// [`read_results`], also reading the epochs each run took and when it met each of `targets`.
pub fn read_results_with(
    path: &Path,
    targets: &[crate::config::suite::Target],
) -> Result<Vec<RunResult>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("{}", path.display()))?;
    let header = r
        .headers()
        .with_context(|| format!("{}: no header", path.display()))?
        .clone();
    let at = |name: &str| header.iter().position(|h| h == name);
    let converged = at("converged");
    let epochs = at("epochs");
    let reached: Vec<Option<usize>> = targets.iter().map(|t| at(&t.column())).collect();
    let (Some(variant), Some(seed), Some(status)) = (at("variant"), at("seed"), at("status"))
    else {
        bail!(
            "{}: expected the columns variant, seed and status of a suite's results.csv",
            path.display()
        );
    };
    let metrics: Vec<(Metric, usize)> = crate::sweep::report::ALL_METRICS
        .iter()
        .filter_map(|m| at(m.name()).map(|i| (*m, i)))
        .collect();
    let mut out = vec![];
    for (line, record) in r.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), line + 2))?;
        let seed = record[seed].parse().with_context(|| {
            format!(
                "{}: row {}: seed `{}`",
                path.display(),
                line + 2,
                &record[seed]
            )
        })?;
        let mut result = RunResult {
            variant: record[variant].to_string(),
            seed,
            status: if &record[status] == "done" {
                RunState::Done
            } else {
                RunState::Failed(record[status].to_string())
            },
            ..Default::default()
        };
        result.epochs = epochs.and_then(|i| record[i].parse().ok());
        result.reached = reached
            .iter()
            .map(|i| i.and_then(|i| record[i].parse().ok()))
            .collect();
        result.converged = converged.and_then(|i| match &record[i] {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        });
        for (m, i) in &metrics {
            if let Ok(v) = record[*i].parse::<f64>() {
                result.values.insert(*m, v);
            }
        }
        out.push(result);
    }
    Ok(out)
}

/// The suite whose comparisons apply to the results in `dir`: `given` (a built-in name or a
/// file), else the one its `plan.json` records (the built-in of that name where there is one:
/// the plan's copy predates comparisons added since), else the one named like `dir`; failing
/// that, an error saying how to name it (`name_it`, e.g. "with --suite").
pub fn suite_for(dir: &Path, given: Option<&str>, name_it: &str) -> Result<Suite> {
    // The budget's own exclusions apply to its results.
    let plan = crate::sweep::report::PlanRecord::read(dir)?;
    let at = |s: Suite| match &plan {
        Some(p) => s.at_budget(p.budget),
        None => s,
    };
    if let Some(name) = given {
        return Ok(at(Suite::load(name)?));
    }
    if let Some(plan) = &plan {
        return Ok(at(
            Suite::load(&plan.suite.name).unwrap_or_else(|_| plan.suite.clone())
        ));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Suite::load(&name)
        .map_err(|e| anyhow::anyhow!("{e}; name the suite whose comparisons apply {name_it}"))
}

/// `convlab ablate verdicts`: judges `suite`'s comparisons on a `results.csv` (or a report
/// directory holding one), prints the section and writes it as `verdicts.md` beside the CSV.
pub fn verdicts(results: &Path, suite: &Suite) -> Result<String> {
    let csv = if results.is_dir() {
        results.join("results.csv")
    } else {
        results.to_path_buf()
    };
    let rows = read_results(&csv)?;
    if suite.comparisons.is_empty() {
        bail!(
            "suite `{}` declares no [[comparisons]]: nothing to judge",
            suite.name
        );
    }
    let judged = judge(suite, &rows)?;
    let command: Vec<String> = std::iter::once("convlab".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    let md = format!(
        "# `{}`: verdicts\n\nFrom `{}` ({} runs) and the comparisons of suite `{}`.\n\n- Command: `{}`\n- Made by {}\n{}",
        suite.name,
        csv.display(),
        rows.len(),
        suite.name,
        command.join(" "),
        crate::record::rundir::RunInfo::binary(),
        section(&judged)
    );
    let out = csv.with_file_name("verdicts.md");
    crate::record::rundir::write_atomic(&out, md.as_bytes())?;
    Ok(md)
}

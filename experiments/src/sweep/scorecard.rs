//! One table across suites (`convlab ablate scorecard`): each comparison's question, the
//! paper's claim and source, our difference with its interval, the verdict after Holm, and how
//! the runs were made (dataset, budget, seeds, the binary). Read from report directories or
//! committed results: `results.csv` for the numbers; `plan.json`, else the first lines of
//! `summary.md`, for how they were made.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::config::suite::Suite;
use crate::record::rundir::write_atomic;
use crate::sweep::report::PlanRecord;
use crate::sweep::verdicts::{judge, read_results, suite_for};

/// A results directory and the suite whose comparisons apply (`DIR=SUITE` on the command
/// line; by default plan.json's suite, else the directory's name).
#[derive(Debug, Clone)]
pub struct Source {
    pub dir: PathBuf,
    pub suite: Option<String>,
}

impl std::str::FromStr for Source {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.rsplit_once('=') {
            Some((dir, suite)) => Source {
                dir: dir.into(),
                suite: Some(suite.to_string()),
            },
            None => Source {
                dir: s.into(),
                suite: None,
            },
        })
    }
}

/// How a directory's runs were made, as the scorecard prints it.
struct Made {
    dataset: String,
    budget: String,
    seeds: String,
    binary: String,
}

/// How the runs in `dir` were made: from its `plan.json`, else read back from a committed
/// `summary.md`'s first lines ([`PlanRecord::from_summary`]), else unknown.
fn made(dir: &Path, suite: &Suite) -> Result<Made> {
    let (plan, no_binary) = match PlanRecord::read(dir)? {
        Some(plan) => (Some(plan), "unknown"),
        None => {
            let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
            (
                PlanRecord::from_summary(suite, &summary).map(|(plan, _)| plan),
                "unknown (before reports named their binary)",
            )
        }
    };
    let Some(plan) = plan else {
        let unknown = || "unknown".to_string();
        return Ok(Made {
            dataset: unknown(),
            budget: unknown(),
            seeds: unknown(),
            binary: unknown(),
        });
    };
    Ok(Made {
        dataset: if plan.budget == crate::config::suite::BudgetName::Smoke {
            "synthetic".into()
        } else {
            plan.dataset.unwrap_or_else(|| "the base recipe's".into())
        },
        budget: plan.budget.name().into(),
        seeds: plan.seeds.to_string(),
        binary: if plan.binary.is_empty() {
            no_binary.into()
        } else {
            plan.binary
        },
    })
}

/// The scorecard's table (markdown), one row per comparison of every source.
pub fn table(sources: &[Source]) -> Result<String> {
    if sources.is_empty() {
        bail!("name at least one results directory");
    }
    let mut md = String::from(
        "| suite (results) | question | a vs b | metric | the paper: a is | a − b (95 % CI) | verdict after Holm | training differs | dataset | budget | seeds | made by |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for source in sources {
        let name_it = format!("as {}=SUITE", source.dir.display());
        let suite = suite_for(&source.dir, source.suite.as_deref(), &name_it)?;
        let results = read_results(&source.dir.join("results.csv"))?;
        let m = made(&source.dir, &suite)?;
        for (k, j) in judge(&suite, &results)?.into_iter().enumerate() {
            let p = &j.pair;
            // The suite and its question once per source.
            let (name, question) = if k == 0 {
                (
                    format!("`{}` (`{}`)", suite.name, source.dir.display()),
                    suite.question.clone(),
                )
            } else {
                (String::new(), String::new())
            };
            md.push_str(&format!(
                "| {name} | {question} | `{}` vs `{}` | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} |\n",
                p.a,
                p.b,
                p.metric.name(),
                p.expect.name(),
                p.source,
                j.difference.map_or("–".to_string(), |d| d.interval()),
                j.verdict_holm.name(),
                j.budget.as_deref().unwrap_or("no"),
                m.dataset,
                m.budget,
                m.seeds,
                m.binary,
            ));
        }
    }
    Ok(md)
}

/// `convlab ablate scorecard`: writes the table to `out` (atomically) and returns it.
pub fn scorecard(sources: &[Source], out: &Path) -> Result<String> {
    let md = table(sources)?;
    write_atomic(out, md.as_bytes())?;
    Ok(md)
}

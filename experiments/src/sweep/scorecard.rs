//! One table across suites (`convlab ablate scorecard`): each comparison's question, the
//! paper's claim and source, our difference with its interval, the verdict after Holm, and how
//! the runs were made (dataset, budget, seeds, the binary). Read from report directories or
//! committed results: `results.csv` for the numbers; `plan.json`, else the first lines of
//! `summary.md`, for how they were made.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::suite::Suite;
use crate::record::rundir::write_atomic;
use crate::sweep::report::PlanRecord;
use crate::sweep::verdicts::{judge, read_results};

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

fn made(dir: &Path) -> Made {
    if let Some(plan) = std::fs::read_to_string(dir.join("plan.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<PlanRecord>(&t).ok())
    {
        return Made {
            dataset: if plan.budget == crate::config::suite::BudgetName::Smoke {
                "synthetic".into()
            } else {
                plan.dataset.unwrap_or_else(|| "the base recipe's".into())
            },
            budget: plan.budget.name().into(),
            seeds: plan.seeds.to_string(),
            binary: if plan.binary.is_empty() {
                "unknown".into()
            } else {
                plan.binary
            },
        };
    }
    // A committed report keeps only summary.md: its line "- Base recipe `…`; budget `short`;
    // dataset `fashion-mnist`; seeds 0–1 per variant; …".
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    let line = summary
        .lines()
        .find(|l| l.starts_with("- Base recipe"))
        .unwrap_or_default();
    let field = |name: &str| {
        line.split("; ")
            .find_map(|part| part.strip_prefix(name))
            .map(|v| v.trim().trim_matches('`').to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let seeds = field("seeds ");
    Made {
        dataset: field("dataset "),
        budget: field("budget "),
        seeds: seeds
            .split(' ')
            .next()
            .and_then(|r| r.split_once('–'))
            .and_then(|(a, b)| Some(b.parse::<u64>().ok()? + 1 - a.parse::<u64>().ok()?))
            .map_or(seeds.clone(), |n| n.to_string()),
        binary: summary
            .lines()
            .find_map(|l| l.strip_prefix("- Made by "))
            .unwrap_or("unknown (before reports named their binary)")
            .to_string(),
    }
}

fn suite_of(source: &Source) -> Result<Suite> {
    if let Some(name) = &source.suite {
        return Ok(Suite::load(name)?);
    }
    if let Some(plan) = std::fs::read_to_string(source.dir.join("plan.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<PlanRecord>(&t).ok())
    {
        return Ok(Suite::load(&plan.suite.name).unwrap_or(plan.suite));
    }
    let name = source
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Suite::load(&name).with_context(|| {
        format!(
            "{}: name the suite whose comparisons apply as {}=SUITE",
            source.dir.display(),
            source.dir.display()
        )
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
        let suite = suite_of(source)?;
        let results = read_results(&source.dir.join("results.csv"))?;
        let m = made(&source.dir);
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
                j.difference.map_or("–".to_string(), |d| format!(
                    "{:+.2} [{:+.2}, {:+.2}]",
                    d.diff, d.lo, d.hi
                )),
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

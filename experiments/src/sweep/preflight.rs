//! What a suite checks before any of its runs starts: the other suites' runs it starts from
//! have finished, its named datasets are on disk; and its `--dry-run` listing, which shows the
//! same without running anything.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::config::overrides::Override;
use crate::config::suite::Suite;
use crate::sweep::estimate::{self, Estimate};
use crate::sweep::plan::{PlanOptions, PlannedRun};
use crate::sweep::runstore::{RunState, RunStore};

/// Each variant's model size: (variant, (parameters, multiply-accumulates)).
pub type Sizes = [(String, (u64, u64))];

/// Makes sure a named dataset is on disk (downloading it when allowed) before any run starts.
pub fn ensure_data(runs: &[PlannedRun], dir: Option<&Path>, fetch: bool) -> Result<()> {
    use convlab_datasets::{DatasetName, data_dir};
    let mut names: Vec<DatasetName> = vec![];
    for r in runs {
        let Some(name) = r.recipe.data.dataset.catalog() else {
            continue;
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let dir = data_dir(dir);
    for name in names {
        let missing: Vec<_> = name
            .files()
            .into_iter()
            .filter(|f| convlab_datasets::store::locate(name, f, &dir).is_none())
            .collect();
        if missing.is_empty() {
            continue;
        }
        if fetch {
            convlab_datasets::download::fetch(name, &dir)
                .with_context(|| format!("fetching {name} for the suite"))?;
        } else {
            return Err(convlab_datasets::catalog::missing_error(name, &dir, &missing[0]).into());
        }
    }
    Ok(())
}

/// The state of the other suite's run a planned run starts from (`None`: it starts from none).
fn source_state(r: &PlannedRun) -> Option<(String, RunState)> {
    let needs = r.needs.as_ref()?;
    let dir = r.recipe.transfer.as_ref()?.from.path().ok()?;
    let state = match (dir.parent(), dir.file_name()) {
        (Some(root), Some(id)) => RunStore::at(root).state(&id.to_string_lossy()),
        _ => RunState::New,
    };
    Some((needs.clone(), state))
}

/// Every run another suite's run starts from must have finished: an error names the missing
/// ones and the command that makes them (with the same `plan` options and `out`). `suite` is
/// the suite as it was named.
pub fn check_sources(
    runs: &[PlannedRun],
    suite: &str,
    plan: &PlanOptions,
    out: &Path,
) -> Result<()> {
    let mut missing: Vec<String> = vec![];
    let mut suites: Vec<String> = vec![];
    for r in runs {
        if let Some((needs, state)) = source_state(r)
            && state != RunState::Done
        {
            let line = format!("{needs} seed {} ({})", r.seed, state.label());
            if !missing.contains(&line) {
                missing.push(line);
            }
            let source = needs.rsplit_once('/').map_or(needs.as_str(), |(s, _)| s);
            if !suites.iter().any(|s| s == source) {
                suites.push(source.to_string());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let flags = plan_flags(plan, out);
    bail!(
        "{} starts from runs of another suite that have not finished: {}; run {} first",
        suite,
        missing.join(", "),
        suites
            .iter()
            .map(|s| format!("`convlab ablate {s}{flags}`"))
            .collect::<Vec<_>>()
            .join(" and ")
    )
}

/// The `convlab ablate` flags that plan a suite as `plan` does, writing into `out`.
fn plan_flags(plan: &PlanOptions, out: &Path) -> String {
    let mut flags = format!(" --budget {}", plan.budget.name());
    if let Some(d) = &plan.dataset {
        flags.push_str(&format!(" --dataset {d}"));
    }
    if let Some(n) = plan.seeds {
        flags.push_str(&format!(" --seeds {n}"));
    }
    flags.push_str(&format!(" --out {}", out.display()));
    flags
}

/// `--dry-run`: the runs a suite would make, their models and their states, one line each.
pub fn print_plan(
    suite: &Suite,
    runs: &[PlannedRun],
    sizes: &Sizes,
    store: &RunStore,
    estimate: Option<&Estimate>,
) {
    let mut header = vec![
        "variant", "seed", "run", "state", "model", "params", "MACs", "epochs",
    ];
    if estimate.is_some() {
        header.push("est. time");
    }
    header.push("overrides");
    let mut t = crate::base::table::new(&header);
    // Each variant's own overrides, resolved once.
    let sets: BTreeMap<String, String> = suite
        .variants()
        .into_iter()
        .map(|(v, set)| (v, written(&Override::from_table(&set))))
        .collect();
    for (i, r) in runs.iter().enumerate() {
        let (params, macs) = sizes
            .iter()
            .find(|(v, _)| *v == r.variant)
            .map_or((0, 0), |(_, s)| *s);
        let mut row = vec![
            r.variant.clone(),
            r.seed.to_string(),
            r.id.clone(),
            planned_state(r, store),
            r.recipe.model.arch.name().to_string(),
            crate::base::table::group(params),
            crate::base::table::group(macs),
            r.recipe.epochs.to_string(),
        ];
        if let Some(e) = estimate {
            row.push(e.runs[i].map_or("?".into(), estimate::duration));
        }
        row.push(sets.get(&r.variant).cloned().unwrap_or_default());
        t.add_row(row);
    }
    print!("{t}");
    println!(
        "{} runs in {} (nothing was run; drop --dry-run to run them)",
        runs.len(),
        store.root().display()
    );
    if let Some(e) = estimate {
        let unknown = e.runs.iter().filter(|s| s.is_none()).count();
        println!(
            "estimated wall time on this machine: {} for the runs not finished yet, {} at once \
             ({} thread{} each; each model measured for a few steps{}{})",
            estimate::duration(e.wall_s),
            e.jobs,
            e.threads,
            if e.threads == 1 { "" } else { "s" },
            if e.cached > 0 {
                format!(", {} from the cache", e.cached)
            } else {
                String::new()
            },
            if unknown > 0 {
                format!("; {unknown} runs on a folder dataset not estimated")
            } else {
                String::new()
            }
        );
    }
}

/// Overrides as a user writes them: `key=value`, space-separated.
fn written(overrides: &[Override]) -> String {
    let o: Vec<String> = overrides.iter().map(Override::to_string).collect();
    o.join(" ")
}

/// A planned run's state, and that of the other suite's run it needs when that one has not
/// finished.
fn planned_state(r: &PlannedRun, store: &RunStore) -> String {
    match source_state(r) {
        Some((needs, s)) if s != RunState::Done => {
            format!(
                "{} (needs {needs}: {})",
                store.state(&r.id).label(),
                s.label()
            )
        }
        _ => store.state(&r.id).label().to_string(),
    }
}

//! A search's trials: sampled from the space (seeded, so a search started again plans the same
//! ones), scored by their best validation accuracy, judged at each rung by successive halving,
//! and ranked to narrow the next stage's ranges.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::config::overrides::Override;
use crate::config::recipe::Recipe;
use crate::config::space::{Param, Stage};
use crate::record::rundir::RunDir;
use crate::sweep::runstore::{RunState, RunStore};

/// One trial of a search, as `trials.csv` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    pub stage: usize,
    pub index: usize,
    pub id: String,
    pub values: BTreeMap<String, toml::Value>,
    /// `pending` until judged, then `done`, `halved at epoch N` or `failed: …`.
    pub status: RunState,
    pub epochs: usize,
    pub budget_epochs: usize,
    pub best_valid_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub recipe: Recipe,
}

/// The overrides a trial of `stage` resolves its recipe with: the stage's `set` table, its
/// epochs and image limit, then the sampled `values` (`false` on a removable key removes it).
fn trial_overrides(stage: &Stage, values: &BTreeMap<String, toml::Value>) -> Vec<Override> {
    let mut o = Override::from_table(&stage.set);
    o.push(Override::set("epochs", stage.epochs as i64));
    if let Some(l) = stage.limit {
        o.push(Override::set("data.limit", l as i64));
    }
    o.extend(values.iter().map(|(key, v)| Override::from_entry(key, v)));
    o
}

/// The trials of stage `k` (sampled from `params`, seeded by the search's seed and the stage),
/// each resolved from the `base` recipe into the search `name`'s recipe.
pub fn sample_stage(
    base: &str,
    params: &BTreeMap<String, Param>,
    stage: &Stage,
    k: usize,
    trials: usize,
    seed: u64,
    name: &str,
) -> Result<Vec<Trial>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (k as u64 + 1),
    );
    let mut out = vec![];
    for i in 0..trials {
        let values: BTreeMap<String, toml::Value> = params
            .iter()
            .map(|(key, p)| (key.clone(), p.sample(&mut rng)))
            .collect();
        let o = trial_overrides(stage, &values);
        let mut recipe = Recipe::resolve(base, &o).with_context(|| {
            let o: Vec<String> = o.iter().map(Override::to_string).collect();
            format!("stage {k} trial {i}: {}", o.join(" "))
        })?;
        recipe.name = format!("{name}-s{k}");
        out.push(Trial {
            stage: k,
            index: i,
            id: crate::sweep::plan::run_id(&recipe),
            values,
            status: RunState::Pending,
            epochs: 0,
            budget_epochs: stage.epochs,
            best_valid_acc: None,
            test_acc: None,
            recipe,
        });
    }
    Ok(out)
}

/// Best validation accuracy of a run up to `epoch`, and the epochs it has.
pub fn score(store: &RunStore, id: &str, epoch: usize) -> (Option<f64>, usize) {
    let Ok(run) = RunDir::open(&store.dir(id)) else {
        return (None, 0);
    };
    let rows = run.metrics().unwrap_or_default();
    let best = rows
        .iter()
        .filter(|r| r.epoch <= epoch && r.valid_acc.is_finite())
        .map(|r| r.valid_acc)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    (best, rows.last().map_or(0, |r| r.epoch))
}

/// Judges the `alive` trials at the rung ending at epoch `until`: the failed ones drop out, the
/// best 1/`eta` of the others go on and the rest are halved; at the stage's last rung every
/// scored trial is done. Returns the ones that go on, best first.
pub fn judge(
    store: &RunStore,
    trials: &mut [Trial],
    alive: &[usize],
    until: usize,
    last_rung: bool,
    eta: f64,
) -> Vec<usize> {
    let mut scored = score_rung(store, trials, alive, until, last_rung);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    if last_rung {
        for &(t, _) in &scored {
            trials[t].status = RunState::Done;
        }
        return scored.into_iter().map(|(t, _)| t).collect();
    }
    let keep = ((scored.len() as f64 / eta).ceil() as usize).max(1);
    for &(t, _) in scored.iter().skip(keep) {
        trials[t].status = RunState::Halved(until);
    }
    scored.into_iter().take(keep).map(|(t, _)| t).collect()
}

/// Records each `alive` trial's epochs and best validation accuracy at epoch `until`; returns
/// the trials with a score (index, accuracy) and marks the others failed.
fn score_rung(
    store: &RunStore,
    trials: &mut [Trial],
    alive: &[usize],
    until: usize,
    last_rung: bool,
) -> Vec<(usize, f64)> {
    let mut scored = vec![];
    for &t in alive {
        let trial = &mut trials[t];
        let (best, epochs) = score(store, &trial.id, until);
        trial.epochs = epochs;
        trial.best_valid_acc = best;
        match (store.state(&trial.id), best) {
            (RunState::Failed(why), _) => trial.status = RunState::Failed(why),
            (_, Some(b)) if epochs >= until || last_rung => scored.push((t, b)),
            (RunState::Done, Some(b)) => scored.push((t, b)), // stopped early
            (s, _) => {
                trial.status = RunState::Failed(format!("{} at epoch {epochs}", s.label()));
            }
        }
    }
    scored
}

/// Reads the test accuracy of each trial that is done from its run's summary.
pub fn record_tests(store: &RunStore, trials: &mut [Trial]) {
    for t in trials.iter_mut().filter(|t| t.status == RunState::Done) {
        t.test_acc = RunDir::open(&store.dir(&t.id))
            .and_then(|r| r.summary())
            .ok()
            .and_then(|s| s.test.map(|e| e.top1));
    }
}

/// A stage's best `top` finished trials, best first (none when no trial finished).
pub fn leaders(trials: &[Trial], top: usize) -> Vec<&Trial> {
    let mut ranked: Vec<&Trial> = trials
        .iter()
        .filter(|t| t.status == RunState::Done && t.best_valid_acc.is_some())
        .collect();
    ranked.sort_by(|a, b| {
        b.best_valid_acc
            .unwrap_or(0.0)
            .total_cmp(&a.best_valid_acc.unwrap_or(0.0))
    });
    ranked.into_iter().take(top).collect()
}

/// The next stage's ranges: each one narrowed around the values the `best` trials took.
pub fn shrink_around(params: &BTreeMap<String, Param>, best: &[&Trial]) -> BTreeMap<String, Param> {
    params
        .iter()
        .map(|(key, p)| {
            let v: Vec<toml::Value> = best
                .iter()
                .filter_map(|t| t.values.get(key).cloned())
                .collect();
            (key.clone(), p.shrink(&v))
        })
        .collect()
}

/// The best finished trial: of the last stage that finished any, the highest validation
/// accuracy.
pub fn best_trial(trials: &[Trial]) -> Option<&Trial> {
    let last = trials
        .iter()
        .filter(|t| t.status == RunState::Done)
        .map(|t| t.stage)
        .max()?;
    trials
        .iter()
        .filter(|t| t.stage == last && t.status == RunState::Done)
        .max_by(|a, b| {
            a.best_valid_acc
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&b.best_valid_acc.unwrap_or(f64::NEG_INFINITY))
        })
}

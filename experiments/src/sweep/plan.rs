//! A suite's runs: every variant × seed resolved to a complete recipe under a budget (and a
//! dataset), each identified by a hash of that recipe, so running the suite again finds the
//! runs it already has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::overrides::Override;
use crate::config::recipe::{Recipe, RecipeError, TransferSource};
use crate::config::suite::{Budget, BudgetName, Suite, overrides};
use crate::sweep::runstore::RunStore;

/// How a suite is run.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub budget: BudgetName,
    /// Seeds per variant (the suite's own when `None`).
    pub seeds: Option<usize>,
    /// Replace the base recipe's dataset (e.g. `fashion-mnist` where CIFAR is not at hand).
    pub dataset: Option<String>,
    /// Where suites keep their runs (`<out>/<suite>/runs/<id>`): a `transfer.from =
    /// "suite:<suite>/<variant>"` resolves to a run there.
    pub out: std::path::PathBuf,
}

/// The prefix of a `transfer.from` that names another suite's run.
pub const SUITE_REF: &str = TransferSource::SUITE_PREFIX;

/// One run of a suite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedRun {
    pub variant: String,
    pub seed: u64,
    /// Hash of the resolved recipe (16 hex digits): the run's directory name.
    pub id: String,
    /// The overrides applied to the base recipe, in order (written as `key=value` strings).
    #[serde(with = "as_strings")]
    pub overrides: Vec<Override>,
    pub recipe: Recipe,
    /// The other suite's run it starts from (`transfer.from = "suite:…"`): `<suite>/<variant>`
    /// (its directory is `recipe.transfer.from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<String>,
}

/// FNV-1a, 64 bits: a stable identity for a resolved recipe (not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A resolved recipe's identity (16 hex digits): its run directory's name in a store.
pub fn run_id(recipe: &Recipe) -> String {
    format!("{:016x}", fnv1a(recipe.to_toml().as_bytes()))
}

/// The smoke budget: synthetic images at the recipe's input shape (96 to train, 32 to test),
/// small widths, batch 16, one epoch (or one past the warm-up): seconds per run.
fn smoke_overrides(r: &Recipe) -> Vec<Override> {
    let [c, h, w] = r.input_shape();
    let shape: Vec<i64> = [c, h, w].iter().map(|&v| v as i64).collect();
    let mut o = vec![
        Override::set("data.dataset", "synthetic"),
        Override::set("data.samples", 96),
        Override::set("data.test_samples", 32),
        Override::set("data.classes", r.class_count() as i64),
        Override::set("data.shape", shape),
        Override::set("data.valid_fraction", 0.25),
        Override::set("data.pad", 0),
        Override::set("batch_size", 16),
        Override::set("epochs", (r.schedule.warmup_epochs + 1) as i64),
    ];
    if r.data.resize.is_some() {
        o.push(Override::remove("data.resize"));
    }
    if r.data.limit.is_some() {
        o.push(Override::remove("data.limit"));
    }
    if r.data.test_limit.is_some() {
        o.push(Override::remove("data.test_limit"));
    }
    if r.data.class_subset.is_some() {
        // The synthetic data already has just the subset's number of classes.
        o.push(Override::remove("data.class_subset"));
    }
    if r.model.arch != convlab_models::Arch::LeNet5 {
        o.push(Override::set("model.width", 0.25));
    }
    o
}

fn budget_overrides(b: &Budget) -> Vec<Override> {
    let mut o = vec![];
    if let Some(e) = b.epochs {
        o.push(Override::set("epochs", e as i64));
    }
    if let Some(l) = b.limit {
        o.push(Override::set("data.limit", l as i64));
    }
    o.extend(overrides(&b.set));
    o
}

/// Seeds per variant: `--seeds`, else the budget's `seeds`, else the suite's.
pub fn seeds(suite: &Suite, opts: &PlanOptions) -> usize {
    opts.seeds
        .or_else(|| suite.budgets.get(opts.budget.name()).and_then(|b| b.seeds))
        .unwrap_or(suite.seeds)
}

/// Every run of `suite` under `opts`, in variant order then seed order.
pub fn plan(suite: &Suite, opts: &PlanOptions) -> Result<Vec<PlannedRun>, RecipeError> {
    plan_at(suite, opts, 0)
}

fn plan_at(
    suite: &Suite,
    opts: &PlanOptions,
    depth: usize,
) -> Result<Vec<PlannedRun>, RecipeError> {
    let field = |key: &str, message: String| RecipeError::Field {
        recipe: suite.name.clone(),
        key: key.to_string(),
        message,
    };
    // Base ← suite ← dataset ← its suite-specific overrides ← budget ← variant ← seed.
    let mut common = overrides(&suite.set);
    if let Some(d) = &opts.dataset {
        common.push(Override::set("data.dataset", d.as_str()));
        if let Some(b) = suite.datasets.get(d) {
            common.extend(budget_overrides(b));
        }
    }
    let budget_key = opts.budget.name();
    let suite_budget = suite.budgets.get(budget_key);
    if matches!(opts.budget, BudgetName::Short | BudgetName::Medium) && suite_budget.is_none() {
        return Err(field(
            &format!("budgets.{budget_key}"),
            format!("the suite defines no {budget_key} budget"),
        ));
    }
    let seeds = seeds(suite, opts);
    let most = crate::config::suite_checks::MAX_SEEDS;
    if !(1..=most).contains(&seeds) {
        return Err(field(
            "seeds",
            format!("must be between 1 and {most}, got {seeds}"),
        ));
    }
    let mut runs = vec![];
    let mut refs = Refs {
        opts,
        depth,
        suites: BTreeMap::new(),
    };
    for (variant, set) in suite.variants() {
        // Resolve once without the budget, to size the smoke budget from the real data.
        let mut pre = common.clone();
        pre.extend(overrides(&set));
        let resolved = Recipe::resolve(&suite.base_ref(), &pre).map_err(|e| prefix(&variant, e))?;
        let mut all = common.clone();
        if opts.budget == BudgetName::Smoke {
            all.extend(smoke_overrides(&resolved));
        }
        if let Some(b) = suite_budget {
            all.extend(budget_overrides(b));
        }
        all.extend(overrides(&set));
        for seed in 0..seeds as u64 {
            let mut o = all.clone();
            o.push(Override::set("seed", seed as i64));
            let run = planned_run(suite, &variant, seed, o, &mut refs)
                .map_err(|e| prefix(&variant, e))?;
            runs.push(run);
        }
    }
    Ok(runs)
}

/// What resolving `suite:` references needs: the options and depth of the plan, and the other
/// suites planned so far.
struct Refs<'a> {
    opts: &'a PlanOptions,
    depth: usize,
    suites: BTreeMap<String, (String, Vec<PlannedRun>)>,
}

/// One variant's run for one seed: its recipe resolved and named, its identity hashed. A
/// `transfer.from` naming another suite's run is hashed as that run's identity
/// (`suite:<suite>/<variant>@<id>`) and then points at its directory.
fn planned_run(
    suite: &Suite,
    variant: &str,
    seed: u64,
    overrides: Vec<Override>,
    refs: &mut Refs<'_>,
) -> Result<PlannedRun, RecipeError> {
    let mut recipe = Recipe::resolve(&suite.base_ref(), &overrides)?;
    recipe.name = format!("{}-{variant}", suite.name);
    let mut run_dir = None;
    let mut needs = None;
    if let Some(t) = recipe.transfer.as_mut()
        && let TransferSource::SuiteRun {
            suite: name,
            variant: other_variant,
            ..
        } = &t.from
    {
        let (name, other_variant) = (name.clone(), other_variant.clone());
        let (other, id) = resolve_ref(&name, &other_variant, seed, refs).map_err(|message| {
            RecipeError::Field {
                recipe: suite.name.clone(),
                key: "transfer.from".into(),
                message,
            }
        })?;
        run_dir = Some(RunStore::new(&refs.opts.out, &other).dir(&id));
        needs = Some(format!("{name}/{other_variant}"));
        t.from = TransferSource::SuiteRun {
            suite: name,
            variant: other_variant,
            id: Some(id),
        };
    }
    let id = run_id(&recipe);
    if let (Some(t), Some(dir)) = (recipe.transfer.as_mut(), run_dir) {
        t.from = TransferSource::Path(dir);
    }
    Ok(PlannedRun {
        variant: variant.to_string(),
        seed,
        id,
        overrides,
        recipe,
        needs,
    })
}

/// The run a `suite:<name>/<variant>` reference names for seed `seed` (the other suite's
/// seed `seed mod its seeds`), planned with the same budget, dataset and seeds: its suite's
/// name and its id.
fn resolve_ref(
    name: &str,
    variant: &str,
    seed: u64,
    refs: &mut Refs<'_>,
) -> Result<(String, String), String> {
    let reference = format!("{name}/{variant}");
    let (opts, depth, cache) = (refs.opts, refs.depth, &mut refs.suites);
    if depth >= 4 {
        return Err(format!(
            "`{SUITE_REF}{reference}`: suites refer to each other in a cycle"
        ));
    }
    if !cache.contains_key(name) {
        let other = Suite::load(name)
            .map_err(|e| e.to_string())?
            .at_budget(opts.budget);
        let runs = plan_at(&other, opts, depth + 1).map_err(|e| e.to_string())?;
        cache.insert(name.to_string(), (other.name, runs));
    }
    let (suite_name, runs) = &cache[name];
    let of_variant: Vec<&PlannedRun> = runs.iter().filter(|r| r.variant == variant).collect();
    if of_variant.is_empty() {
        let mut names: Vec<&str> = runs.iter().map(|r| r.variant.as_str()).collect();
        names.dedup();
        return Err(format!(
            "`{SUITE_REF}{reference}`: suite `{name}` has no variant `{variant}`; variants: {}",
            names.join(", ")
        ));
    }
    let run = of_variant[(seed as usize) % of_variant.len()];
    Ok((suite_name.clone(), run.id.clone()))
}

fn prefix(variant: &str, e: RecipeError) -> RecipeError {
    match e {
        RecipeError::Field {
            recipe,
            key,
            message,
        } => RecipeError::Field {
            recipe: format!("{recipe} (variant {variant})"),
            key,
            message,
        },
        other => other,
    }
}

/// Parameters and multiply-accumulates of a planned run's model, traced symbolically (no
/// weights drawn): an impossible variant (a knob its family lacks, a shape a layer cannot take)
/// is an error naming the variant before any run starts.
pub fn check_model(run: &PlannedRun) -> anyhow::Result<(u64, u64)> {
    use anyhow::Context;
    let cfg = run
        .recipe
        .model_config()
        .with_context(|| format!("variant `{}`", run.variant))?;
    let input = cfg.input.unwrap_or_default();
    let model = cfg
        .init(&burn::tensor::Device::flex())
        .with_context(|| format!("variant `{}`", run.variant))?;
    let summary = model
        .summary_at(input)
        .with_context(|| format!("variant `{}`", run.variant))?;
    Ok((summary.total_params, summary.total_macs))
}

/// Overrides in `plan.json` as the `key=value` strings a user writes (a removal as `key=false`).
mod as_strings {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::config::overrides::Override;

    pub fn serialize<S: Serializer>(o: &[Override], s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = o.iter().map(Override::to_string).collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Override>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                s.parse::<Override>()
                    .map(|o| match o {
                        Override::Set { key, value } => Override::from_entry(&key, &value),
                        removal => removal,
                    })
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

//! A suite's runs: every variant × seed resolved to a complete recipe under a budget (and a
//! dataset), each identified by a hash of that recipe, so running the suite again finds the
//! runs it already has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recipe::{DatasetKind, Recipe, RecipeError, apply_override};
use crate::runstore::RunStore;
use crate::suite::{Budget, BudgetName, Suite, overrides};

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
pub const SUITE_REF: &str = "suite:";

/// One run of a suite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedRun {
    pub variant: String,
    pub seed: u64,
    /// Hash of the resolved recipe (16 hex digits): the run's directory name.
    pub id: String,
    /// The overrides applied to the base recipe, in order.
    pub overrides: Vec<String>,
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

/// The input shape of a recipe's data (named datasets' own, or `data.shape`), after resizing
/// and padding.
pub fn input_shape(r: &Recipe) -> [usize; 3] {
    let d = &r.data;
    let named = match d.dataset {
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => Some([3, 32, 32]),
        DatasetKind::Mnist | DatasetKind::FashionMnist => Some([1, 28, 28]),
        DatasetKind::Synthetic | DatasetKind::Folder => None,
    };
    let [c, mut h, mut w] = named.or(d.shape).unwrap_or([3, 32, 32]);
    if let Some([rh, rw]) = d.resize {
        (h, w) = (rh, rw);
    }
    [c, h + 2 * d.pad, w + 2 * d.pad]
}

/// The number of classes of a recipe's data.
pub fn class_count(r: &Recipe) -> usize {
    if let Some(c) = &r.data.class_subset {
        return c.len();
    }
    match r.data.dataset {
        DatasetKind::Cifar100 => 100,
        DatasetKind::Synthetic | DatasetKind::Folder => r.data.classes.unwrap_or(10),
        _ => 10,
    }
}

/// The smoke budget: synthetic images at the recipe's input shape (96 to train, 32 to test),
/// small widths, batch 16, one epoch (or one past the warm-up): seconds per run.
fn smoke_overrides(r: &Recipe) -> Vec<String> {
    let [c, h, w] = input_shape(r);
    let mut o = vec![
        "data.dataset=\"synthetic\"".to_string(),
        "data.samples=96".into(),
        "data.test_samples=32".into(),
        format!("data.classes={}", class_count(r)),
        format!("data.shape=[{c}, {h}, {w}]"),
        "data.valid_fraction=0.25".into(),
        "data.pad=0".into(),
        "batch_size=16".into(),
        format!("epochs={}", r.schedule.warmup_epochs + 1),
    ];
    if r.data.resize.is_some() {
        o.push("data.resize=false".into());
    }
    if r.data.limit.is_some() {
        o.push("data.limit=false".into());
    }
    if r.data.test_limit.is_some() {
        o.push("data.test_limit=false".into());
    }
    if r.data.class_subset.is_some() {
        // The synthetic data already has just the subset's number of classes.
        o.push("data.class_subset=false".into());
    }
    if r.model.arch != convlab_models::Arch::LeNet5 {
        o.push("model.width=0.25".into());
    }
    o
}

fn budget_overrides(b: &Budget) -> Vec<String> {
    let mut o = vec![];
    if let Some(e) = b.epochs {
        o.push(format!("epochs={e}"));
    }
    if let Some(l) = b.limit {
        o.push(format!("data.limit={l}"));
    }
    o.extend(overrides(&b.set));
    o
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
        common.push(format!("data.dataset=\"{d}\""));
        if let Some(b) = suite.datasets.get(d) {
            common.extend(budget_overrides(b));
        }
    }
    let budget_key = opts.budget.name();
    let suite_budget = suite.budgets.get(budget_key);
    if opts.budget == BudgetName::Short && suite_budget.is_none() {
        return Err(field(
            "budgets.short",
            "the suite defines no short budget".into(),
        ));
    }
    let seeds = opts.seeds.unwrap_or(suite.seeds);
    if seeds == 0 {
        return Err(field("seeds", "must be at least 1".into()));
    }
    let mut runs = vec![];
    let mut sources = BTreeMap::new();
    for (variant, set) in suite.variants() {
        // Resolve once without the budget, to size the smoke budget from the real data.
        let mut pre = common.clone();
        pre.extend(overrides(&set));
        let resolved = load_with(&suite.base, &pre).map_err(|e| prefix(&variant, e))?;
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
            o.push(format!("seed={seed}"));
            let mut recipe = load_with(&suite.base, &o).map_err(|e| prefix(&variant, e))?;
            recipe.name = format!("{}-{variant}", suite.name);
            // Another suite's run: the identity holds that run's id, the recipe its directory.
            let mut run_dir = None;
            let mut needs = None;
            if let Some(t) = recipe.transfer.as_mut()
                && let Some(reference) = t
                    .from
                    .to_str()
                    .and_then(|f| f.strip_prefix(SUITE_REF))
                    .map(str::to_string)
            {
                let (other, id) = resolve_ref(&reference, seed, opts, depth, &mut sources)
                    .map_err(|m| prefix(&variant, field("transfer.from", m)))?;
                run_dir = Some(RunStore::new(&opts.out, &other).dir(&id));
                t.from = format!("{SUITE_REF}{reference}@{id}").into();
                needs = Some(reference);
            }
            let id = run_id(&recipe);
            if let (Some(t), Some(dir)) = (recipe.transfer.as_mut(), run_dir) {
                t.from = dir;
            }
            runs.push(PlannedRun {
                variant: variant.clone(),
                seed,
                id,
                overrides: o,
                recipe,
                needs,
            });
        }
    }
    Ok(runs)
}

/// The run a `suite:<suite>/<variant>` reference names for seed `seed` (the other suite's
/// seed `seed mod its seeds`), planned with the same budget, dataset and seeds: its suite's
/// name and its id.
fn resolve_ref(
    reference: &str,
    seed: u64,
    opts: &PlanOptions,
    depth: usize,
    cache: &mut BTreeMap<String, (String, Vec<PlannedRun>)>,
) -> Result<(String, String), String> {
    let (name, variant) = reference
        .rsplit_once('/')
        .filter(|(s, v)| !s.is_empty() && !v.is_empty())
        .ok_or_else(|| {
            format!("`{SUITE_REF}{reference}`: expected `{SUITE_REF}<suite>/<variant>`")
        })?;
    if depth >= 4 {
        return Err(format!(
            "`{SUITE_REF}{reference}`: suites refer to each other in a cycle"
        ));
    }
    if !cache.contains_key(name) {
        let other = Suite::load(name).map_err(|e| e.to_string())?;
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

/// `Recipe::load`, where an override value of `false` removes an optional key.
pub fn load_with(base: &str, overrides: &[String]) -> Result<Recipe, RecipeError> {
    let (keep, remove): (Vec<String>, Vec<String>) = overrides
        .iter()
        .cloned()
        .partition(|o| !o.ends_with("=false") || !REMOVABLE.iter().any(|k| o.starts_with(k)));
    Recipe::load_removing(base, &keep, &remove)
}

/// Optional keys a budget or a variant can remove (by setting them to `false`).
const REMOVABLE: [&str; 8] = [
    "model.classes=",
    "data.class_subset=",
    "data.resize=",
    "data.limit=",
    "data.test_limit=",
    "augment.crop=",
    "augment.affine=",
    "augment.erase=",
];

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

/// Applies overrides to a TOML table (used by tests and `load_removing`).
pub fn apply(table: &mut toml::Table, overrides: &[String]) -> Result<(), RecipeError> {
    overrides.iter().try_for_each(|o| apply_override(table, o))
}

/// A recipe's model config completed with its data's input shape and class count, known from
/// the recipe alone (no data loaded); a `model.input` that differs from the data's is an error.
pub fn model_config(r: &Recipe) -> anyhow::Result<convlab_models::ModelConfig> {
    let mut cfg = r.model.clone();
    let input = input_shape(r);
    if let Some(given) = cfg.input.filter(|i| *i != input) {
        anyhow::bail!("model.input {given:?} does not match the data's {input:?}");
    }
    cfg.input = Some(input);
    cfg.classes.get_or_insert(class_count(r));
    Ok(cfg)
}

/// Parameters and multiply-accumulates of a planned run's model, traced symbolically (no
/// weights drawn): an impossible variant (a knob its family lacks, a shape a layer cannot take)
/// is an error naming the variant before any run starts.
pub fn check_model(run: &PlannedRun) -> anyhow::Result<(u64, u64)> {
    use anyhow::Context;
    let cfg = model_config(&run.recipe).with_context(|| format!("variant `{}`", run.variant))?;
    let input = cfg.input.unwrap_or_default();
    let model = cfg
        .init(&burn::tensor::Device::flex())
        .with_context(|| format!("variant `{}`", run.variant))?;
    let summary = model
        .summary_at(input)
        .with_context(|| format!("variant `{}`", run.variant))?;
    Ok((summary.total_params, summary.total_macs))
}

//! The `[transfer]` recipe section: start a run from imported weights or another run, in one of
//! four regimes (the seed notes' quadrants):
//!
//! | regime | copied | trained |
//! |---|---|---|
//! | `feature-extract` | everything but a classifier of another size | the head only |
//! | `partial` | as above | from `trainable_from` on (everything before is frozen) |
//! | `partial`, `layers = n` | the first n weight layers | all but those n |
//! | `fine-tune` | as above | everything, the pretrained part at `lr × lr_scale` |
//! | `fine-tune`, `layers = n` | the first n weight layers | everything |
//! | `retrain` | nothing (same architecture, fresh weights) | everything |
//!
//! Frozen parameters do not require gradients, so the optimizer never sees them and holds no
//! state for them; frozen batch norms keep their running statistics (their training flag is
//! off, Burn's `freeze_group`).

use std::collections::{BTreeMap, BTreeSet};

pub use crate::config::recipe::{Regime, TransferConfig, TransferSource};
use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, ParamGroup};
use burn::store::ModuleSnapshot;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::tensor::Device;
use convlab_models::Model;

/// What a transfer did to the model.
#[derive(Debug, Clone, Default)]
pub struct TransferPlan {
    /// Parameters copied from the source (our module paths).
    pub copied: Vec<String>,
    /// Parameters left at their initial values (a new head).
    pub new: Vec<String>,
    /// Parameters that do not train.
    pub frozen: Vec<String>,
    /// Pretrained parameters that train at `lr × lr_scale`.
    pub scaled: Vec<String>,
    /// Their paths as Burn's parameter groups see them (enum variants included).
    pub scaled_full: Vec<String>,
    pub lr_scale: f64,
}

impl TransferPlan {
    pub fn describe(&self, cfg: &TransferConfig) -> String {
        format!(
            "transfer from {} ({}{}): {} tensors copied, {} new, {} frozen, {} trainable{}",
            cfg.from,
            match cfg.regime {
                Regime::FeatureExtract => "feature-extract",
                Regime::Partial => "partial",
                Regime::FineTune => "fine-tune",
                Regime::Retrain => "retrain",
            },
            cfg.layers
                .map(|n| format!(", first {n} layers"))
                .unwrap_or_default(),
            self.copied.len(),
            self.new.len(),
            self.frozen.len(),
            self.copied.len() + self.new.len() - self.frozen.len(),
            if self.scaled.is_empty() || self.lr_scale == 1.0 {
                String::new()
            } else {
                format!(" ({} at lr × {})", self.scaled.len(), self.lr_scale)
            }
        )
    }
}

/// Module paths as Burn's groups see them (enum variants included, e.g.
/// `net.Features.features.layers.0.Conv.bn.beta`), by the path without variants that
/// burn-store and our tables use, for every float parameter and training flag.
struct FullPaths {
    stack: Vec<(String, bool)>,
    map: BTreeMap<String, String>,
}

impl FullPaths {
    fn of(model: &Model) -> BTreeMap<String, String> {
        let mut v = FullPaths {
            stack: vec![],
            map: BTreeMap::new(),
        };
        model.visit(&mut v);
        v.map
    }

    fn record(&mut self) {
        let full: Vec<&str> = self.stack.iter().map(|(n, _)| n.as_str()).collect();
        let reduced: Vec<&str> = self
            .stack
            .iter()
            .filter(|(_, variant)| !variant)
            .map(|(n, _)| n.as_str())
            .collect();
        self.map.insert(reduced.join("."), full.join("."));
    }
}

impl burn::module::ModuleVisitor for FullPaths {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.starts_with("Enum:")));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(
        &mut self,
        _param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        self.record();
    }

    fn visit_flag(&mut self, _flag: &burn::module::Param<burn::module::Flag>) {
        self.record();
    }
}

fn is_head(path: &str) -> bool {
    path.starts_with("net.head.")
}

/// The model's weight layers below its classifier, in order: each a conv or linear weight
/// (rank ≥ 2, named `…weight`) with the tensors that follow it up to the next one (its bias, its
/// batch norm's scale, shift and statistics). The last linear layer (the classifier) is not
/// one of them; a head's hidden FC layers are.
pub fn weight_layers(names: &[(String, Vec<usize>)]) -> Vec<Vec<String>> {
    let mut layers: Vec<Vec<String>> = vec![];
    for (n, shape) in names {
        let starts = n.ends_with("weight") && shape.len() >= 2;
        match layers.last_mut() {
            Some(last) if !starts => last.push(n.clone()),
            _ => layers.push(vec![n.clone()]),
        }
    }
    layers.pop();
    layers
}

/// Copies the source's weights into `model` (when `fresh`: a resumed run gets them from its
/// checkpoint) and freezes what the regime freezes.
pub fn prepare(cfg: &TransferConfig, model: Model, fresh: bool) -> Result<(Model, TransferPlan)> {
    let mut model = model;
    let names = param_names(&model);
    let mut plan = TransferPlan {
        lr_scale: cfg.lr_scale,
        ..Default::default()
    };
    if cfg.regime == Regime::Retrain {
        // Same architecture, trained from scratch: the source only has to exist and match.
        source(cfg, &model)?;
        plan.new = names.into_iter().map(|(n, _)| n).collect();
        return Ok((model, plan));
    }
    let src = source(cfg, &model)?;
    let keep = kept_layers(cfg, &names, &model)?;
    let tensors = to_copy(cfg, &src, &names, keep.as_ref(), &model)?;
    plan.copied = tensors.iter().map(|t| t.name.clone()).collect();
    plan.new = left_new(cfg, &names, &plan.copied, keep.is_some())?;
    if fresh {
        copy_into(cfg, &mut model, tensors)?;
    }

    // What trains.
    let frozen = frozen_params(cfg, &names, &plan.copied, &model)?;
    let frozen_set: BTreeSet<&str> = frozen.iter().map(String::as_str).collect();
    plan.scaled = plan
        .copied
        .iter()
        .filter(|n| !frozen_set.contains(n.as_str()))
        .cloned()
        .collect();
    if !frozen.is_empty() {
        model = freeze(model, &frozen);
    }
    let full = FullPaths::of(&model);
    plan.scaled_full = plan
        .scaled
        .iter()
        .filter_map(|p| full.get(p).cloned())
        .collect();
    plan.frozen = frozen;
    Ok((model, plan))
}

/// Every float parameter of `model` (burn-store's paths, enum variants left out) with its
/// shape, in module order.
fn param_names(model: &Model) -> Vec<(String, Vec<usize>)> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|t| (t.name.clone(), t.shape.as_slice().to_vec()))
        .collect()
}

/// The source model of `transfer.from`, loaded on flex; an error unless it is `model`'s
/// architecture.
fn source(cfg: &TransferConfig, model: &Model) -> Result<Model> {
    let path = cfg
        .from
        .path()
        .map_err(|e| anyhow::anyhow!("transfer.from = {e}"))?;
    let (src, info) = crate::run::weights::load(path, &Device::flex(), None)
        .with_context(|| format!("transfer.from = {}", cfg.from))?;
    if src.arch != model.arch {
        bail!(
            "transfer.from = {}: the weights are {}, the recipe's model is {}",
            cfg.from,
            info.arch,
            model.arch.name()
        );
    }
    Ok(src)
}

/// `layers = n`: only the tensors of the first n weight layers are copied (`None`: no such
/// limit); an error when the model has fewer.
fn kept_layers(
    cfg: &TransferConfig,
    names: &[(String, Vec<usize>)],
    model: &Model,
) -> Result<Option<BTreeSet<String>>> {
    let Some(n) = cfg.layers else {
        return Ok(None);
    };
    let layers = weight_layers(names);
    if n > layers.len() {
        bail!(
            "transfer.layers = {n}: {} has {} weight layers below its classifier",
            model.arch.name(),
            layers.len()
        );
    }
    Ok(Some(layers.into_iter().take(n).flatten().collect()))
}

/// The source's tensors to copy, in its order: those `keep` allows whose shape matches
/// `model`'s. A mismatch is an error, except in a classifier for another number of classes
/// (the new head starts fresh), in a tensor not kept, and after the cut of a cut model.
fn to_copy(
    cfg: &TransferConfig,
    src: &Model,
    names: &[(String, Vec<usize>)],
    keep: Option<&BTreeSet<String>>,
    model: &Model,
) -> Result<Vec<PackTensor>> {
    let shapes: BTreeMap<&str, &Vec<usize>> = names.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut tensors = vec![];
    for t in src.collect(None, None, true) {
        match shapes.get(t.name.as_str()) {
            Some(s) if **s == t.shape.as_slice() => {
                if keep.is_none_or(|k| k.contains(&t.name)) {
                    tensors.push(t);
                }
            }
            // Not copied: its shape does not matter.
            Some(_) if keep.is_some_and(|k| !k.contains(&t.name)) => {}
            // A classifier for another number of classes: the new head starts fresh.
            Some(_) if is_head(&t.name) => {}
            Some(s) => bail!(
                "transfer.from = {}: `{}` is {:?} there and {:?} here",
                cfg.from,
                t.name,
                t.shape.as_slice(),
                s
            ),
            // Layers after the cut of a cut model (`model.cut`) are left behind.
            None if model.cut.is_some() => {}
            None => bail!(
                "transfer.from = {}: `{}` has no place in {}",
                cfg.from,
                t.name,
                model.arch.name()
            ),
        }
    }
    Ok(tensors)
}

/// The parameters not copied, in module order. Without `layers = n` only the head may be
/// new: anything else missing from the source is an error.
fn left_new(
    cfg: &TransferConfig,
    names: &[(String, Vec<usize>)],
    copied: &[String],
    limited: bool,
) -> Result<Vec<String>> {
    let copied: BTreeSet<&str> = copied.iter().map(String::as_str).collect();
    let new: Vec<String> = names
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| !copied.contains(n.as_str()))
        .collect();
    if let Some(n) = new.iter().find(|n| !is_head(n) && !limited) {
        bail!("transfer.from = {}: `{n}` is not in the source", cfg.from);
    }
    Ok(new)
}

/// Writes the copied tensors into `model`; a tensor it refuses or does not use is an error.
fn copy_into(cfg: &TransferConfig, model: &mut Model, tensors: Vec<PackTensor>) -> Result<()> {
    let result = model.apply(tensors, None, None, true);
    if !result.errors.is_empty() || !result.unused.is_empty() {
        bail!(
            "transfer.from = {}: copying the weights failed: {:?} {:?}",
            cfg.from,
            result.errors,
            result.unused
        );
    }
    Ok(())
}

/// The parameters the regime freezes: all but the head (`feature-extract`), the copied
/// layers (`partial` with `layers = n`), everything before `trainable_from` (`partial`), or
/// none.
fn frozen_params(
    cfg: &TransferConfig,
    names: &[(String, Vec<usize>)],
    copied: &[String],
    model: &Model,
) -> Result<Vec<String>> {
    Ok(match cfg.regime {
        Regime::FeatureExtract => names
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !is_head(n))
            .collect(),
        Regime::Partial if cfg.layers.is_some() => copied.to_vec(),
        Regime::Partial => {
            let from = cfg.trainable_from.as_deref().unwrap_or_default();
            before_module(from, names, model)?
        }
        Regime::FineTune | Regime::Retrain => vec![],
    })
}

/// The parameters before module `from` (a path prefix), in module order; an error listing
/// the model's modules when `from` is none of them.
fn before_module(from: &str, names: &[(String, Vec<usize>)], model: &Model) -> Result<Vec<String>> {
    // As `convlab summary` and the diagnostics print it (`stages.2`), or with the model's
    // `net.` in front, as Burn's module tree has it.
    let full = if from.starts_with("net.") {
        from.to_string()
    } else {
        format!("net.{from}")
    };
    let at = names
        .iter()
        .position(|(n, _)| *n == full || n.starts_with(&format!("{full}.")))
        .ok_or_else(|| {
            let mut tops: Vec<String> = names
                .iter()
                .map(|(n, _)| {
                    let n = n.strip_prefix("net.").unwrap_or(n);
                    n.rsplitn(3, '.').nth(2).unwrap_or(n).to_string()
                })
                .collect();
            tops.dedup();
            anyhow!(
                "transfer.trainable_from = `{from}` is not a module of {}; modules: {}",
                model.arch.name(),
                tops.join(", ")
            )
        })?;
    Ok(names[..at].iter().map(|(n, _)| n.clone()).collect())
}

/// `model` with `frozen` no longer training. Batch norms whose scale is frozen keep their
/// running statistics: their training flag (`<bn>.training`) goes off with them.
fn freeze(model: Model, frozen: &[String]) -> Model {
    let full = FullPaths::of(&model);
    let mut paths = vec![];
    for p in frozen {
        paths.extend(full.get(p).cloned());
        if let Some(bn) = p.strip_suffix(".gamma")
            && let Some(flag) = full.get(&format!("{bn}.training"))
        {
            paths.push(flag.clone());
        }
    }
    model.freeze_group(ParamGroup::from_paths(paths))
}

/// The scheduler of a transfer run: the pretrained, trainable parameters at `lr × lr_scale`.
/// Paths are the [`crate::run::classifier::Classifier`]'s (`model.` + ours).
pub fn scaled_group(plan: &TransferPlan) -> Option<ParamGroup> {
    (plan.lr_scale != 1.0 && !plan.scaled.is_empty()).then(|| {
        ParamGroup::from_paths(
            plan.scaled_full
                .iter()
                .map(|p| format!("model.{p}"))
                .collect::<Vec<_>>(),
        )
    })
}

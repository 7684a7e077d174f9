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

pub use crate::recipe::{Regime, TransferConfig};
use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, ParamGroup};
use burn::store::ModuleSnapshot;
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
            cfg.from.display(),
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
    let names: Vec<(String, Vec<usize>)> = model
        .collect(None, None, true)
        .into_iter()
        .map(|t| (t.name.clone(), t.shape.as_slice().to_vec()))
        .collect();
    let mut plan = TransferPlan {
        lr_scale: cfg.lr_scale,
        ..Default::default()
    };
    let source = || -> Result<Model> {
        let (src, info) = crate::weights::load(&cfg.from, &Device::flex(), None)
            .with_context(|| format!("transfer.from = {}", cfg.from.display()))?;
        if src.arch != model.arch {
            bail!(
                "transfer.from = {}: the weights are {}, the recipe's model is {}",
                cfg.from.display(),
                info.arch,
                model.arch.name()
            );
        }
        Ok(src)
    };
    if cfg.regime == Regime::Retrain {
        // Same architecture, trained from scratch: the source only has to exist and match.
        source()?;
        plan.new = names.into_iter().map(|(n, _)| n).collect();
        return Ok((model, plan));
    }
    let src = source()?;
    // `layers = n`: only the first n weight layers are copied.
    let keep: Option<BTreeSet<String>> = match cfg.layers {
        None => None,
        Some(n) => {
            let layers = weight_layers(&names);
            if n > layers.len() {
                bail!(
                    "transfer.layers = {n}: {} has {} weight layers below its classifier",
                    model.arch.name(),
                    layers.len()
                );
            }
            Some(layers.into_iter().take(n).flatten().collect())
        }
    };
    let shapes: BTreeMap<&str, &Vec<usize>> = names.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut tensors = vec![];
    for t in src.collect(None, None, true) {
        match shapes.get(t.name.as_str()) {
            Some(s) if **s == t.shape.as_slice() => {
                if keep.as_ref().is_none_or(|k| k.contains(&t.name)) {
                    plan.copied.push(t.name.clone());
                    tensors.push(t);
                }
            }
            // Not copied: its shape does not matter.
            Some(_) if keep.as_ref().is_some_and(|k| !k.contains(&t.name)) => {}
            // A classifier for another number of classes: the new head starts fresh.
            Some(_) if is_head(&t.name) => {}
            Some(s) => bail!(
                "transfer.from = {}: `{}` is {:?} there and {:?} here",
                cfg.from.display(),
                t.name,
                t.shape.as_slice(),
                s
            ),
            // Layers after the cut of a cut model (`model.cut`) are left behind.
            None if model.cut.is_some() => {}
            None => bail!(
                "transfer.from = {}: `{}` has no place in {}",
                cfg.from.display(),
                t.name,
                model.arch.name()
            ),
        }
    }
    let copied: BTreeSet<&str> = plan.copied.iter().map(String::as_str).collect();
    plan.new = names
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| !copied.contains(n.as_str()))
        .collect();
    if let Some(n) = plan.new.iter().find(|n| !is_head(n) && keep.is_none()) {
        bail!(
            "transfer.from = {}: `{n}` is not in the source",
            cfg.from.display()
        );
    }
    if fresh {
        let result = model.apply(tensors, None, None, true);
        if !result.errors.is_empty() || !result.unused.is_empty() {
            bail!(
                "transfer.from = {}: copying the weights failed: {:?} {:?}",
                cfg.from.display(),
                result.errors,
                result.unused
            );
        }
    }

    // What trains.
    let frozen: Vec<String> = match cfg.regime {
        Regime::FeatureExtract => names
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !is_head(n))
            .collect(),
        Regime::Partial if cfg.layers.is_some() => plan.copied.clone(),
        Regime::Partial => {
            let from = cfg.trainable_from.as_deref().unwrap_or_default();
            let at = names
                .iter()
                .position(|(n, _)| n == from || n.starts_with(&format!("{from}.")))
                .ok_or_else(|| {
                    let mut tops: Vec<String> = names
                        .iter()
                        .map(|(n, _)| n.rsplitn(3, '.').nth(2).unwrap_or(n).to_string())
                        .collect();
                    tops.dedup();
                    anyhow!(
                        "transfer.trainable_from = `{from}` is not a module of {}; modules: {}",
                        model.arch.name(),
                        tops.join(", ")
                    )
                })?;
            names[..at].iter().map(|(n, _)| n.clone()).collect()
        }
        Regime::FineTune | Regime::Retrain => vec![],
    };
    let frozen_set: BTreeSet<&str> = frozen.iter().map(String::as_str).collect();
    plan.scaled = plan
        .copied
        .iter()
        .filter(|n| !frozen_set.contains(n.as_str()))
        .cloned()
        .collect();
    if !frozen.is_empty() {
        // Batch norms whose scale is frozen keep their running statistics: their training flag
        // (`<bn>.training`) goes off with them.
        let full = FullPaths::of(&model);
        let mut paths = vec![];
        for p in &frozen {
            paths.extend(full.get(p).cloned());
            if let Some(bn) = p.strip_suffix(".gamma")
                && let Some(flag) = full.get(&format!("{bn}.training"))
            {
                paths.push(flag.clone());
            }
        }
        model = model.freeze_group(ParamGroup::from_paths(paths));
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

/// The scheduler of a transfer run: the pretrained, trainable parameters at `lr × lr_scale`.
/// Paths are the [`crate::classifier::Classifier`]'s (`model.` + ours).
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

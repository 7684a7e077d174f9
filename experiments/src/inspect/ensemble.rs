//! `convlab ensemble`: the members' softmax outputs averaged on the test split (optionally each
//! averaged with its horizontally flipped input first), with each member's accuracy, the
//! ensemble's and the gain. Members must share the dataset, its classes and the test images.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use burn::tensor::activation::softmax;
use serde::Serialize;

use crate::base::backend::Backend;
use crate::run::eval::{CheckpointChoice, LoadedRun, Split};

/// Test-time augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Tta {
    /// Average each image's prediction with its mirror image's.
    Flip,
}

#[derive(Debug, Clone)]
pub struct EnsembleOptions {
    pub checkpoint: CheckpointChoice,
    pub tta: Option<Tta>,
    pub backend: Backend,
    pub data_dir: Option<PathBuf>,
}

/// One member's result.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub run: PathBuf,
    pub epoch: usize,
    pub top1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnsembleReport {
    pub members: Vec<Member>,
    pub top1: f64,
    pub images: usize,
    pub classes: usize,
    pub tta: Option<Tta>,
}

impl EnsembleReport {
    pub fn best_member(&self) -> f64 {
        self.members
            .iter()
            .map(|m| m.top1)
            .fold(f64::NEG_INFINITY, f64::max)
    }

    pub fn mean_member(&self) -> f64 {
        self.members.iter().map(|m| m.top1).sum::<f64>() / self.members.len().max(1) as f64
    }
}

/// Row-wise softmax of `[n, c]` logits (f64 accumulation, max subtracted).
pub fn softmax_rows(logits: &[f32], c: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(c) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let e: Vec<f64> = row.iter().map(|&v| ((v - m) as f64).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| (v / s) as f32));
    }
    out
}

/// The mean of the members' probabilities (each `[n, c]`, row-major).
pub fn average(members: &[Vec<f32>]) -> Vec<f32> {
    let Some(first) = members.first() else {
        return vec![];
    };
    let k = members.len() as f64;
    (0..first.len())
        .map(|i| (members.iter().map(|m| m[i] as f64).sum::<f64>() / k) as f32)
        .collect()
}

/// Top-1 accuracy (%) of `[n, c]` scores against labels; ties go to the lower class index.
pub fn top1(scores: &[f32], labels: &[i64], c: usize) -> f64 {
    let right = scores
        .chunks_exact(c)
        .zip(labels)
        .filter(|(row, l)| {
            let arg = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv { (i, v) } else { (bi, bv) }
                })
                .0;
            arg as i64 == **l
        })
        .count();
    100.0 * right as f64 / labels.len().max(1) as f64
}

/// Run directories named by `args`: each a run directory, or a suite report directory (its
/// `plan.json`) whose runs of `variant` are taken.
pub fn expand(args: &[PathBuf], variant: Option<&str>) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for a in args {
        let plan = a.join("plan.json");
        if plan.is_file() {
            let text = std::fs::read_to_string(&plan)?;
            let record: crate::sweep::report::PlanRecord = serde_json::from_str(&text)
                .with_context(|| format!("{}: unreadable", plan.display()))?;
            let Some(v) = variant else {
                bail!(
                    "{} is a suite report: name the variant whose seeds to ensemble with --variant (variants: {})",
                    a.display(),
                    record.suite.variant_names().join(", ")
                );
            };
            let runs: Vec<PathBuf> = record
                .runs
                .iter()
                .filter(|r| r.variant == v)
                .map(|r| record.store.join(&r.id))
                .collect();
            if runs.is_empty() {
                bail!(
                    "{}: no variant `{v}`; variants: {}",
                    a.display(),
                    record.suite.variant_names().join(", ")
                );
            }
            out.extend(runs);
        } else {
            out.push(a.clone());
        }
    }
    if out.len() < 2 {
        bail!("an ensemble needs at least two members, got {}", out.len());
    }
    Ok(out)
}

/// One member's softmax outputs on its recipe's test split, with what it must share.
struct MemberOutput {
    probs: Vec<f32>,
    labels: Vec<i64>,
    epoch: usize,
    class_names: Vec<String>,
    recipe: crate::config::recipe::Recipe,
}

fn member_outputs(dir: &Path, opts: &EnsembleOptions) -> Result<MemberOutput> {
    let run = LoadedRun::open(dir, opts.checkpoint, opts.backend, opts.data_dir.as_deref())?;
    let (model, loader) = (&run.model, run.loader(Split::Test));
    let (mut probs, mut labels) = (vec![], vec![]);
    for batch in loader.iter() {
        let batch = batch.map_err(|e| anyhow!("{e}"))?;
        let mut p = softmax(model.forward(batch.images.clone()), 1);
        if opts.tta == Some(Tta::Flip) {
            p = (p + softmax(model.forward(batch.images.flip([3])), 1)).div_scalar(2.0);
        }
        probs.extend(
            p.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow!("reading outputs: {e:?}"))?,
        );
        labels.extend(
            batch
                .targets
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| anyhow!("reading labels: {e:?}"))?,
        );
    }
    Ok(MemberOutput {
        probs,
        labels,
        epoch: run.epoch,
        class_names: run.data.class_names,
        recipe: run.recipe,
    })
}

/// Evaluates every member and their average.
pub fn ensemble(members: &[PathBuf], opts: &EnsembleOptions) -> Result<EnsembleReport> {
    let mut outputs: Vec<Vec<f32>> = vec![];
    let mut report = EnsembleReport {
        members: vec![],
        top1: 0.0,
        images: 0,
        classes: 0,
        tta: opts.tta,
    };
    let mut first: Option<(
        Vec<i64>,
        Vec<String>,
        crate::config::recipe::Recipe,
        PathBuf,
    )> = None;
    for dir in members {
        let MemberOutput {
            probs,
            labels,
            epoch,
            class_names: names,
            recipe,
        } = member_outputs(dir, opts)?;
        let c = names.len();
        if let Some((l0, n0, r0, d0)) = &first {
            let what = if r0.data.dataset != recipe.data.dataset {
                Some(format!(
                    "dataset `{}` vs `{}`",
                    recipe.data.dataset.name(),
                    r0.data.dataset.name()
                ))
            } else if *n0 != names {
                Some(format!("classes {names:?} vs {n0:?}"))
            } else if *l0 != labels {
                Some(format!(
                    "test split ({} images vs {}, or other labels)",
                    labels.len(),
                    l0.len()
                ))
            } else {
                None
            };
            if let Some(w) = what {
                bail!(
                    "{} cannot join an ensemble with {}: different {w}",
                    dir.display(),
                    d0.display()
                );
            }
        } else {
            report.images = labels.len();
            report.classes = c;
            first = Some((labels.clone(), names, recipe, dir.clone()));
        }
        report.members.push(Member {
            run: dir.clone(),
            epoch,
            top1: top1(&probs, &labels, c),
        });
        outputs.push(probs);
    }
    let (labels, ..) = first.ok_or_else(|| anyhow!("no members"))?;
    report.top1 = top1(&average(&outputs), &labels, report.classes);
    Ok(report)
}

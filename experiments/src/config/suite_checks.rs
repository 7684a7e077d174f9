//! The checks of a suite when it is read: axes and their value names, exclusions, the baseline,
//! published numbers, budgets and datasets, each failure naming its key.

use std::collections::BTreeSet;

use crate::config::load::plain_name;
use crate::config::suite::{Axis, BudgetName, Result, Suite, SuiteError};

/// The most seeds per variant a suite may ask for (each one is a run directory).
pub const MAX_SEEDS: usize = 1000;

/// A failed check: the key and what is wrong with it.
type Check = std::result::Result<(), (String, String)>;

fn fail(key: impl Into<String>, message: impl Into<String>) -> Check {
    Err((key.into(), message.into()))
}

impl Suite {
    pub(crate) fn validate(&self) -> Result<()> {
        self.check_shape()
            .and_then(|()| self.check_axes())
            .and_then(|()| self.check_exclude())
            .and_then(|()| self.check_names())
            .and_then(|()| self.comparison_pairs().map(|_| ()))
            .map_err(|(key, message)| SuiteError::Field {
                suite: self.name.clone(),
                key,
                message,
            })
    }

    /// At least one axis with values, one metric and one seed.
    fn check_shape(&self) -> Check {
        if self.axes.is_empty() || self.axes.iter().any(|a| a.values.is_empty()) {
            return fail("axes", "needs at least one axis with at least one value");
        }
        if self.metrics.is_empty() {
            return fail(
                "metrics",
                "needs at least one metric (the first is primary)",
            );
        }
        if !plain_name(&self.base) || self.base.ends_with(".toml") {
            return fail(
                "base",
                format!(
                    "`{}`: name a built-in recipe or a recipe file beside the suite (without `.toml`); paths are not followed",
                    self.base
                ),
            );
        }
        if !(1..=MAX_SEEDS).contains(&self.seeds) {
            return fail(
                "seeds",
                format!("must be between 1 and {MAX_SEEDS}, got {}", self.seeds),
            );
        }
        Ok(())
    }

    /// Value names unique and usable in paths; no two axes set the same key (their
    /// combinations would be ambiguous).
    fn check_axes(&self) -> Check {
        for (i, a) in self.axes.iter().enumerate() {
            let mut names: Vec<&str> = a.values.iter().map(|v| v.name.as_str()).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return fail(
                    format!("axes[{i}].values"),
                    format!("the name `{}` appears twice", w[0]),
                );
            }
            for v in &a.values {
                if v.name.is_empty() || v.name.contains(['/', ' ']) {
                    return fail(
                        format!("axes[{i}].values"),
                        format!("`{}`: names need letters, digits, `-` or `_`", v.name),
                    );
                }
            }
        }
        let keys = |x: &Axis| -> BTreeSet<String> {
            x.values
                .iter()
                .flat_map(|v| v.set.keys().cloned())
                .collect()
        };
        for (i, a) in self.axes.iter().enumerate() {
            for b in self.axes.iter().skip(i + 1) {
                if let Some(k) = keys(a).intersection(&keys(b)).next() {
                    return fail(
                        "axes",
                        format!(
                            "axes `{}` and `{}` both set `{k}`: their combinations are ambiguous",
                            a.name, b.name
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Every exclusion names axes of the suite and values of those axes.
    fn check_exclude(&self) -> Check {
        for (i, ex) in self.exclude.iter().enumerate() {
            for (axis, names) in ex {
                let Some(a) = self.axes.iter().find(|a| &a.name == axis) else {
                    return fail(format!("exclude[{i}].{axis}"), "not an axis of the suite");
                };
                if let Some(n) = names
                    .names()
                    .into_iter()
                    .find(|n| !a.values.iter().any(|v| v.name == *n))
                {
                    return fail(
                        format!("exclude[{i}].{axis}"),
                        format!("`{n}` is not a value of axis `{axis}`"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Some variant is left; the baseline and published numbers name variants; budgets and
    /// datasets are known names.
    fn check_names(&self) -> Check {
        let variants = self.variant_names();
        if variants.is_empty() {
            return fail("exclude", "leaves no variant");
        }
        let placeholders = crate::config::comparisons::placeholders(&self.baseline);
        if let Some(p) = placeholders
            .iter()
            .find(|p| !self.axes.iter().any(|a| &a.name == *p))
        {
            return fail("baseline", format!("`{{{p}}}` names no axis of the suite"));
        }
        if !placeholders.is_empty() {
            // A per-group baseline: each variant's own must be a variant, or excluded.
            let everything = self.unexcluded_names();
            for v in self.variant_list() {
                if self.controls.iter().any(|c| c.name == v.name) {
                    continue; // on no axis: no group, no baseline
                }
                let want = self.fill(&self.baseline, &v.values);
                if !variants.contains(&want) && !everything.contains(&want) {
                    return fail(
                        "baseline",
                        format!(
                            "`{}` gives `{want}` for `{}`, which is not a variant",
                            self.baseline, v.name
                        ),
                    );
                }
            }
        } else if !variants.contains(&self.baseline) {
            return fail(
                "baseline",
                format!(
                    "`{}` is not a variant; variants: {}",
                    self.baseline,
                    variants.join(", ")
                ),
            );
        }
        for (i, c) in self.controls.iter().enumerate() {
            if !crate::config::load::plain_name(&c.name) {
                return fail(format!("controls[{i}].name"), "must be a plain name");
            }
            if variants.iter().filter(|v| **v == c.name).count() > 1 {
                return fail(
                    format!("controls[{i}].name"),
                    format!("`{}` is already a variant's name", c.name),
                );
            }
        }
        for k in self.published.keys() {
            if !variants.contains(k) {
                return fail(
                    format!("published.{k}"),
                    format!("not a variant; variants: {}", variants.join(", ")),
                );
            }
        }
        for k in self.budgets.keys() {
            if let Some(n) = self.budgets[k].seeds
                && !(1..=MAX_SEEDS).contains(&n)
            {
                return fail(
                    format!("budgets.{k}.seeds"),
                    format!("must be between 1 and {MAX_SEEDS}, got {n}"),
                );
            }
            if !self.budgets[k].exclude.is_empty() {
                let at = self
                    .clone()
                    .with_exclusions(self.budgets[k].exclude.clone());
                let checked = at.check_exclude().and_then(|()| {
                    if at.variant_names().is_empty() {
                        fail("exclude", "leaves no variant")
                    } else {
                        at.comparison_pairs().map(|_| ())
                    }
                });
                if let Err((key, message)) = checked {
                    return fail(format!("budgets.{k}.{key}"), message);
                }
            }
            if BudgetName::from_name(k).is_none() {
                return fail(
                    format!("budgets.{k}"),
                    "budgets are smoke, short, medium and full",
                );
            }
        }
        for (k, d) in &self.datasets {
            if d.seeds.is_some() {
                return fail(
                    format!("datasets.{k}.seeds"),
                    "seeds belong to the suite or a budget, not a dataset",
                );
            }
        }
        for k in self.datasets.keys() {
            if k.parse::<convlab_datasets::DatasetName>().is_err() && k != "synthetic" {
                return fail(format!("datasets.{k}"), "not a dataset name");
            }
        }
        Ok(())
    }
}

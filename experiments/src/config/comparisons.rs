//! The questions a suite answers, as comparisons between its variants: `a` against `b` on a
//! metric, with the direction the paper reports and where it says so. A pattern names variants
//! with `{axis}` placeholders, so `residual-{depth}` vs `plain-{depth}` is one comparison per
//! depth, and `AnB-{layers}-{data}` vs `BnB-{layers}-{data}` one per layer count and data size.
//! A combination the suite excludes is skipped; a name that is no variant at all is an error.
//! (The schema, [`crate::config::suite::Comparison`], lives with the suite's.)

use crate::config::suite::{Expect, Metric, Suite};

impl Expect {
    pub fn name(self) -> &'static str {
        match self {
            Expect::Lower => "lower",
            Expect::Higher => "higher",
        }
    }
}

/// One expanded comparison: two variant names.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub metric: Metric,
    pub expect: Expect,
    pub source: String,
    /// A claim about training speed ([`crate::config::suite::Comparison::speed`]).
    pub speed: bool,
}

impl Suite {
    /// Every comparison of the suite, expanded over its placeholders, in file order; or the
    /// key (`comparisons[i].a`) and what is wrong with it.
    pub fn comparison_pairs(&self) -> Result<Vec<Pair>, (String, String)> {
        let variants = self.variant_names();
        let everything = self.unexcluded_names();
        let mut out = vec![];
        for (i, c) in self.comparisons.iter().enumerate() {
            let key = |side: &str| format!("comparisons[{i}].{side}");
            let mut axes: Vec<&str> = vec![];
            for (side, pattern) in [("a", &c.a), ("b", &c.b)] {
                for name in placeholders(pattern) {
                    if !self.axes.iter().any(|a| a.name == name) {
                        return Err((
                            key(side),
                            format!("`{{{name}}}` names no axis of the suite"),
                        ));
                    }
                    if !axes.contains(&name) {
                        axes.push(name);
                    }
                }
            }
            let mut bindings: Vec<Vec<(&str, &str)>> = vec![vec![]];
            for name in &axes {
                let axis = self.axes.iter().find(|a| a.name == *name).expect("checked");
                bindings = bindings
                    .into_iter()
                    .flat_map(|b| {
                        axis.values.iter().map(move |v| {
                            let mut b = b.clone();
                            b.push((*name, v.name.as_str()));
                            b
                        })
                    })
                    .collect();
            }
            let before = out.len();
            for binding in bindings {
                let fill = |p: &str| {
                    binding.iter().fold(p.to_string(), |s, (axis, v)| {
                        s.replace(&format!("{{{axis}}}"), v)
                    })
                };
                let (a, b) = (fill(&c.a), fill(&c.b));
                let mut skip = false;
                for (side, name) in [("a", &a), ("b", &b)] {
                    if !variants.contains(name) {
                        if everything.contains(name) {
                            skip = true;
                        } else {
                            return Err((
                                key(side),
                                format!(
                                    "`{name}` is not a variant of the suite; its variants: {}",
                                    variants.join(", ")
                                ),
                            ));
                        }
                    }
                }
                if a == b {
                    // `plain-{depth}` vs `plain-20` meets itself at 20: nothing to compare
                    // there. Two equal patterns are a mistake.
                    if c.a == c.b {
                        return Err((key("b"), format!("compares `{a}` with itself")));
                    }
                    skip = true;
                }
                if !skip {
                    out.push(Pair {
                        a,
                        b,
                        metric: c.metric.unwrap_or(self.metrics[0]),
                        expect: c.expect,
                        source: c.source.clone(),
                        speed: c.speed,
                    });
                }
            }
            if out.len() == before {
                return Err((
                    key("a"),
                    "every combination is excluded by the suite: nothing to compare".into(),
                ));
            }
        }
        Ok(out)
    }

    /// The baseline of `variant` (by name): the suite's `baseline` with its `{axis}`
    /// placeholders filled with the variant's own values (`{net}-plain` is `vgg11-plain` for
    /// `vgg11-bn`), when that is a variant of the suite.
    pub fn baseline_of(&self, variant: &str) -> Option<String> {
        let v = self
            .variant_list()
            .into_iter()
            .find(|v| v.name == variant)?;
        let name = self.fill(&self.baseline, &v.values);
        self.variant_names().contains(&name).then_some(name)
    }

    /// `pattern` with each `{axis}` replaced by that axis's value among `values`.
    pub(crate) fn fill(&self, pattern: &str, values: &[String]) -> String {
        self.axes
            .iter()
            .zip(values)
            .fold(pattern.to_string(), |s, (axis, value)| {
                s.replace(&format!("{{{}}}", axis.name), value)
            })
    }

    /// How the training budgets of variants `a` and `b` differ, as far as their own overrides
    /// say: their epochs, and whether one starts from a trained base network (copied layers,
    /// `transfer.layers` > 0), whose training then comes on top of its own. `None` when
    /// nothing differs that way.
    pub fn budget_note(&self, a: &str, b: &str) -> Option<String> {
        let list = self.variant_list();
        let find = |n: &str| list.iter().find(|v| v.name == n);
        let (va, vb) = (find(a)?, find(b)?);
        let epochs = |v: &crate::config::suite::Variant| {
            v.set.get("epochs").and_then(toml::Value::as_integer)
        };
        let based = |v: &crate::config::suite::Variant| {
            v.set.contains_key("transfer.from")
                && v.set
                    .get("transfer.layers")
                    .and_then(toml::Value::as_integer)
                    .unwrap_or(0)
                    > 0
        };
        let mut notes = vec![];
        if let (Some(x), Some(y)) = (epochs(va), epochs(vb))
            && x != y
        {
            notes.push(format!("{x} vs {y} epochs"));
        }
        for (name, v, other) in [(a, va, vb), (b, vb, va)] {
            if based(v) && !based(other) {
                notes.push(format!(
                    "`{name}` starts from a trained base (its training comes on top)"
                ));
            }
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// The names of the full grid, before `exclude`.
    pub(crate) fn unexcluded_names(&self) -> Vec<String> {
        let mut names = vec![String::new()];
        for axis in &self.axes {
            names = names
                .into_iter()
                .flat_map(|n| {
                    axis.values.iter().map(move |v| {
                        if n.is_empty() {
                            v.name.clone()
                        } else {
                            format!("{n}-{}", v.name)
                        }
                    })
                })
                .collect();
        }
        names
    }
}

/// The `{name}` placeholders of a pattern, in order.
pub(crate) fn placeholders(pattern: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push(&rest[start + 1..start + len]);
        rest = &rest[start + len + 1..];
    }
    out
}

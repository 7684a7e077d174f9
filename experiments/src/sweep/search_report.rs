//! What a search writes into its directory, again after every stage: `trials.csv` (one row per
//! trial), `search.json` (how it was started), `search.png` (each key against the best
//! validation accuracy, stage by stage) and `best.toml` (the best values as a recipe).

use std::path::Path;

use anyhow::Result;

use crate::base::plot::{self, ScatterPanel};
use crate::config::overrides::Override;
use crate::config::recipe::Recipe;
use crate::config::space::Space;
use crate::record::rundir::write_atomic;
use crate::sweep::runstore::RunState;
use crate::sweep::trials::{Trial, best_trial};

/// A search's files: where they go and what they record besides the trials.
pub struct SearchReport<'a> {
    /// `<out>/<name>`.
    pub dir: &'a Path,
    pub name: &'a str,
    /// The base recipe as given (a name or a path).
    pub recipe: &'a str,
    /// The base recipe, resolved.
    pub base: &'a Recipe,
    /// The command line that started the search.
    pub command: &'a str,
    pub space: &'a Space,
}

impl SearchReport<'_> {
    /// Writes every file; returns the best trial (an error, after the other files, when no
    /// trial finished).
    pub fn write<'t>(&self, trials: &'t [Trial]) -> Result<&'t Trial> {
        self.write_csv(trials)?;
        self.write_json(trials.len())?;
        self.write_scatter(trials)?;
        let best = best_trial(trials).ok_or_else(|| anyhow::anyhow!("no trial finished"))?;
        self.write_best(best)?;
        Ok(best)
    }

    /// `trials.csv`: a trial per row, its sampled values in the space's key order.
    fn write_csv(&self, trials: &[Trial]) -> Result<()> {
        let keys: Vec<&String> = self.space.params.keys().collect();
        let mut w = csv::Writer::from_writer(vec![]);
        let mut header = vec!["stage", "trial", "run_id"];
        header.extend(keys.iter().map(|k| k.as_str()));
        header.extend([
            "status",
            "epochs",
            "budget_epochs",
            "best_valid_acc",
            "test_acc",
        ]);
        w.write_record(&header)?;
        for t in trials {
            let mut row = vec![t.stage.to_string(), t.index.to_string(), t.id.clone()];
            row.extend(
                keys.iter()
                    .map(|k| t.values.get(*k).map_or(String::new(), plain)),
            );
            row.extend([
                t.status.to_string(),
                t.epochs.to_string(),
                t.budget_epochs.to_string(),
                t.best_valid_acc
                    .map_or(String::new(), |v| format!("{v:.4}")),
                t.test_acc.map_or(String::new(), |v| format!("{v:.4}")),
            ]);
            w.write_record(&row)?;
        }
        write_atomic(&self.dir.join("trials.csv"), &w.into_inner()?)?;
        Ok(())
    }

    /// `search.json`: the search's name, base recipe, command, space and number of trials.
    fn write_json(&self, trials: usize) -> Result<()> {
        write_atomic(
            &self.dir.join("search.json"),
            serde_json::to_string_pretty(&serde_json::json!({
                "name": self.name,
                "recipe": self.recipe,
                "command": self.command,
                "space": self.space,
                "trials": trials,
            }))?
            .as_bytes(),
        )?;
        Ok(())
    }

    /// `search.png`: a panel per key, the trials' values against their best validation
    /// accuracy, a colour per stage, hollow where a trial did not finish.
    fn write_scatter(&self, trials: &[Trial]) -> Result<()> {
        let last_stage = trials.iter().map(|t| t.stage).max().unwrap_or(0);
        let panels: Vec<ScatterPanel> = self
            .space
            .params
            .iter()
            .map(|(k, param)| ScatterPanel {
                title: k.clone(),
                x_label: k.clone(),
                y_label: "best validation accuracy %".into(),
                log_x: param.log(),
                groups: (0..=last_stage)
                    .map(|s| (format!("stage {s}"), stage_points(trials, s, k)))
                    .collect(),
            })
            .collect();
        let width = 560 * self.space.params.len() as u32 + 80;
        plot::scatter(&self.dir.join("search.png"), &panels, (width, 500))?;
        Ok(())
    }

    /// `best.toml`: the best values as a recipe extending the base, or holding the whole base
    /// when it came from a file (nested tables, ready for `convlab train`).
    fn write_best(&self, best: &Trial) -> Result<()> {
        // A built-in base is extended by name; a base read from a file is written out whole,
        // since `extends` follows no path.
        let mut table = if Path::new(self.recipe).is_file() {
            self.base.to_toml().parse::<toml::Table>()?
        } else {
            let mut t = toml::Table::new();
            t.insert(
                "extends".into(),
                toml::Value::String(self.recipe.to_string()),
            );
            t
        };
        table.insert(
            "description".into(),
            toml::Value::String(format!(
                "{} with the best values of search `{}` (stage {} trial {}, valid {:.2}%)",
                self.base.name,
                self.name,
                best.stage,
                best.index,
                best.best_valid_acc.unwrap_or(f64::NAN)
            )),
        );
        // Every value set as it was sampled, `false` included: the recipe says what it got.
        let values: Vec<Override> = best
            .values
            .iter()
            .map(|(k, v)| Override::set(k.as_str(), v.clone()))
            .collect();
        Override::apply_all(&mut table, &values)?;
        let path = self.dir.join("best.toml");
        let text = format!(
            "# Written by `{}`; train it with `convlab train {}`.\n{}",
            self.command,
            path.display(),
            toml::to_string(&table)?
        );
        write_atomic(&path, text.as_bytes())?;
        Ok(())
    }
}

/// Stage `stage`'s trials as (value of `key`, best validation accuracy, finished) points; a
/// trial without a number for the key or without a score is left out.
fn stage_points(trials: &[Trial], stage: usize, key: &str) -> plot::Points {
    trials
        .iter()
        .filter(|t| t.stage == stage)
        .filter_map(|t| {
            let v = t.values.get(key)?;
            let x = v.as_float().or_else(|| v.as_integer().map(|i| i as f64))?;
            Some((x, t.best_valid_acc?, t.status == RunState::Done))
        })
        .collect()
}

/// A TOML value as a CSV cell (strings without quotes).
fn plain(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

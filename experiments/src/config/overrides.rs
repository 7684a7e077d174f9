//! Overrides: one change to a recipe's TOML before it is read, typed from where it is written
//! (`--set key=value`, a suite's or a search's `set` tables, a budget, the planner) down to the
//! recipe: a key path and a TOML value, or the removal of an optional key.

use std::fmt;
use std::str::FromStr;

use crate::config::error::RecipeError;

/// Optional keys a suite, a budget or a search may remove by setting them to `false` in a `set`
/// table (a recipe cannot say "no limit" any other way).
pub const REMOVABLE: [&str; 8] = [
    "model.classes",
    "data.class_subset",
    "data.resize",
    "data.limit",
    "data.test_limit",
    "augment.crop",
    "augment.affine",
    "augment.erase",
];

/// One change to a recipe table. `key` is a dotted path (`optimizer.lr`, `model.width`).
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    /// Set the key (its parent tables created as needed) to the value.
    Set { key: String, value: toml::Value },
    /// Remove an optional key, if present. A removal wins over every `Set` of the same key in
    /// the same list, whatever the order: removals are applied last (a smoke budget that drops
    /// `data.limit` beats a suite's limit).
    Remove { key: String },
}

impl Override {
    pub fn set(key: impl Into<String>, value: impl Into<toml::Value>) -> Override {
        Override::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn remove(key: impl Into<String>) -> Override {
        Override::Remove { key: key.into() }
    }

    /// An entry of a `set` table (suites, budgets, searches): `false` on a [`REMOVABLE`] key
    /// removes it; anything else sets it.
    pub fn from_entry(key: &str, value: &toml::Value) -> Override {
        if value.as_bool() == Some(false) && REMOVABLE.contains(&key) {
            Override::remove(key)
        } else {
            Override::set(key, value.clone())
        }
    }

    /// Every entry of a `set` table, in the table's order.
    pub fn from_table(set: &toml::Table) -> Vec<Override> {
        set.iter()
            .map(|(k, v)| Override::from_entry(k, v))
            .collect()
    }

    pub fn key(&self) -> &str {
        match self {
            Override::Set { key, .. } | Override::Remove { key } => key,
        }
    }

    /// Applies `overrides` to a table: every `Set` in order, then every `Remove`.
    pub fn apply_all(table: &mut toml::Table, overrides: &[Override]) -> Result<(), RecipeError> {
        for o in overrides {
            if let Override::Set { key, value } = o {
                set_key(table, key, value.clone()).map_err(|part| {
                    RecipeError::Override(format!("{o} (`{part}` is not a table)"))
                })?;
            }
        }
        for o in overrides {
            if let Override::Remove { key } = o {
                remove_key(table, key);
            }
        }
        Ok(())
    }
}

/// The `--set` form: `key.path=value`, the value TOML (`0.05`, `true`, `[30, 60]`, `"sgd"`) or
/// else taken as a string. It never removes a key.
impl FromStr for Override {
    type Err = RecipeError;

    fn from_str(spec: &str) -> Result<Override, RecipeError> {
        let (key, raw) = spec
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| RecipeError::Override(spec.to_string()))?;
        let value = format!("v = {}", raw.trim())
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
        Ok(Override::set(key.trim(), value))
    }
}

/// `key=value` with the value written inline as TOML; a removal is written as the `set`
/// table entry that asks for it, `key=false`.
impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Override::Set { key, value } => write!(f, "{key}={value}"),
            Override::Remove { key } => write!(f, "{key}=false"),
        }
    }
}

/// Sets `a.b.c`, creating the tables on the way; the error names the part that is not a table.
fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(p.to_string()),
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Removes `a.b.c` from a table, if present.
fn remove_key(table: &mut toml::Table, key: &str) {
    match key.split_once('.') {
        None => {
            table.remove(key);
        }
        Some((head, rest)) => {
            if let Some(toml::Value::Table(t)) = table.get_mut(head) {
                remove_key(t, rest);
            }
        }
    }
}

//! Where a recipe's TOML comes from: the built-in recipes compiled into the binary or a
//! `.toml` path, with its `extends` chain merged (child over base) into one table.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::error::{RecipeError, Result};

/// Recipes shipped with convlab (experiments/recipes/*.toml), compiled into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("base-cifar", include_str!("../../recipes/base-cifar.toml")),
    ("vgg-cifar", include_str!("../../recipes/vgg-cifar.toml")),
    (
        "resnet20-cifar",
        include_str!("../../recipes/resnet20-cifar.toml"),
    ),
    (
        "resnet56-cifar",
        include_str!("../../recipes/resnet56-cifar.toml"),
    ),
    (
        "alexnet-cifar",
        include_str!("../../recipes/alexnet-cifar.toml"),
    ),
    (
        "googlenet-cifar",
        include_str!("../../recipes/googlenet-cifar.toml"),
    ),
    (
        "lenet-mnist",
        include_str!("../../recipes/lenet-mnist.toml"),
    ),
    (
        "lenet-fashion",
        include_str!("../../recipes/lenet-fashion.toml"),
    ),
    ("smoke", include_str!("../../recipes/smoke.toml")),
];

fn find_builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Recipe names for `convlab recipes` (bases that only exist to be extended included).
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Reads a recipe's TOML by name (built-in) or path (`*.toml`).
pub(crate) fn source(name_or_path: &str) -> Result<(String, String, Option<PathBuf>)> {
    if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
        let path = PathBuf::from(name_or_path);
        let text = std::fs::read_to_string(&path).map_err(|source| RecipeError::Read {
            path: path.clone(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok((name, text, path.parent().map(Path::to_path_buf)));
    }
    find_builtin(name_or_path)
        .map(|t| (name_or_path.to_string(), t.to_string(), None))
        .ok_or_else(|| RecipeError::Unknown {
            name: name_or_path.to_string(),
            known: builtin_names().join(", "),
        })
}

pub(crate) fn parse_table(recipe: &str, text: &str) -> Result<toml::Table> {
    text.parse::<toml::Table>()
        .map_err(|e| RecipeError::Syntax {
            recipe: recipe.to_string(),
            message: e.to_string(),
        })
}

/// Loads `name_or_path` with its `extends` chain merged (child over base), as a TOML table.
pub(crate) fn load_table(
    name_or_path: &str,
    seen: &mut BTreeSet<String>,
) -> Result<(String, toml::Table)> {
    let (name, text, dir) = source(name_or_path)?;
    let mut table = parse_table(&name, &text)?;
    if let Some(base) = table.remove("extends") {
        let base = base.as_str().ok_or_else(|| RecipeError::Field {
            recipe: name.clone(),
            key: "extends".into(),
            message: "expected the name of a recipe".into(),
        })?;
        // A name, never a path: a recipe (or one downloaded with a suite) must not make convlab
        // read, and echo in an error, any file on the machine.
        let plain = plain_name(base) && !base.ends_with(".toml");
        if !plain {
            return Err(RecipeError::Field {
                recipe: name.clone(),
                key: "extends".into(),
                message: format!(
                    "`{base}`: name a built-in recipe or a file beside this one (without `.toml`); paths are not followed"
                ),
            });
        }
        if !seen.insert(base.to_string()) {
            return Err(RecipeError::Cycle {
                recipe: name,
                base: base.to_string(),
            });
        }
        // A path-based recipe may extend a sibling file.
        let base_ref = match &dir {
            Some(d) if d.join(format!("{base}.toml")).is_file() => d
                .join(format!("{base}.toml"))
                .to_string_lossy()
                .into_owned(),
            _ => base.to_string(),
        };
        let (_, mut merged) = load_table(&base_ref, seen)?;
        merge(&mut merged, table);
        table = merged;
    }
    Ok((name, table))
}

/// Deep merge: tables merge key by key, everything else is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A name that stays one directory below where it is joined: not empty, not `.` or `..`, no
/// separator, no control characters (`train --name`, `search --name`, recipe names, `extends`).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

//! The house: within each crate, no module imports a module that imports it back (directly or
//! through others). A module's imports are the `crate::<module>` paths in its source; the
//! crate root (`lib.rs`) only declares and re-exports, so modules must name the module they
//! use rather than the root's re-export.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 5] = [
    "crates/blocks/src",
    "crates/kernels/src",
    "crates/models/src",
    "datasets/src",
    "experiments/src",
];

/// Top-level module name → the top-level modules it refers to through `crate::`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src dir") {
        let path: PathBuf = entry.expect("entry").path();
        let Some(name) = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|_| path.extension().is_some_and(|e| e == "rs"))
        else {
            continue;
        };
        if name == "lib" {
            continue;
        }
        modules.insert(name, std::fs::read_to_string(&path).expect("read"));
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .into_iter()
        .map(|(name, text)| {
            let mut deps = BTreeSet::new();
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let ident: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if ident.chars().next().is_some_and(char::is_uppercase) {
                    panic!(
                        "{}: `{name}` uses the crate root's re-export `crate::{ident}`",
                        src.display()
                    );
                }
                if names.contains(&ident) && ident != name {
                    deps.insert(ident);
                }
            }
            // Grouped imports: `use crate::{a, b::c}`.
            for (i, _) in code.match_indices("crate::{") {
                let body = &code[i + "crate::{".len()..];
                let body = &body[..body.find('}').unwrap_or(body.len())];
                for part in body.split(',') {
                    let ident: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if names.contains(&ident) && ident != name {
                        deps.insert(ident);
                    }
                }
            }
            (name, deps)
        })
        .collect()
}

/// A cycle through `start`, if any (depth-first search).
fn cycle_from(
    g: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    at: &str,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for next in g.get(at).into_iter().flatten() {
        if next == start {
            let mut c = path.clone();
            c.push(start.to_string());
            return Some(c);
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if let Some(c) = cycle_from(g, start, next, path, seen) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cycles = vec![];
    for krate in CRATES {
        let g = graph(&root.join(krate));
        assert!(g.len() > 3, "{krate}: modules found: {:?}", g.keys());
        for start in g.keys() {
            let mut path = vec![start.clone()];
            if let Some(c) = cycle_from(&g, start, start, &mut path, &mut BTreeSet::new()) {
                cycles.push(format!("{krate}: {}", c.join(" -> ")));
            }
        }
        println!("{krate}:");
        for (m, deps) in &g {
            println!(
                "  {m} -> {}",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

//! The house: the rules that keep each crate's modules readable as a building with floors.
//!
//! - In every crate, no module imports a module that imports it back (directly or through
//!   others). A module's imports are the `crate::<path>` paths in its source (comments left out);
//!   the crate root (`lib.rs`) only declares and re-exports, so modules must name the module they
//!   use rather than the root's re-export.
//! - In `experiments/src`, whose modules live in folders, the same holds between files and
//!   between folders, and the folders are floors: [`FLOORS`] lists them once, lowest first, and a
//!   file may import from its own floor and the ones below it, never from a floor above.
//! - Every folder of `experiments/src` is a declared floor, and every floor has a folder (a
//!   new folder must take its place in the order here).
//! - No unit test sits in a library that Cargo never tests (`[lib] test = false`, which every
//!   crate here sets to keep test binaries few): such a test would never run; tests go in the
//!   `tests/` binaries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 5] = [
    "crates/blocks/src",
    "crates/kernels/src",
    "crates/models/src",
    "datasets/src",
    "experiments/src",
];

/// The folders of `experiments/src`, lowest floor first. Each may use the floors before it.
const FLOORS: [&str; 8] = [
    "base",    // backends, metrics, loader, statistics, tables, plots
    "config",  // the TOML schemas: recipes, suites, overrides
    "record",  // the run directory and what a run writes into it
    "run",     // one training run, stage by stage; loading a finished one
    "sweep",   // plans of many runs, executors, reports
    "inspect", // CAM, predictions, ensembles of finished runs
    "perf",    // benchmarks, backend comparison
    "cli",     // the commands: clap arguments and thin handlers
];

/// Every module of a crate (by its path below the crate root: `a`, `a::b`) with its source.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("src dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .expect("file name");
            if path.is_dir() {
                if name == "bin" && prefix.is_empty() {
                    continue;
                }
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let mut p = prefix.to_vec();
            match name.as_str() {
                "lib" if prefix.is_empty() => continue,
                "mod" => {}
                _ => p.push(name),
            }
            out.insert(
                p.join("::"),
                std::fs::read_to_string(&path).expect("read source"),
            );
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The `crate::…` paths a source names (outside comments), as written up to the first
/// non-path character: `crate::run::model::load(` gives `run::model::load`.
fn crate_paths(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = vec![];
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // the end of a longer name (`other_crate::`)
        }
        let rest = &code[i + "crate::".len()..];
        let written: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let path = written.trim_end_matches(':');
        if let Some(group) = rest[written.len()..].strip_prefix('{') {
            // `crate::{a, b}` or `crate::run::{data, model}`.
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{path}::")
            };
            paths.extend(grouped(group).into_iter().map(|p| format!("{prefix}{p}")));
        } else if !path.is_empty() {
            paths.push(path.to_string());
        }
    }
    paths
}

/// The paths of a grouped import's body (after `crate::{`), to its closing brace: `a::b, c`
/// gives `a::b` and `c`; a nested group `d::{e, f}` gives `d::e` and `d::f`.
fn grouped(body: &str) -> Vec<String> {
    let mut depth = 0;
    let mut end = body.len();
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                end = i;
                break;
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    let body = &body[..end];
    let mut parts = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    let mut out = vec![];
    for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once("::{") {
            Some((head, inner)) => {
                out.extend(grouped(inner).into_iter().map(|p| format!("{head}::{p}")))
            }
            None => out.push(
                part.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect::<String>()
                    .trim_end_matches(':')
                    .to_string(),
            ),
        }
    }
    out
}

/// Module → the modules it imports: each path resolves to the longest module it starts with.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, text)| {
            let mut deps = BTreeSet::new();
            for path in crate_paths(text) {
                let first = path.split("::").next().unwrap_or_default();
                if first.chars().next().is_some_and(char::is_uppercase) {
                    panic!(
                        "{}: `{name}` uses the crate root's re-export `crate::{path}`",
                        src.display()
                    );
                }
                let segments: Vec<&str> = path.split("::").collect();
                let target = (1..=segments.len())
                    .rev()
                    .map(|n| segments[..n].join("::"))
                    .find(|p| names.contains(p));
                if let Some(t) = target.filter(|t| t != name) {
                    deps.insert(t);
                }
            }
            (name.clone(), deps)
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

fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = vec![];
    for start in g.keys() {
        let mut path = vec![start.clone()];
        if let Some(c) = cycle_from(g, start, start, &mut path, &mut BTreeSet::new()) {
            out.push(c.join(" -> "));
        }
    }
    out
}

/// The folder (first path segment) of a module.
fn folder(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// The folder graph: folder → the other folders its files import.
fn folders(g: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in g {
        let entry = out.entry(folder(m).to_string()).or_default();
        for d in deps {
            if folder(d) != folder(m) {
                entry.insert(folder(d).to_string());
            }
        }
    }
    out
}

/// Imports from a folder to a folder on a higher floor, as `file -> file`.
fn upward(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let floor = |m: &str| FLOORS.iter().position(|f| *f == folder(m));
    let mut out = vec![];
    for (m, deps) in g {
        for d in deps {
            if let (Some(a), Some(b)) = (floor(m), floor(d))
                && b > a
            {
                out.push(format!("{m} ({}) -> {d} ({})", FLOORS[a], FLOORS[b]));
            }
        }
    }
    out
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = vec![];
    for krate in CRATES {
        let g = graph(&root.join(krate));
        assert!(g.len() > 3, "{krate}: modules found: {:?}", g.keys());
        found.extend(cycles(&g).into_iter().map(|c| format!("{krate}: {c}")));
        println!("{krate}:");
        for (m, deps) in &g {
            println!(
                "  {m} -> {}",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn experiments_folders_are_floors_used_from_above_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/src");
    let g = graph(&src);
    let on_disk: BTreeSet<String> = g.keys().map(|m| folder(m).to_string()).collect();
    let declared: BTreeSet<String> = FLOORS.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        on_disk, declared,
        "experiments/src: every module lives in a folder declared in FLOORS, and every floor exists"
    );
    let folder_graph = folders(&g);
    for (f, deps) in &folder_graph {
        println!(
            "{f} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let folder_cycles = cycles(&folder_graph);
    assert!(
        folder_cycles.is_empty(),
        "folder cycles:\n{}",
        folder_cycles.join("\n")
    );
    let up = upward(&g);
    assert!(
        up.is_empty(),
        "imports from a lower floor to a higher one:\n{}",
        up.join("\n")
    );
}

/// The rules catch what they are meant to: a made-up graph with an upward arrow and a cycle.
#[test]
fn the_rules_see_an_upward_arrow_and_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("base::table".into())
        .or_default()
        .insert("cli::data".into());
    g.entry("cli::data".into())
        .or_default()
        .insert("base::table".into());
    g.entry("run::model".into())
        .or_default()
        .insert("config::recipe".into());
    assert_eq!(
        upward(&g),
        vec!["base::table (base) -> cli::data (cli)".to_string()]
    );
    assert_eq!(cycles(&folders(&g)).len(), 2);
    assert!(
        cycles(&g)
            .iter()
            .any(|c| c == "base::table -> cli::data -> base::table")
    );
    assert_eq!(
        crate_paths(
            "use crate::run::model::load;\n// crate::cli\nlet x = crate::base::table::new(&[]);"
        ),
        vec![
            "run::model::load".to_string(),
            "base::table::new".to_string()
        ]
    );
}

#[test]
fn no_unit_test_sits_where_cargo_never_runs_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut hidden = Vec::new();
    for src in CRATES {
        let manifest = std::fs::read_to_string(root.join(src).join("../Cargo.toml"))
            .expect("the crate's Cargo.toml");
        let lib = manifest
            .split("\n[")
            .find(|section| section.starts_with("lib]"))
            .unwrap_or_default();
        if !lib.lines().any(|l| l.replace(' ', "") == "test=false") {
            continue;
        }
        for (module, text) in modules(&root.join(src)) {
            if text.contains("#[test]") || text.contains("#[cfg(test)]") {
                hidden.push(format!("{src}: {module}"));
            }
        }
    }
    assert!(
        hidden.is_empty(),
        "unit tests in libraries with `[lib] test = false` never run (move them to tests/): {hidden:?}"
    );
}

//! The recipe key reference, generated from the recipe types' JSON schema (schemars): every key
//! a recipe may set, with its type, its default and its meaning (the field's doc comment), so
//! `convlab recipe keys` and README's table cannot drift from what recipes accept.

use serde_json::Value;

use crate::config::recipe::Recipe;

/// One recipe key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDoc {
    /// Dotted path, e.g. `optimizer.lr`.
    pub key: String,
    /// `integer`, `number`, `boolean`, `string`, `[number, number]`, `"a" | "b"`, …
    pub kind: String,
    /// The value when the key is left out: `required`, a value, or `—` (chosen from the
    /// architecture, the dataset or the rest of the recipe).
    pub default: String,
    /// The field's doc comment, on one line.
    pub meaning: String,
}

/// Every key of a recipe, in the order of the recipe's sections.
pub fn reference() -> Vec<KeyDoc> {
    let schema = schemars::schema_for!(Recipe);
    let root = schema.as_value();
    let mut out = Vec::new();
    section(root, root, "", &mut out);
    out
}

/// `node` with a `$ref` replaced by its definition (a single-entry `allOf` too).
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        if let Some(def) = root.get("$defs").and_then(|d| d.get(name)) {
            return resolve(root, def);
        }
    }
    if let Some([one]) = node
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return resolve(root, one);
    }
    node
}

/// The non-null alternative of an optional value (`anyOf: [T, null]`), resolved.
fn unwrap_optional<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let node = resolve(root, node);
    for k in ["anyOf", "oneOf"] {
        if let Some(alts) = node.get(k).and_then(Value::as_array) {
            let real: Vec<&Value> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if real.len() == 1 && real.len() < alts.len() {
                return resolve(root, real[0]);
            }
        }
    }
    node
}

fn section(root: &Value, node: &Value, prefix: &str, out: &mut Vec<KeyDoc>) {
    let node = unwrap_optional(root, node);
    let Some(props) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        // Set from the file name, never written in a recipe.
        if prefix.is_empty() && name == "name" {
            continue;
        }
        let key = format!("{prefix}{name}");
        let target = unwrap_optional(root, prop);
        if target.get("properties").is_some() {
            section(root, prop, &format!("{key}."), out);
            continue;
        }
        let meaning = prop
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let default = match prop.get("default") {
            Some(Value::Null) | None if required.contains(&name.as_str()) => "required".into(),
            Some(Value::Null) | None => "—".into(),
            Some(v) => toml_value(v),
        };
        out.push(KeyDoc {
            key,
            kind: kind(root, target),
            default,
            meaning,
        });
    }
}

/// A JSON default as a recipe would write it.
fn toml_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

fn kind(root: &Value, node: &Value) -> String {
    let node = unwrap_optional(root, node);
    let mut names: Vec<String> = node
        .get("enum")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .map(|s| format!("\"{s}\""))
                .collect()
        })
        .unwrap_or_default();
    for k in ["oneOf", "anyOf"] {
        for alt in node.get(k).and_then(Value::as_array).into_iter().flatten() {
            let alt = resolve(root, alt);
            if let Some(c) = alt.get("const").and_then(Value::as_str) {
                names.push(format!("\"{c}\""));
            }
            for e in alt
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = e.as_str() {
                    names.push(format!("\"{s}\""));
                }
            }
        }
    }
    if !names.is_empty() {
        return if names.len() > 8 {
            format!("string ({} names)", names.len())
        } else {
            names.join(" \\| ")
        };
    }
    let ty = match node.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("value")
            .to_string(),
        _ => "value".into(),
    };
    if ty != "array" {
        return ty;
    }
    if let Some(items) = node.get("prefixItems").and_then(Value::as_array) {
        return format!(
            "[{}]",
            items
                .iter()
                .map(|i| kind(root, i))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    match node.get("items") {
        Some(i) => format!("list of {}", kind(root, i)),
        None => "list".into(),
    }
}

/// The reference as a Markdown table (README's, and `convlab recipe keys`).
pub fn markdown() -> String {
    let mut s = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for k in reference() {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.key,
            k.kind,
            if k.default == "required" || k.default == "—" {
                k.default.clone()
            } else {
                format!("`{}`", k.default)
            },
            k.meaning.replace('|', "\\|")
        ));
    }
    s
}

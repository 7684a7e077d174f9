//! Printed tables (comfy-table, Markdown-style ASCII so they paste into notes): columns whose
//! cells are all numbers are right-aligned.

use comfy_table::{CellAlignment, Table as Inner, presets};

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

pub fn new(header: &[&str]) -> Table {
    Table {
        header: header.iter().map(|h| h.to_string()).collect(),
        rows: vec![],
    }
}

fn numeric(cell: &str) -> bool {
    let c = cell.trim().trim_end_matches('%').replace(',', "");
    !c.is_empty() && (c.parse::<f64>().is_ok() || c == "-")
}

impl Table {
    pub fn add_row(&mut self, row: Vec<String>) -> &mut Self {
        self.rows.push(row);
        self
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = Inner::new();
        t.load_preset(presets::ASCII_MARKDOWN);
        t.set_header(self.header.clone());
        for r in &self.rows {
            t.add_row(r.clone());
        }
        for i in 0..self.header.len() {
            let right = !self.rows.is_empty()
                && self
                    .rows
                    .iter()
                    .all(|r| r.get(i).is_none_or(|c| numeric(c)));
            if right && let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        writeln!(f, "{t}")
    }
}

/// 61100840 → "61,100,840".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

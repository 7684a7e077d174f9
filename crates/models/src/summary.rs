//! The per-layer table behind `convlab summary`.

use std::fmt::Write as _;

use convlab_blocks::{LayerRow, Shape};
use serde::Serialize;

use crate::arch::Arch;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub arch: Arch,
    pub input: [usize; 3],
    pub output: Shape,
    pub rows: Vec<LayerRow>,
    pub total_params: u64,
    pub total_macs: u64,
}

impl Summary {
    pub fn new(arch: Arch, input: [usize; 3], output: Shape, rows: Vec<LayerRow>) -> Self {
        let total_params = rows.iter().map(|r| r.params).sum();
        let total_macs = rows.iter().map(|r| r.macs).sum();
        Self {
            arch,
            input,
            output,
            rows,
            total_params,
            total_macs,
        }
    }

    pub fn empty(arch: Arch, input: [usize; 3]) -> Self {
        Self::new(arch, input, Shape::Vector(0), vec![])
    }

    /// The table: layer path, kind, output shape, parameters, MACs; the last line is
    /// `total params: <N>  MACs: <M>`.
    pub fn render(&self) -> String {
        let headers = ["layer", "kind", "output", "params", "MACs"];
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.path.clone(),
                    r.kind.clone(),
                    r.output.to_string(),
                    r.params.to_string(),
                    r.macs.to_string(),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let [c, h, w] = self.input;
        let _ = writeln!(
            out,
            "{} (input {c}x{h}x{w}, output {})",
            self.arch, self.output
        );
        let line = |out: &mut String, row: [&str; 5]| {
            let _ = writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4]
            );
        };
        line(&mut out, headers);
        for row in &cells {
            line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
        let _ = write!(
            out,
            "total params: {}  MACs: {}",
            self.total_params, self.total_macs
        );
        out
    }
}

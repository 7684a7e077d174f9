//! The per-layer table behind `convlab summary`.

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
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::ASCII_MARKDOWN)
            .set_header(["layer", "kind", "output", "params", "MACs"]);
        for r in &self.rows {
            t.add_row([
                r.path.clone(),
                r.kind.clone(),
                r.output.to_string(),
                r.params.to_string(),
                r.macs.to_string(),
            ]);
        }
        for i in [3, 4] {
            if let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(comfy_table::CellAlignment::Right);
            }
        }
        let [c, h, w] = self.input;
        format!(
            "{} (input {c}x{h}x{w}, output {})\n{t}\ntotal params: {}  MACs: {}",
            self.arch, self.output, self.total_params, self.total_macs
        )
    }
}

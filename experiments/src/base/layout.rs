//! Where a chart's labels go, computed before anything is drawn so that tests can check the
//! geometry: colours that stay distinct for many series, a legend beside the plot (never over
//! the data) in as many columns as its entries need, and bar labels turned upright when they
//! would not fit side by side.

/// Approximate advance of one character of the embedded DejaVu Sans at `size` px (its mean
/// glyph width is about 0.6 em).
pub fn text_width(text: &str, size: u32) -> u32 {
    (text.chars().count() as f64 * 0.6 * size as f64).ceil() as u32
}

/// The colour of series `i` of `n`: the ten-colour palette while it suffices; beyond ten,
/// hues spread evenly around the circle, neighbours alternating between a light and a dark
/// shade, so no two series share a colour.
pub fn colour_of(i: usize, n: usize) -> (u8, u8, u8) {
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if n <= C.len() {
        return C[i % C.len()];
    }
    let hue = 360.0 * i as f64 / n as f64;
    let (s, v) = if i.is_multiple_of(2) {
        (0.85, 0.85)
    } else {
        (0.9, 0.5)
    };
    hsv(hue, s, v)
}

fn hsv(h: f64, s: f64, v: f64) -> (u8, u8, u8) {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |u: f64| ((u + m) * 255.0).round() as u8;
    (to(r), to(g), to(b))
}

/// A box in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w as i32
            && o.x < self.x + self.w as i32
            && self.y < o.y + o.h as i32
            && o.y < self.y + self.h as i32
    }
}

/// The legend column: font size, row height, and the swatch before each name.
pub const LEGEND_FONT: u32 = 12;
const ROW: u32 = 18;
const SWATCH: u32 = 22;
const PAD: u32 = 10;

/// Each name's box in a legend area `height` px tall (rows top to bottom, then the next
/// column), and the legend's width. Every name gets a box; none overlaps another.
pub fn legend(names: &[String], height: u32) -> (Vec<Rect>, u32) {
    let rows = ((height.saturating_sub(2 * PAD)) / ROW).max(1) as usize;
    let col_w = SWATCH
        + names
            .iter()
            .map(|n| text_width(n, LEGEND_FONT))
            .max()
            .unwrap_or(0)
        + PAD;
    let boxes = names
        .iter()
        .enumerate()
        .map(|(i, _)| Rect {
            x: (PAD + (i / rows) as u32 * col_w) as i32,
            y: (PAD + (i % rows) as u32 * ROW) as i32,
            w: col_w - PAD / 2,
            h: ROW - 2,
        })
        .collect();
    let cols = names.len().div_ceil(rows) as u32;
    (boxes, PAD + cols * col_w)
}

/// How a bar chart labels its bars: upright (rotated) when the longest label is wider than a
/// bar's slot, and how tall the label area must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarLabels {
    pub upright: bool,
    pub area: u32,
}

pub const BAR_FONT: u32 = 13;

pub fn bar_labels(labels: &[String], slot: u32) -> BarLabels {
    let widest = labels
        .iter()
        .map(|l| text_width(l, BAR_FONT))
        .max()
        .unwrap_or(0);
    if widest + 6 <= slot {
        BarLabels {
            upright: false,
            area: BAR_FONT + 40,
        }
    } else {
        BarLabels {
            upright: true,
            area: widest + 24,
        }
    }
}

/// The boxes of bar labels centred under `n` slots of `slot` px starting at `left`: side by
/// side, or upright (a font's height wide, the text's width tall).
pub fn bar_label_boxes(labels: &[String], left: i32, slot: u32, how: BarLabels) -> Vec<Rect> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let centre = left + (i as u32 * slot + slot / 2) as i32;
            let (w, h) = if how.upright {
                (BAR_FONT, text_width(l, BAR_FONT))
            } else {
                (text_width(l, BAR_FONT), BAR_FONT)
            };
            Rect {
                x: centre - (w / 2) as i32,
                y: 8,
                w,
                h,
            }
        })
        .collect()
}

/// The width a bar chart needs so each of `n` bars gets at least a label's height of room.
pub fn bars_width(n: usize, min: u32) -> u32 {
    min.max(140 + n as u32 * (BAR_FONT + 13))
}

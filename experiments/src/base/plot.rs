//! PNG charts drawn with plotters (text in an embedded DejaVu Sans, so no system font library
//! is needed): line charts of curves and bar charts with error bars.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::base::layout;
use plotters::style::text_anchor::{HPos, Pos, VPos};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A distinguishable colour for series `i`: the ten-colour palette, repeating.
pub fn colour(i: usize) -> RGBColor {
    series_colour(i % 10, 10)
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    // A flat series (a constant learning rate) gets a visible band around its value; an
    // all-zero one (no dead units) the band ±1.
    let size = hi.abs().max(lo.abs());
    let pad = if hi - lo > 1e-9 * size.max(1e-12) {
        (hi - lo) * 0.05
    } else if size == 0.0 {
        1.0
    } else {
        (size * 0.05).max(1e-9)
    };
    (lo - pad, hi + pad)
}

/// One panel of a line chart: a title, axis labels and named series of (x, y) points.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    pub log_x: bool,
    /// Per series, an error bar (± this much) for each point; empty: none.
    pub errors: Vec<Vec<f64>>,
}

/// The series names of all panels, each once, in order of appearance: the legend's entries
/// and the colours' indices.
pub fn legend_names(panels: &[Panel<'_>]) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for (name, _) in panels.iter().flat_map(|p| p.series.iter()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Panels side by side in one PNG, with one legend for all of them in a column to the right
/// (when there is more than one series), as wide as its entries need.
pub fn lines(path: &Path, panels: &[Panel<'_>], size: (u32, u32)) -> Result<()> {
    register_font();
    let e = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let names = legend_names(panels);
    let (boxes, legend_w) = if names.len() > 1 {
        layout::legend(&names, size.1)
    } else {
        (vec![], 0)
    };
    let root = BitMapBackend::new(path, (size.0 + legend_w, size.1)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (plots, legend_area) = root.split_horizontally(size.0);
    let areas = plots.split_evenly((1, panels.len().max(1)));
    for (panel, area) in panels.iter().zip(areas) {
        line_panel(&area, panel, &names, path)?;
    }
    for (i, (name, b)) in names.iter().zip(&boxes).enumerate() {
        let c = series_colour(i, names.len());
        let y = b.y + b.h as i32 / 2;
        legend_area
            .draw(&PathElement::new(
                vec![(b.x, y), (b.x + 16, y)],
                c.stroke_width(3),
            ))
            .map_err(|x| e(&x))?;
        legend_area
            .draw(&Text::new(
                name.clone(),
                (b.x + 22, y),
                TextStyle::from(("sans-serif", layout::LEGEND_FONT).into_font())
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// Series `i` of `n`'s colour ([`layout::colour_of`]).
pub fn series_colour(i: usize, n: usize) -> RGBColor {
    let (r, g, b) = layout::colour_of(i, n);
    RGBColor(r, g, b)
}

/// The x axis of a line panel: its range, whether every x is a whole number (epochs), and
/// how many tick labels it gets.
struct XAxis {
    lo: f64,
    hi: f64,
    whole: bool,
    ticks: usize,
}

impl XAxis {
    fn of(panel: &Panel<'_>) -> Self {
        let (mut lo, mut hi) = bounds(panel.series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)));
        // Whole-number x (epochs): a range of at least one on each side of the points, labels
        // without decimals.
        let whole = panel
            .series
            .iter()
            .all(|(_, p)| p.iter().all(|q| q.0.fract() == 0.0));
        if whole && !panel.log_x {
            (lo, hi) = (
                (lo + 0.05 * (hi - lo)).floor() - 0.5,
                (hi - 0.05 * (hi - lo)).ceil() + 0.5,
            );
        }
        let ticks = if whole {
            ((hi - lo).floor() as usize).clamp(2, 12)
        } else {
            10
        };
        Self {
            lo,
            hi,
            whole,
            ticks,
        }
    }
}

/// One panel of [`lines`] in its area: the caption and axes (x on a log scale when asked and
/// every x is positive), then the series.
fn line_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel<'_>,
    names: &[String],
    path: &Path,
) -> Result<()> {
    let e = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let axis = XAxis::of(panel);
    // The y range holds the error bars too.
    let err = |i: usize, k: usize| {
        panel
            .errors
            .get(i)
            .and_then(|e| e.get(k))
            .copied()
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
    };
    let (y0, y1) = bounds(panel.series.iter().enumerate().flat_map(|(i, (_, p))| {
        p.iter()
            .enumerate()
            .flat_map(move |(k, q)| [q.1 - err(i, k), q.1 + err(i, k)])
    }));
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56);
    if panel.log_x && axis.lo > 0.0 {
        let chart = builder
            .build_cartesian_2d((axis.lo..axis.hi).log_scale(), y0..y1)
            .map_err(|x| e(&x))?;
        draw_lines(chart, panel, names, &axis, path)
    } else {
        let chart = builder
            .build_cartesian_2d(axis.lo..axis.hi, y0..y1)
            .map_err(|x| e(&x))?;
        draw_lines(chart, panel, names, &axis, path)
    }
}

/// The mesh and each series as a line with its points marked (and error bars where given),
/// coloured by its place among `names` (the legend is drawn beside the panels), on a chart
/// whose x axis is `X` (linear or logarithmic).
fn draw_lines<'a, X>(
    mut chart: ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    panel: &Panel<'_>,
    names: &[String],
    axis: &XAxis,
    path: &Path,
) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let whole = axis.whole;
    chart
        .configure_mesh()
        .x_labels(axis.ticks)
        .x_label_formatter(&|x: &f64| {
            if whole {
                format!("{x:.0}")
            } else {
                format!("{x}")
            }
        })
        .x_desc(panel.x_label)
        .y_desc(panel.y_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|x| e(&x))?;
    for (i, (name, pts)) in panel.series.iter().enumerate() {
        let k = names.iter().position(|n| n == name).unwrap_or(i);
        let c = series_colour(k, names.len().max(1));
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.filled())))
            .map_err(|x| e(&x))?;
        if let Some(errors) = panel.errors.get(i) {
            chart
                .draw_series(
                    pts.iter()
                        .zip(errors)
                        .filter(|(_, s)| s.is_finite() && **s > 0.0)
                        .map(|(&(x, y), s)| {
                            ErrorBar::new_vertical(x, y - s, y, y + s, c.stroke_width(1), 8)
                        }),
                )
                .map_err(|x| e(&x))?;
        }
    }
    Ok(())
}

/// One bar: its label, mean, standard deviation (NaN for none) and a reference value to mark.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub spread: f64,
    pub reference: Option<f64>,
}

/// A bar chart with error bars and reference markers (e.g. published numbers). Wider than
/// `size` when many bars need room; labels turn upright when they would not fit side by side
/// ([`layout::bar_labels`]).
pub fn bars(path: &Path, title: &str, y_label: &str, bars: &[Bar], size: (u32, u32)) -> Result<()> {
    register_font();
    let e = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let n = bars.len().max(1);
    let width = layout::bars_width(n, size.0);
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let how = layout::bar_labels(&labels, bar_slot(width, n));
    let height = size.1 + how.area.saturating_sub(BAR_LABEL_AREA);
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    // A missing spread (one seed: NaN) draws no error bar.
    let spread = |b: &Bar| {
        if b.spread.is_finite() {
            b.spread.max(0.0)
        } else {
            0.0
        }
    };
    let (mut y0, y1) = bounds(bars.iter().flat_map(|b| {
        [b.value - spread(b), b.value + spread(b)]
            .into_iter()
            .chain(b.reference)
    }));
    // Bars start at zero (a cut axis makes small differences look large); the table in
    // summary.md has the exact numbers.
    if y0 > 0.0 {
        y0 = 0.0;
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(BAR_MARGIN)
        .x_label_area_size(how.area)
        .y_label_area_size(BAR_Y_AREA)
        .build_cartesian_2d(0f64..n as f64, y0..y1)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|_| String::new())
        .y_desc(y_label)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|x| e(&x))?;
    for (i, b) in bars.iter().enumerate() {
        let x = i as f64;
        let c = colour(i);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x + 0.15, y0), (x + 0.85, b.value)],
                c.mix(0.75).filled(),
            )))
            .map_err(|x| e(&x))?;
        if b.spread.is_finite() && b.spread > 0.0 {
            chart
                .draw_series(std::iter::once(ErrorBar::new_vertical(
                    x + 0.5,
                    b.value - b.spread,
                    b.value,
                    b.value + b.spread,
                    BLACK.stroke_width(2),
                    10,
                )))
                .map_err(|x| e(&x))?;
        }
        // The variant's name under its bar, upright when the names would collide.
        let (px, py) = chart.backend_coord(&(x + 0.5, y0));
        let font = ("sans-serif", layout::BAR_FONT).into_font();
        let style = if how.upright {
            TextStyle::from(font.transform(FontTransform::Rotate90))
                .pos(Pos::new(HPos::Left, VPos::Center))
        } else {
            TextStyle::from(font).pos(Pos::new(HPos::Center, VPos::Top))
        };
        root.draw(&Text::new(b.label.clone(), (px, py + 8), style))
            .map_err(|x| e(&x))?;
        if let Some(r) = b.reference {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x + 0.1, r), (x + 0.9, r)],
                    BLACK.stroke_width(3),
                )))
                .map_err(|x| e(&x))?;
        }
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

const BAR_MARGIN: u32 = 14;
const BAR_Y_AREA: u32 = 60;
/// The label area a bar chart of `size` has room for without growing.
const BAR_LABEL_AREA: u32 = 70;

/// The width in pixels of one bar's slot in a chart `width` wide.
pub fn bar_slot(width: u32, n: usize) -> u32 {
    width.saturating_sub(2 * BAR_MARGIN + BAR_Y_AREA) / n.max(1) as u32
}

/// Points of a scatter group: x, y, and whether the point is filled.
pub type Points = Vec<(f64, f64, bool)>;

/// One panel of a scatter chart: groups of (x, y, filled) points; hollow points are the ones
/// that did not finish (e.g. trials stopped by successive halving).
pub struct ScatterPanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub groups: Vec<(String, Points)>,
}

/// A tick label: plain digits between 0.001 and 100,000 (four significant), else scientific.
fn short(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.1e}")
    }
}

/// Scatter panels side by side in one PNG (x on a log scale where asked).
pub fn scatter(path: &Path, panels: &[ScatterPanel], size: (u32, u32)) -> Result<()> {
    register_font();
    let e = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (panel, area) in panels.iter().zip(areas) {
        let points = || panel.groups.iter().flat_map(|(_, p)| p.iter());
        let (y0, y1) = bounds(points().map(|p| p.1));
        let mut builder = ChartBuilder::on(&area);
        builder
            .caption(&panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(panel.x_label.as_str())
                    .y_desc(panel.y_label.as_str())
                    .x_labels(7)
                    .x_label_formatter(&|x| short(*x))
                    .light_line_style(WHITE)
                    .label_style(("sans-serif", 12))
                    .draw()
                    .map_err(|x| e(&x))?;
                for (i, (name, pts)) in panel.groups.iter().enumerate() {
                    let c = colour(i);
                    chart
                        .draw_series(pts.iter().map(|&(x, y, filled)| {
                            let style = if filled {
                                c.filled()
                            } else {
                                c.stroke_width(2)
                            };
                            Circle::new((x, y), 5, style)
                        }))
                        .map_err(|x| e(&x))?
                        .label(name.as_str())
                        .legend(move |(x, y)| Circle::new((x + 8, y), 5, c.filled()));
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .label_font(("sans-serif", 12))
                    .draw()
                    .map_err(|x| e(&x))?;
            }};
        }
        if panel.log_x {
            let (lo, hi) = points()
                .map(|p| p.0)
                .filter(|x| *x > 0.0)
                .fold((f64::INFINITY, 0f64), |(a, b), x| (a.min(x), b.max(x)));
            let (lo, hi) = if lo.is_finite() && hi > 0.0 {
                (lo / 1.5, hi * 1.5)
            } else {
                (1e-3, 1.0)
            };
            draw!(
                builder
                    .build_cartesian_2d((lo..hi).log_scale(), y0..y1)
                    .map_err(|x| e(&x))?
            );
        } else {
            let (x0, x1) = bounds(points().map(|p| p.0));
            draw!(
                builder
                    .build_cartesian_2d(x0..x1, y0..y1)
                    .map_err(|x| e(&x))?
            );
        }
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

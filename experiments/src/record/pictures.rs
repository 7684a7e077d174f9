//! Pictures a run leaves in its directory: `curves.png` (loss, top-1 and learning rate per
//! epoch, redrawn after every epoch), `filters-init.png` and `filters-best.png` (the first
//! convolution's filters at initialisation and at the best epoch) and `confusion.png` (the test
//! split's confusion matrix). Each is written to a temporary file and renamed into place.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use burn::store::ModuleSnapshot;
use convlab_models::Model;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::base::plot::{self, Panel};
use crate::record::rundir::EpochRow;

/// Draws into `<path>.tmp.png` with `draw`, then renames it to `path`.
pub(crate) fn atomically(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension("tmp.png");
    draw(&tmp)?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// `curves.png`: training and validation loss, training and validation top-1, and the
/// learning rate, per epoch.
pub fn curves(path: &Path, title: &str, rows: &[EpochRow]) -> Result<()> {
    let series = |f: &dyn Fn(&EpochRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .map(|r| (r.epoch as f64, f(r)))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let loss_title = format!("{title}: loss");
    let panels = [
        Panel {
            title: &loss_title,
            x_label: "epoch",
            y_label: "cross entropy",
            series: vec![
                ("train".into(), series(&|r| r.train_loss)),
                ("valid".into(), series(&|r| r.valid_loss)),
            ],
            log_x: false,
            errors: vec![],
        },
        Panel {
            title: "top-1",
            x_label: "epoch",
            y_label: "%",
            series: vec![
                ("train".into(), series(&|r| r.train_acc)),
                ("valid".into(), series(&|r| r.valid_acc)),
            ],
            log_x: false,
            errors: vec![],
        },
        Panel {
            title: "learning rate (end of epoch)",
            x_label: "epoch",
            y_label: "lr",
            series: vec![("lr".into(), series(&|r| r.lr))],
            log_x: false,
            errors: vec![],
        },
    ];
    atomically(path, |tmp| plot::lines(tmp, &panels, (1500, 450)))
}

/// The first convolution's weights `[out, in, kh, kw]` and their values.
fn first_conv(model: &Model) -> Option<(Vec<usize>, Vec<f32>)> {
    model
        .collect(None, None, true)
        .into_iter()
        .find(|t| t.shape.as_slice().len() == 4 && t.name.ends_with("weight"))
        .and_then(|t| {
            let shape = t.shape.as_slice().to_vec();
            let bytes = t.to_bytes().ok()?;
            let values = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Some((shape, values))
        })
}

/// The first convolution's filters as an image grid, each filter scaled to its own range (RGB
/// for three input channels, grey otherwise: the mean over channels), enlarged to about 48
/// pixels a side. Returns the grid's size, or `None` when the model has no convolution.
pub fn filters(path: &Path, model: &Model) -> Result<Option<(u32, u32)>> {
    let Some((shape, w)) = first_conv(model) else {
        return Ok(None);
    };
    let (out, cin, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    let cols = (out as f64).sqrt().ceil() as usize;
    let rows = out.div_ceil(cols);
    let scale = (48 / kh.max(kw)).max(1);
    let (th, tw) = (kh * scale, kw * scale);
    let gap = 2;
    let width = (cols * (tw + gap) + gap) as u32;
    let height = (rows * (th + gap) + gap) as u32;
    let mut img = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let per = cin * kh * kw;
    for f in 0..out {
        let vals = &w[f * per..(f + 1) * per];
        let (lo, hi) = vals
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let norm = |v: f32| -> u8 {
            if hi > lo {
                (((v - lo) / (hi - lo)) * 255.0).round() as u8
            } else {
                128
            }
        };
        let (r0, c0) = (f / cols, f % cols);
        for y in 0..kh {
            for x in 0..kw {
                let at = |c: usize| vals[c * kh * kw + y * kw + x];
                let px = if cin == 3 {
                    image::Rgb([norm(at(0)), norm(at(1)), norm(at(2))])
                } else {
                    let m = (0..cin).map(at).sum::<f32>() / cin as f32;
                    let g = norm(m);
                    image::Rgb([g, g, g])
                };
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(
                            (gap + c0 * (tw + gap) + x * scale + dx) as u32,
                            (gap + r0 * (th + gap) + y * scale + dy) as u32,
                            px,
                        );
                    }
                }
            }
        }
    }
    atomically(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| anyhow!("{}: {e}", tmp.display()))
    })?;
    Ok(Some((width, height)))
}

/// `confusion.png`: the confusion matrix, rows the true class, columns the prediction, each
/// cell shaded by its share of the row, with the counts written in (up to 20 classes).
pub fn confusion(path: &Path, title: &str, m: &[Vec<u64>], names: &[String]) -> Result<()> {
    let n = m.len();
    if n == 0 {
        return Ok(());
    }
    let grid = Grid {
        n,
        cell: (640 / n as u32).clamp(16, 64),
        left: 150,
        top: 50,
    };
    let side = grid.side();
    plot::register_font();
    atomically(path, |tmp| {
        let e = |x: &dyn std::fmt::Display| anyhow!("{}: {x}", tmp.display());
        let root = BitMapBackend::new(tmp, (grid.left + side + 20, grid.top + side + 110))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        root.draw(&Text::new(
            title.to_string(),
            (10, 12),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(|x| e(&x))?;
        for (i, row) in m.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            for (j, &v) in row.iter().enumerate() {
                confusion_cell(&root, tmp, grid, (i, j), v, v as f64 / total)?;
            }
            let name = names.get(i).cloned().unwrap_or_else(|| i.to_string());
            root.draw(&Text::new(
                name,
                (
                    8,
                    (grid.top + i as u32 * grid.cell + grid.cell / 2 - 6) as i32,
                ),
                ("sans-serif", 12).into_font(),
            ))
            .map_err(|x| e(&x))?;
        }
        confusion_columns(&root, tmp, grid)?;
        root.present().map_err(|x| e(&x))?;
        Ok(())
    })
}

/// Where the confusion matrix's cells lie: `n` × `n` squares of `cell` pixels, the first one's
/// corner at (`left`, `top`) (room for the class names on the left and the title above).
#[derive(Clone, Copy)]
struct Grid {
    n: usize,
    cell: u32,
    left: u32,
    top: u32,
}

impl Grid {
    fn side(self) -> u32 {
        self.cell * self.n as u32
    }

    /// The top-left pixel of the cell in row `i`, column `j`.
    fn corner(self, (i, j): (usize, usize)) -> (i32, i32) {
        (
            (self.left + j as u32 * self.cell) as i32,
            (self.top + i as u32 * self.cell) as i32,
        )
    }
}

/// One cell (row `at.0`, column `at.1`) holding `count`, `share` of its row: shaded green on
/// the diagonal and red off it (darker for a larger share), outlined, with the count written
/// in when there are at most 20 classes.
fn confusion_cell(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    tmp: &Path,
    grid: Grid,
    at: (usize, usize),
    count: u64,
    share: f64,
) -> Result<()> {
    let e = |x: &dyn std::fmt::Display| anyhow!("{}: {x}", tmp.display());
    let cell = grid.cell;
    let shade = (255.0 * (1.0 - share)).round() as u8;
    let colour = if at.0 == at.1 {
        RGBColor(shade, shade.saturating_add(40), shade)
    } else {
        RGBColor(255, shade, shade)
    };
    let (x, y) = grid.corner(at);
    root.draw(&Rectangle::new(
        [(x, y), (x + cell as i32, y + cell as i32)],
        colour.filled(),
    ))
    .map_err(|x| e(&x))?;
    root.draw(&Rectangle::new(
        [(x, y), (x + cell as i32, y + cell as i32)],
        BLACK.mix(0.15),
    ))
    .map_err(|x| e(&x))?;
    if grid.n <= 20 {
        let ink = if share > 0.5 { WHITE } else { BLACK };
        let style = TextStyle::from(("sans-serif", (cell / 3).clamp(8, 14)).into_font())
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ))
            .color(&ink);
        root.draw(&Text::new(
            count.to_string(),
            (x + cell as i32 / 2, y + cell as i32 / 2),
            style,
        ))
        .map_err(|x| e(&x))?;
    }
    Ok(())
}

/// Under the matrix: the class index of each column (the rows carry the names) and a line
/// saying which axis is which.
fn confusion_columns(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    tmp: &Path,
    grid: Grid,
) -> Result<()> {
    let e = |x: &dyn std::fmt::Display| anyhow!("{}: {x}", tmp.display());
    let (cell, left, top, side) = (grid.cell, grid.left, grid.top, grid.side());
    for j in 0..grid.n {
        root.draw(&Text::new(
            j.to_string(),
            (
                (left + j as u32 * cell + cell / 2 - 4) as i32,
                (top + side + 6) as i32,
            ),
            ("sans-serif", 12).into_font(),
        ))
        .map_err(|x| e(&x))?;
    }
    root.draw(&Text::new(
        "rows: true class; columns: predicted class (index)".to_string(),
        (left as i32, (top + side + 30) as i32),
        ("sans-serif", 13).into_font(),
    ))
    .map_err(|x| e(&x))?;
    Ok(())
}

/// Image `i` of `set` (planar u8 pixels) as an RGB picture, enlarged `scale` times.
pub fn set_image(set: &convlab_datasets::ImageSet, i: usize, scale: u32) -> image::RgbImage {
    let [c, h, w] = set.shape();
    let px = set.image(i);
    let plane = h * w;
    let img = image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let j = y as usize * w + x as usize;
        if c == 3 {
            image::Rgb([px[j], px[plane + j], px[2 * plane + j]])
        } else {
            image::Rgb([px[j], px[j], px[j]])
        }
    });
    image::imageops::resize(
        &img,
        w as u32 * scale,
        h as u32 * scale,
        image::imageops::FilterType::Nearest,
    )
}

/// Pictures with two caption lines each, in a grid of `cols` columns under a title.
pub fn captioned_grid(
    path: &Path,
    title: &str,
    tiles: &[(image::RgbImage, [String; 2])],
    cols: usize,
) -> Result<()> {
    let cols = cols.clamp(1, tiles.len().max(1));
    let rows = tiles.len().div_ceil(cols);
    let tile_w = tiles
        .iter()
        .map(|t| t.0.width())
        .max()
        .unwrap_or(0)
        .max(150);
    let tile_h = tiles.iter().map(|t| t.0.height()).max().unwrap_or(0);
    let (pad, caption, top) = (10u32, 36u32, 40u32);
    let width = cols as u32 * (tile_w + pad) + pad;
    let height = top + rows as u32 * (tile_h + caption + pad) + pad;
    let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    for (k, (img, _)) in tiles.iter().enumerate() {
        let (r, c) = ((k / cols) as u32, (k % cols) as u32);
        let x = pad + c * (tile_w + pad) + (tile_w - img.width()) / 2;
        let y = top + r * (tile_h + caption + pad);
        image::imageops::overlay(&mut canvas, img, x as i64, y as i64);
    }
    let mut labels = vec![Label::new(title, (pad as i32, 10), 18, BLACK)];
    for (k, (_, lines)) in tiles.iter().enumerate() {
        let (r, c) = ((k / cols) as u32, (k % cols) as u32);
        let x = (pad + c * (tile_w + pad)) as i32;
        let y = (top + r * (tile_h + caption + pad) + tile_h + 3) as i32;
        for (i, line) in lines.iter().enumerate() {
            let colour = if i == 0 { RED } else { BLACK };
            labels.push(Label::new(line, (x, y + 16 * i as i32), 13, colour));
        }
    }
    save_labelled(path, canvas, &labels)
}

/// A line of text to draw on a picture: top-left corner, font size, colour.
pub struct Label {
    pub text: String,
    pub at: (i32, i32),
    pub size: u32,
    pub colour: RGBColor,
}

impl Label {
    pub fn new(text: &str, at: (i32, i32), size: u32, colour: RGBColor) -> Self {
        Self {
            text: text.to_string(),
            at,
            size,
            colour,
        }
    }
}

/// Draws `labels` on `canvas` (plotters, in the embedded font) and writes it to `path` as PNG,
/// atomically.
pub fn save_labelled(path: &Path, canvas: image::RgbImage, labels: &[Label]) -> Result<()> {
    plot::register_font();
    let (width, height) = canvas.dimensions();
    let mut buf = canvas.into_raw();
    {
        let e = |x: &dyn std::fmt::Display| anyhow!("{}: {x}", path.display());
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        for l in labels {
            let style = TextStyle::from(("sans-serif", l.size).into_font()).color(&l.colour);
            root.draw(&Text::new(l.text.clone(), l.at, style))
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    let img = image::RgbImage::from_raw(width, height, buf)
        .ok_or_else(|| anyhow!("{}: picture buffer", path.display()))?;
    atomically(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| anyhow!("{}: {e}", tmp.display()))
    })
}

//! `report.html`: one self-contained page per run (pictures embedded as data URIs, no scripts,
//! no outside files): the outcome and test metrics, the curves, the diagnostics with their
//! warnings, the first-layer filters, the confusion matrix (and the most confident mistakes
//! when `convlab eval --misclassified` drew them), the epochs, the model's layers and the
//! recipe. Written at the end of every run and by `convlab report <run-dir>`; a section whose
//! file is missing says so.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use burn::tensor::Device;

use crate::config::recipe::Recipe;
use crate::record::diagnostics::{self, DeadRow, ParamRow};
use crate::record::rundir::{EpochRow, RunDir, RunInfo, RunSummary, write_atomic};

pub const FILE: &str = "report.html";

/// Text as HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 1.8em; }
.sub { color: #666; margin-top: 0; overflow-wrap: anywhere; }
img { display: block; max-width: 100%; height: auto; margin: 8px 0; border: 1px solid #eee; }
.pair { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.pair figure { margin: 0; max-width: 100%; }
figcaption { color: #555; font-size: 0.9em; }
.scroll { max-width: 100%; overflow-x: auto; }
.tall { max-height: 420px; overflow-y: auto; }
table { border-collapse: collapse; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.l, th.l { text-align: left; }
pre { background: #f6f6f6; padding: 10px; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85em; }
.warn { color: #a33; }
.ok { color: #373; }
.missing { color: #888; font-style: italic; }
";

struct Page {
    html: String,
}

impl Page {
    fn h2(&mut self, id: &str, title: &str) {
        let _ = writeln!(self.html, "<h2 id=\"{id}\">{}</h2>", escape(title));
    }

    fn p(&mut self, class: &str, text: &str) {
        let _ = writeln!(self.html, "<p class=\"{class}\">{}</p>", escape(text));
    }

    /// An embedded PNG from the run directory, or a note that it is missing.
    fn image(&mut self, dir: &Path, file: &str, alt: &str) {
        match std::fs::read(dir.join(file)) {
            Ok(bytes) => {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                let _ = writeln!(
                    self.html,
                    "<img alt=\"{}\" src=\"data:image/png;base64,{data}\">",
                    escape(alt)
                );
            }
            Err(_) => self.p("missing", &format!("{file}: not drawn for this run")),
        }
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>], left: usize, tall: bool) {
        let _ = write!(
            self.html,
            "<div class=\"scroll{}\"><table>",
            if tall { " tall" } else { "" }
        );
        if !header.is_empty() {
            self.html.push_str("<tr>");
            for (i, h) in header.iter().enumerate() {
                let class = if i < left { " class=\"l\"" } else { "" };
                let _ = write!(self.html, "<th{class}>{}</th>", escape(h));
            }
            self.html.push_str("</tr>\n");
        }
        for row in rows {
            self.html.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let class = if i < left { " class=\"l\"" } else { "" };
                let _ = write!(self.html, "<td{class}>{}</td>", escape(cell));
            }
            self.html.push_str("</tr>\n");
        }
        self.html.push_str("</table></div>\n");
    }
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// The page's HTML for the run in `dir`: its sections in page order, each drawn from the files
/// the run left (a missing one says so in its place).
pub fn render(dir: &Path) -> Result<String> {
    let run = RunDir::open(dir)?;
    let recipe = run.recipe()?;
    let recipe_text = std::fs::read_to_string(run.file("recipe.toml")).unwrap_or_default();
    // A summary that exists but cannot be read is said so, never taken for a run in progress.
    let summary = match run.summary() {
        Ok(s) => Ok(s),
        Err(_) if !run.file(crate::record::rundir::SUMMARY).exists() => Err(None),
        Err(e) => Err(Some(e.to_string())),
    };
    let info = run.info().ok();
    let rows = run.metrics().unwrap_or_default();
    let (params, dead) = diagnostics::read(dir).unwrap_or_default();

    let mut page = Page {
        html: String::new(),
    };
    head_section(&mut page, dir, &recipe);

    page.h2("outcome", "Outcome");
    outcome_section(&mut page, summary.as_ref(), info.as_ref());

    page.h2("curves", "Learning curves");
    page.image(dir, "curves.png", "loss, top-1 and learning rate per epoch");

    page.h2("diagnostics", "Diagnostics");
    diagnostics_section(&mut page, dir, &recipe.diagnostics, &params, &dead);

    page.h2("filters", "First-layer filters");
    filters_section(&mut page, dir);

    page.h2("confusion", "Test confusion matrix");
    confusion_section(&mut page, dir);

    page.h2("epochs", "Epochs");
    epochs_section(&mut page, &rows);

    page.h2("model", "Model");
    model_section(&mut page, &recipe);

    page.h2("recipe", "Recipe");
    let _ = writeln!(page.html, "<pre>{}</pre>", escape(&recipe_text));
    page.html.push_str("</main></body></html>\n");
    Ok(page.html)
}

/// The document head (title and style) and the page's heading: the recipe's name, the run
/// directory and the recipe's description.
fn head_section(page: &mut Page, dir: &Path, recipe: &Recipe) {
    let title = format!("{}: {}", recipe.name, dir.display());
    let _ = writeln!(
        page.html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>",
        escape(&title)
    );
    let _ = writeln!(page.html, "<h1>{}</h1>", escape(&recipe.name));
    page.p(
        "sub",
        &format!("{} — {}", dir.display(), recipe.description),
    );
}

/// How the run ended, from `summary.json` (and when it started, from `run.json`).
fn outcome_section(
    page: &mut Page,
    summary: Result<&RunSummary, &Option<String>>,
    info: Option<&RunInfo>,
) {
    let s = match summary {
        Ok(s) => s,
        Err(None) => {
            page.p(
                "missing",
                "no summary.json: the run is still training, or stopped before it finished",
            );
            return;
        }
        Err(Some(e)) => {
            page.p("missing", &format!("summary.json cannot be read: {e}"));
            return;
        }
    };
    let test = s.test.as_ref();
    let mut facts = vec![
        ("status", format!("{:?}", s.status).to_lowercase()),
        ("epochs", s.epochs.to_string()),
        (
            "best epoch (validation loss)",
            s.best_epoch.map_or("–".into(), |e| e.to_string()),
        ),
        ("best validation top-1 %", num(s.best_valid_acc, 2)),
        ("test loss", num(test.map(|t| t.loss), 4)),
        ("test top-1 %", num(test.map(|t| t.top1), 2)),
        ("test top-5 %", num(test.map(|t| t.top5), 2)),
        ("wall time", format!("{:.0} s", s.wall_time_s)),
        ("training images/s", format!("{:.0}", s.images_per_s)),
        ("parameters", s.parameters.to_string()),
        ("backend", format!("{} ({})", s.backend, s.device)),
        ("seed", s.seed.to_string()),
        ("binary", s.binary.clone()),
    ];
    if let Some(i) = info {
        facts.push(("started", i.started_at.clone()));
    }
    let rows: Vec<Vec<String>> = facts
        .into_iter()
        .map(|(k, v)| vec![k.to_string(), v])
        .collect();
    page.table(&[], &rows, 2, false);
}

/// The first convolution's filters at initialisation and at the best epoch, side by side.
fn filters_section(page: &mut Page, dir: &Path) {
    let _ = writeln!(page.html, "<div class=\"pair\">");
    for (file, caption) in [
        ("filters-init.png", "at initialisation"),
        ("filters-best.png", "at the best epoch"),
    ] {
        let _ = writeln!(page.html, "<figure>");
        page.image(dir, file, caption);
        let _ = writeln!(page.html, "<figcaption>{caption}</figcaption></figure>");
    }
    let _ = writeln!(page.html, "</div>");
}

/// The test confusion matrix, and the most confident mistakes under their own heading when
/// `convlab eval --misclassified` drew them.
fn confusion_section(page: &mut Page, dir: &Path) {
    page.image(dir, "confusion.png", "confusion matrix of the test split");
    if dir.join("misclassified.png").exists() {
        page.h2("mistakes", "Most confident mistakes");
        page.image(
            dir,
            "misclassified.png",
            "most confidently misclassified images",
        );
    }
}

/// One table row per epoch of `metrics.csv`.
fn epochs_section(page: &mut Page, rows: &[EpochRow]) {
    let epoch_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.epoch.to_string(),
                format!("{:.4}", r.train_loss),
                format!("{:.2}", r.train_acc),
                format!("{:.4}", r.valid_loss),
                format!("{:.2}", r.valid_acc),
                format!("{:.2}", r.valid_top5),
                format!("{:.2e}", r.lr),
                format!("{:.0}", r.images_per_s),
                format!("{:.1}", r.epoch_s),
            ]
        })
        .collect();
    page.table(
        &[
            "epoch",
            "train loss",
            "train top-1 %",
            "valid loss",
            "valid top-1 %",
            "valid top-5 %",
            "lr",
            "images/s",
            "s",
        ],
        &epoch_rows,
        0,
        true,
    );
}

/// The recipe's model, built afresh on flex (no weights needed): its size and its layers.
fn model_section(page: &mut Page, recipe: &Recipe) {
    let model = recipe.model_config().and_then(|cfg| {
        cfg.init(&Device::flex())
            .map_err(|e| anyhow::anyhow!("{e}"))
    });
    let model = match model {
        Ok(model) => model,
        Err(e) => {
            page.p("missing", &format!("the model could not be built: {e:#}"));
            return;
        }
    };
    let s = model.summary();
    let [c, h, w] = s.input;
    page.p(
        "sub",
        &format!(
            "{}: input {c}x{h}x{w}, {} parameters, {} multiply-accumulates per image",
            s.arch.name(),
            s.total_params,
            s.total_macs
        ),
    );
    let rows: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| {
            vec![
                r.path.clone(),
                r.kind.clone(),
                r.output.to_string(),
                r.params.to_string(),
                r.macs.to_string(),
            ]
        })
        .collect();
    page.table(
        &["layer", "kind", "output", "params", "MACs"],
        &rows,
        2,
        true,
    );
}

/// The diagnostics: what was measured, the picture, the warnings, and the last measurement's
/// numbers per weight tensor and per ReLU layer.
fn diagnostics_section(
    page: &mut Page,
    dir: &Path,
    cfg: &diagnostics::DiagnosticsConfig,
    params: &[ParamRow],
    dead: &[DeadRow],
) {
    if params.is_empty() && dead.is_empty() {
        page.p(
            "missing",
            "no diagnostics for this run (diagnostics.every = 0, or the run predates them)",
        );
        return;
    }
    page.p(
        "sub",
        &format!(
            "Every {} optimizer steps: ‖Δw‖/‖w‖ of each parameter tensor as the optimizer applied it (band [{:.0e}, {:.0e}]), its gradient norm, and the share of dead ReLU units on {} validation images.",
            cfg.every, cfg.band[0], cfg.band[1], cfg.probe
        ),
    );
    page.image(
        dir,
        diagnostics::PICTURE,
        "update ratios, gradient norms and dead units",
    );
    warnings_list(page, cfg, params);
    last_measurement(page, params, dead);
}

/// The warnings the run's measurements give (as training printed them), or a line saying
/// there are none.
fn warnings_list(page: &mut Page, cfg: &diagnostics::DiagnosticsConfig, params: &[ParamRow]) {
    let warnings = diagnostics::warnings(cfg, params);
    if warnings.is_empty() {
        page.p(
            "ok",
            "No warnings: every weight stayed inside the band and kept its gradient.",
        );
    } else {
        let _ = writeln!(
            page.html,
            "<p class=\"warn\">{} warning(s):</p><ul class=\"warn\">",
            warnings.len()
        );
        for w in &warnings {
            let _ = writeln!(page.html, "<li>{}</li>", escape(&w.to_string()));
        }
        let _ = writeln!(page.html, "</ul>");
    }
}

/// The numbers of the last measurement: per parameter tensor, and per ReLU layer.
fn last_measurement(page: &mut Page, params: &[ParamRow], dead: &[DeadRow]) {
    if let Some(last) = params.last().map(|r| r.step) {
        page.p("sub", &format!("At the last measurement (step {last}):"));
        let rows: Vec<Vec<String>> = params
            .iter()
            .filter(|r| r.step == last)
            .map(|r| {
                vec![
                    r.param.clone(),
                    r.shape.clone(),
                    format!("{:.3e}", r.weight_norm),
                    format!("{:.3e}", r.ratio),
                    format!("{:.3e}", r.grad_norm),
                ]
            })
            .collect();
        page.table(
            &["parameter", "shape", "‖w‖", "‖Δw‖/‖w‖", "‖g‖"],
            &rows,
            2,
            false,
        );
    }
    if let Some(last) = dead.last().map(|r| r.step) {
        let rows: Vec<Vec<String>> = dead
            .iter()
            .filter(|r| r.step == last)
            .map(|r| {
                vec![
                    r.layer.clone(),
                    r.units.to_string(),
                    format!("{:.1}", 100.0 * r.dead_fraction),
                ]
            })
            .collect();
        page.table(&["ReLU layer", "units", "dead %"], &rows, 1, false);
    }
}

/// Writes the page for the run in `dir` to `out` (atomically), redrawing `diagnostics.png`
/// from the run's CSVs first.
pub fn write(dir: &Path, out: &Path) -> Result<()> {
    if let (Ok(recipe), Ok((params, dead))) = (RunDir::open(dir)?.recipe(), diagnostics::read(dir))
        && !(params.is_empty() && dead.is_empty())
        && let Err(e) = diagnostics::picture(
            &dir.join(diagnostics::PICTURE),
            &recipe.name,
            &recipe.diagnostics,
            &params,
            &dead,
        )
    {
        eprintln!("warning: {} not redrawn: {e:#}", diagnostics::PICTURE);
    }
    let html = render(dir).with_context(|| format!("{}: report", dir.display()))?;
    write_atomic(out, html.as_bytes())?;
    Ok(())
}

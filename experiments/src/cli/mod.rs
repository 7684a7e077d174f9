//! The `convlab` commands: clap's arguments and thin handlers that call the library, one file
//! per command area (models and benchmarks, training and evaluation, weights, sweeps, data).
//! The binary only parses the command line and calls [`run`].

pub mod data;
pub mod models;
pub mod sweep;
pub mod train;
pub mod weights;

use anyhow::Result;
use clap::Subcommand;

use crate::base::backend::Backend;
pub use crate::cli::data::DataAction;
use crate::cli::models::{BenchArgs, CompareArgs, SummaryArgs};
use crate::cli::sweep::{AblateArgs, EnsembleArgs, SearchArgs};
use crate::cli::train::{EvalArgs, ReportArgs, TrainArgs};
use crate::cli::weights::{CamArgs, ExportArgs, ImportArgs, PredictArgs};

#[derive(Subcommand)]
pub enum Command {
    /// List every architecture with its default input, parameters and MACs.
    Models {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Per-layer table of one architecture: layer path, kind, output shape, parameters, MACs.
    Summary(SummaryArgs),
    /// Same weights and batch on several backends: logits, gradients, parameters after N SGD
    /// steps and losses against the first backend; exits non-zero beyond the tolerance.
    CompareBackends(CompareArgs),
    /// Training and inference images/s and peak memory per architecture and backend.
    Bench(BenchArgs),
    /// List the training recipes with one-line descriptions.
    Recipes,
    /// Train a recipe (built-in name or path to a .toml), or resume a run directory.
    Train(TrainArgs),
    /// List the runs under a folder (default `runs`; a suite's or a search's folder works too):
    /// recipe, start, status, epochs, best validation and test accuracy, oldest first.
    Runs {
        /// The folder to look in (four levels down at most).
        #[arg(default_value = "runs")]
        dir: std::path::PathBuf,
        /// Only runs whose directory, recipe or status contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a recipe as a run would use it (`recipe show`: `extends` resolved, `--set`
    /// applied, as TOML), or every key a recipe may set (`recipe keys`).
    Recipe {
        #[command(subcommand)]
        action: RecipeAction,
    },
    /// Reload a run's recipe and a checkpoint; print loss, top-1, top-5 and the confusion matrix.
    Eval(EvalArgs),
    /// Fetch, inspect and verify datasets (cifar10, cifar100, mnist, fashion-mnist).
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// Run an ablation suite (a grid of variants × seeds) locally or on Slurm, resumably, and
    /// report it; or `ablate report <dir>` to rebuild a report.
    Ablate(AblateArgs),
    /// Read a torchvision state dict (.pth or .safetensors) into one of our models, checking
    /// that every tensor is used once with the right shape; write a convlab weights file.
    Import(ImportArgs),
    /// Write a weights file or a run's best checkpoint as safetensors (torchvision's key names
    /// where torchvision has the architecture, loadable by
    /// `torchvision.models.<arch>().load_state_dict`; else convlab's module paths) or, with
    /// `--format onnx`, as an ONNX model for onnxruntime and other runtimes.
    Export(ExportArgs),
    /// Top-k classes of images with imported weights (ImageNet names) or a run's model.
    Predict(PredictArgs),
    /// List the ablation suites with one line each.
    Ablations,
    /// Random search over recipe keys (a TOML space), coarse to fine, with successive halving;
    /// resumable; writes trials.csv, search.png and the best recipe (best.toml).
    Search(SearchArgs),
    /// Class activation maps of images (CAM for a global-average-pooling head, Grad-CAM
    /// otherwise), drawn over them as PNGs with the top classes.
    Cam(CamArgs),
    /// Write a run's report: one self-contained HTML page (recipe, model, curves, diagnostics
    /// and their warnings, filters, confusion matrix, test metrics). Runs write it when they end.
    Report(ReportArgs),
    /// Average the softmax outputs of several runs (or of a suite variant's seeds) on the test
    /// split; print each member's accuracy, the ensemble's and the gain.
    Ensemble(EnsembleArgs),
}

#[derive(Subcommand)]
pub enum RecipeAction {
    /// The resolved recipe as TOML, e.g. `convlab recipe show lenet-fashion --set optimizer.lr=0.1`.
    Show {
        /// Recipe name (see `convlab recipes`) or path to a recipe .toml.
        name: String,
        /// Override any recipe field, as `train --set`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<crate::config::overrides::Override>,
    },
    /// Every key a recipe may set, with its type, default and meaning (a Markdown table,
    /// generated from the recipe schema; README has the same table).
    Keys,
}

impl Command {
    /// The backend a command will run on, when it is known before it starts (for
    /// [`crate::base::backend::prepare_process`]).
    pub fn backend_hint(&self) -> Option<Backend> {
        match self {
            Command::Train(a) => match &a.resume {
                Some(dir) => crate::run::train::recorded_backend(dir),
                None => a.backend,
            },
            Command::Eval(a) => Some(a.backend),
            Command::Ensemble(a) => Some(a.backend),
            _ => None,
        }
    }
}

/// Runs a parsed command.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Models { json } => models::models(json),
        Command::Summary(a) => models::summary(a),
        Command::CompareBackends(a) => models::compare_backends(a),
        Command::Bench(a) => models::bench(a),
        Command::Recipes => models::recipes(),
        Command::Train(a) => train::train(a),
        Command::Runs { dir, filter, json } => {
            if !dir.is_dir() {
                anyhow::bail!(
                    "{}: no such folder (runs are written to `runs/` by default; `convlab runs DIR` for another)",
                    dir.display()
                );
            }
            let rows = crate::inspect::runs::list(&dir, filter.as_deref());
            if json {
                for r in &rows {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else if rows.is_empty() {
                println!("no runs under {}", dir.display());
            } else {
                print!("{}", crate::inspect::runs::render(&rows));
            }
            Ok(())
        }
        Command::Recipe {
            action: RecipeAction::Keys,
        } => {
            print!("{}", crate::config::keys::markdown());
            Ok(())
        }
        Command::Recipe {
            action: RecipeAction::Show { name, set },
        } => {
            let recipe = crate::config::recipe::Recipe::resolve(&name, &set)?;
            print!("{}", toml::to_string(&recipe)?);
            Ok(())
        }
        Command::Eval(a) => train::eval(a),
        Command::Report(a) => train::report(a),
        Command::Data { action } => data::run(action),
        Command::Ablate(a) => sweep::ablate(a),
        Command::Ablations => sweep::ablations(),
        Command::Search(a) => sweep::search(a),
        Command::Ensemble(a) => sweep::ensemble(a),
        Command::Import(a) => weights::import(a),
        Command::Export(a) => weights::export(a),
        Command::Predict(a) => weights::predict(a),
        Command::Cam(a) => weights::cam(a),
    }
}

//! convlab's experiments, in layers (each folder uses only the ones before it; `tests/house`
//! enforces it):
//!
//! - [`base`]: backends, metrics, the loader, statistics, tables, plots;
//! - [`config`]: the TOML schemas (recipes, suites) and their overrides;
//! - [`record`]: the run directory and what a run writes into it (metrics, pictures,
//!   diagnostics, TensorBoard, the report page);
//! - [`run`]: one training run, stage by stage, and loading a finished one back;
//! - [`sweep`]: plans of many runs (ablation suites, searches), their executors and reports;
//! - [`inspect`]: looking at trained models (CAM, predictions, ensembles);
//! - [`perf`]: throughput benchmarks and the backend comparison;
//! - [`cli`]: the `convlab` commands (clap arguments and thin handlers).

pub mod base;
pub mod cli;
pub mod config;
pub mod inspect;
pub mod perf;
pub mod record;
pub mod run;
pub mod sweep;

pub use base::backend::{Backend, BackendError, GpuInfo, Selected, select};
pub use config::recipe::Recipe;
pub use record::rundir::{RunDir, RunStatus, RunSummary};
pub use run::train::{ResumeOptions, RunOutcome, TrainOptions, resume, train};

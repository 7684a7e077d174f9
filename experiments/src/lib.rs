//! convlab's experiments: recipes, the stages of a training run (data, model, learner, run
//! directory), evaluation, backend selection, comparisons and benchmarks, and the commands of
//! the `convlab` binary.

pub mod ablate;
pub mod backend;
pub mod bench;
pub mod cam;
pub mod checkpoint;
pub mod classifier;
pub mod commands;
pub mod compare;
pub mod data;
pub mod data_cmd;
pub mod diagnostics;
pub mod ensemble;
pub mod eval;
pub mod executor;
pub mod html;
pub mod loader;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod pictures;
pub mod plan;
pub mod plot;
pub mod predict;
pub mod recipe;
pub mod renderer;
pub mod report;
pub mod rundir;
pub mod runstore;
pub mod schedule;
pub mod search;
pub mod stats;
pub mod suite;
pub mod table;
pub mod tensorboard;
pub mod train;
pub mod transfer;
pub mod weights;

pub use backend::{Backend, BackendError, Selected, select};
pub use recipe::Recipe;
pub use rundir::{RunDir, RunStatus, RunSummary};
pub use train::{ResumeOptions, RunOutcome, TrainOptions, resume, train};

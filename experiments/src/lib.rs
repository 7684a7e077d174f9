//! convlab's experiments: recipes, data preparation, burn-train wiring, evaluation, backend
//! selection, and the `convlab` command-line front-end.

pub mod backend;
pub mod bench;
pub mod classifier;
pub mod compare;
pub mod data;
pub mod eval;
pub mod loader;
pub mod optim;
pub mod recipe;
pub mod renderer;
pub mod schedule;
pub mod train;

pub use backend::{Backend, BackendError, Selected, select};
pub use recipe::Recipe;
pub use train::{RunOutcome, RunStatus, RunSummary, TrainOptions, resume, train};

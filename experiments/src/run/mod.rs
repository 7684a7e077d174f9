//! One training run, in the order it happens: recipe → `data` → `model` (with `transfer`) →
//! `learner` (burn-train wiring of `classifier`, `optim`, `schedule`, `checkpoint`) → `finish`
//! (ending, test, summary), with `train` reading as that list of stages; `eval` and `weights`
//! load a finished run back.

pub mod checkpoint;
pub mod classifier;
pub mod data;
pub mod diagnostics;
pub mod eval;
pub mod finish;
pub mod learner;
pub mod model;
pub mod optim;
pub mod schedule;
pub mod train;
pub mod transfer;
pub mod weights;

//! The TOML schemas a user writes: recipes (one training run) with where they are loaded from,
//! typed overrides (`--set`, a suite's and a search's `set` tables) and the checks of every
//! value, ablation suites (a grid of variants over a base recipe) and search spaces (the keys a
//! search samples, stage by stage). Pure data: nothing here trains, loads images or touches a
//! run directory.

pub mod comparisons;
pub mod error;
pub mod keys;
pub mod load;
pub mod overrides;
pub mod recipe;
pub mod space;
pub mod suite;
pub mod suite_checks;
pub mod transfer;
pub mod validate;

//! Everything above single runs: a suite or search becomes a plan of runs identified by the hash
//! of their resolved recipe, the run store says where each run stands, one runner carries them
//! out through an executor (local, Slurm), and reports turn finished runs into tables and plots.
//!
//! Lowest first: `runstore` (run directories and [`runstore::RunState`]), `executor`,
//! `runner` (the executor kinds and the one way both commands run jobs), `plan`; then `report`, `summary`, `charts` (a suite's report), `trials`,
//! `search_report` (a search's trials and files), `preflight`; then the commands, `ablate`
//! and `search`.

pub mod ablate;
pub mod charts;
pub mod estimate;
pub mod executor;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod runner;
pub mod runstore;
pub mod scorecard;
pub mod search;
pub mod search_report;
pub mod summary;
pub mod trials;
pub mod verdicts;
pub mod wall;

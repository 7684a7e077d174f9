//! The base: pieces every layer above shares and that know nothing of runs. The one place that
//! names backends (`backend`), metric tallies, the epoch loader, statistics (intervals), terminal
//! tables and line/bar plots.

pub mod backend;
pub mod layout;
pub mod loader;
pub mod metrics;
pub mod plot;
pub mod stats;
pub mod table;

//! Looking at trained models: class activation maps, predictions on one's own images, and
//! ensembles of finished runs.

pub mod cam;
pub mod ensemble;
pub mod predict;
pub mod runs;

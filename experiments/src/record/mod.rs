//! What a run leaves on disk and how it is drawn: the run directory (recipe, metrics, summary,
//! checkpoints' place), the epoch renderer that rewrites metrics and pictures each epoch, the
//! diagnostics files and their warnings, the TensorBoard event file and the HTML report page.
//! Everything here reads and writes files; nothing here trains.

pub mod checksum;
pub mod diagnostics;
pub mod page;
pub mod pictures;
pub mod renderer;
pub mod rundir;
pub mod tensorboard;

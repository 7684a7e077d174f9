//! Facade over the convlab crates; `tests/` beside it holds the cross-crate tests.

pub use convlab_blocks as blocks;
pub use convlab_datasets as datasets;
pub use convlab_experiments as experiments;
pub use convlab_kernels as kernels;
pub use convlab_models as models;

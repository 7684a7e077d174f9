//! Numerics: convlab against reference values PyTorch produced (`scripts/golden/make_golden.py`,
//! Debian's torch 1.13; the fixtures in `tests/golden/` are described in its README), and the
//! flex kernels of convlab-kernels against Burn's own ops on a table of shapes (and LRN's against
//! its formula), forward and every gradient. Every comparison is relative to the reference
//! tensor's own magnitude.

mod fixture;
mod kernels;
mod layers;
mod lrn_kernels;
mod optim;
mod schedule_init;

pub use fixture::{Fixture, assert_close, device};

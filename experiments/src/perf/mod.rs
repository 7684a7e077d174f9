//! Speed and agreement: training and inference throughput per model and backend, and the
//! backend comparison on the same weights.

pub mod bench;
pub mod compare;

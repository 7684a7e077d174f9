//! Deterministic per-sample random streams: the same (seed, epoch, index) always gives the
//! same draws, whatever the number of loader workers or the order items are batched in.

use rand::SeedableRng;
use rand::rngs::SmallRng;

/// SplitMix64's finaliser: a bijective 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random stream of one sample in one epoch.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed ^ mix(epoch ^ mix(index))))
}

/// A stream for a named purpose (split, synthetic class templates, ...).
pub fn stream(seed: u64, purpose: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed ^ mix(purpose)))
}

//! Width multipliers for channel counts.

/// Scales a channel count by a width multiplier, keeping it at least `multiple_of` and a
/// multiple of it (grouped convolutions need channels divisible by the group count).
pub fn scale_channels(channels: usize, width: f64, multiple_of: usize) -> usize {
    let m = multiple_of.max(1);
    let scaled = (channels as f64 * width / m as f64).round() as usize * m;
    scaled.max(m)
}

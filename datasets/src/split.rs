//! Deterministic, stratified train/validation split of a training set.

use rand::seq::SliceRandom;

use crate::error::{DataError, Result};
use crate::rng::stream;

/// Indices of the training and validation parts: `valid_fraction` of every class (rounded)
/// goes to validation, drawn with `seed`; both lists are sorted.
pub fn stratified_split(
    labels: &[u16],
    classes: usize,
    valid_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..1.0).contains(&valid_fraction) {
        return Err(DataError::Invalid {
            what: "validation fraction".into(),
            message: format!("must be in [0, 1), got {valid_fraction}"),
        });
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        let slot = by_class
            .get_mut(l as usize)
            .ok_or_else(|| DataError::Invalid {
                what: "labels".into(),
                message: format!("label {l} of sample {i} is out of range for {classes} classes"),
            })?;
        slot.push(i);
    }
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (k, mut idx) in by_class.into_iter().enumerate() {
        idx.shuffle(&mut stream(seed, 0x5350_4c54 ^ k as u64));
        let n_valid = (idx.len() as f64 * valid_fraction).round() as usize;
        valid.extend_from_slice(&idx[..n_valid]);
        train.extend_from_slice(&idx[n_valid..]);
    }
    train.sort_unstable();
    valid.sort_unstable();
    Ok((train, valid))
}

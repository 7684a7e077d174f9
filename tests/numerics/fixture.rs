//! Reading the JSON fixtures and comparing tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::Value;

/// A fixture file of `tests/golden/`.
pub struct Fixture(pub Value);

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run scripts/golden/make_golden.py)",
                path.display()
            )
        });
        Fixture(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    pub fn at(&self, pointer: &str) -> Fixture {
        Fixture(
            self.0
                .pointer(pointer)
                .unwrap_or_else(|| panic!("fixture has no {pointer}"))
                .clone(),
        )
    }

    pub fn f64(&self, pointer: &str) -> f64 {
        self.0
            .pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("fixture has no number at {pointer}"))
    }

    pub fn usize(&self, pointer: &str) -> usize {
        self.f64(pointer) as usize
    }

    /// `{"shape": [...], "data": [...]}` at `pointer`.
    pub fn tensor(&self, pointer: &str) -> (Vec<usize>, Vec<f32>) {
        let t = self.at(pointer).0;
        let shape = t["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_u64().expect("dim") as usize)
            .collect();
        let data = t["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|v| v.as_f64().expect("number") as f32)
            .collect();
        (shape, data)
    }

    pub fn float<const D: usize>(&self, pointer: &str, device: &Device) -> Tensor<D> {
        let (shape, data) = self.tensor(pointer);
        Tensor::from_data(TensorData::new(data, shape), device)
    }

    pub fn int(&self, pointer: &str, device: &Device) -> Tensor<1, Int> {
        let (shape, data) = self.tensor(pointer);
        let data: Vec<i64> = data.iter().map(|&v| v as i64).collect();
        Tensor::from_data(TensorData::new(data, shape), device)
    }
}

pub fn device() -> Device {
    Device::flex()
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 tensor")
}

/// max |got − want| ≤ tol · max |want| (and the same length).
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
    assert!(
        diff <= tol * scale.max(f64::MIN_POSITIVE) || diff == 0.0,
        "{what}: max |diff| {diff:e} vs max |reference| {scale:e} (relative {:e} > {tol:e})",
        diff / scale
    );
}

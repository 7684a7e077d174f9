//! Flex tensors as host memory: contiguous `f32` views and new tensors from vectors. A leaf
//! module the kernels share.

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

/// Contiguous f32 values of a flex tensor (copied only when the layout is not contiguous).
pub fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) if t.is_contiguous() => std::borrow::Cow::Borrowed(s),
        _ => {
            let c = t.to_contiguous();
            std::borrow::Cow::Owned(c.as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default())
        }
    }
}

pub fn tensor(data: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape.into()))
}

pub fn dims4(t: &FlexTensor) -> [usize; 4] {
    t.shape().dims::<4>()
}

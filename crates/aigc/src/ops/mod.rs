//! Kernels burn lacks or runs slowly, as burn backend extensions with hand-written, tested
//! backward passes.

pub mod conv;
pub mod lstm;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

/// `x` in row-major order from offset 0 (what the kernels index), copied only when it is not.
fn contiguous(x: FlexTensor) -> FlexTensor {
    if x.is_contiguous() && x.layout().start_offset() == 0 { x } else { x.to_contiguous() }
}

fn flex_tensor<E: burn::tensor::Element>(values: Vec<E>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// Whether tensors on `device` run on Flex (with or without autodiff): only there do the
/// extensions have kernels; other backends take burn's own operations.
fn is_flex(device: &burn::tensor::Device) -> bool {
    matches!(device.as_dispatch().clone().inner(), DispatchDevice::Flex(_))
}

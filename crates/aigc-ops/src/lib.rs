//! Kernels burn lacks or runs slowly, as burn backend extensions with hand-written, tested
//! backward passes.

/// Runs `$body` with `$E` bound to the tensor's element type (f32 or f64; the kernels support
/// no other), panicking with `$what` otherwise.
macro_rules! typed {
    ($dtype:expr, $what:literal, |$E:ident| $body:expr) => {
        match $dtype {
            burn::tensor::DType::F32 => {
                type $E = f32;
                $body
            }
            burn::tensor::DType::F64 => {
                type $E = f64;
                $body
            }
            other => panic!(concat!($what, ": only f32 and f64 tensors are supported, got {:?}"), other),
        }
    };
}

pub mod conv;
pub mod lstm;
mod math;
pub mod transformer;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

use math::Real;

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

/// `dst[m×n] = lhs[m×k]·rhs[k×n]` (`accumulate`: `+=`), each matrix given by its (row stride,
/// column stride). gemm packs (copies) a right-hand side without unit row stride and a left-hand
/// side without unit column stride on every call, so callers pass large operands that are reused
/// across calls in an orientation that is read in place.
#[allow(clippy::too_many_arguments)]
fn gemm_into<E: Real>(
    [m, n, k]: [usize; 3],
    dst: &mut [E],
    dst_s: (isize, isize),
    accumulate: bool,
    lhs: &[E],
    lhs_s: (isize, isize),
    rhs: &[E],
    rhs_s: (isize, isize),
) {
    let reach = |(rs, cs): (isize, isize), rows: usize, cols: usize| (rows.max(1) - 1) * rs as usize + (cols.max(1) - 1) * cs as usize;
    assert!(
        reach(dst_s, m, n) < dst.len().max(1) && reach(lhs_s, m, k) < lhs.len().max(1) && reach(rhs_s, k, n) < rhs.len().max(1),
        "gemm operands out of bounds"
    );
    let parallelism = if m * n * k >= 1 << 20 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // SAFETY: the assertion above keeps every index the (non-negative) strides reach inside the
    // slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_s.1,
            dst_s.0,
            accumulate,
            lhs.as_ptr(),
            lhs_s.1,
            lhs_s.0,
            rhs.as_ptr(),
            rhs_s.1,
            rhs_s.0,
            E::one(),
            E::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `dst += lhs·rhs` (see [`gemm_into`]).
#[allow(clippy::too_many_arguments)]
fn gemm_add<E: Real>(m: usize, n: usize, k: usize, dst: &mut [E], dst_s: (isize, isize), lhs: &[E], lhs_s: (isize, isize), rhs: &[E], rhs_s: (isize, isize)) {
    gemm_into([m, n, k], dst, dst_s, true, lhs, lhs_s, rhs, rhs_s);
}

/// A Flex autodiff device computing in f64, for the gradient checks of this crate's and aigc's
/// tests. The dtype is per process and must be set before the first tensor exists, so a test
/// binary that uses this runs only in f64.
#[doc(hidden)]
pub fn f64_test_device() -> burn::tensor::Device {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        let mut device = burn::tensor::Device::flex();
        device.configure(burn::tensor::FloatDType::F64).expect("configured before any tensor exists");
    });
    burn::tensor::Device::flex().autodiff()
}

//! Choosing the compute device. The default build has the Flex CPU backend only; `wgpu` and
//! `cuda` are cargo features.

use burn::tensor::Device;

use crate::error::{AigcError, Result};

/// Backends a build may offer, by their `--device` name.
pub const DEVICES: &str = "cpu (Flex), wgpu (--features wgpu), cuda (--features cuda)";

/// The device for `--device NAME` (without autodiff; training adds it).
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => Err(not_built(name)),
        #[cfg(not(feature = "cuda"))]
        "cuda" => Err(not_built(name)),
        other => Err(AigcError::invalid("device", format!("unknown device {other:?}; expected {DEVICES}"))),
    }
}

#[cfg(not(all(feature = "wgpu", feature = "cuda")))]
fn not_built(name: &str) -> AigcError {
    AigcError::invalid("device",
        format!("{name} is not in this build; rebuild with `cargo build --release --features {name}`"),
    )
}

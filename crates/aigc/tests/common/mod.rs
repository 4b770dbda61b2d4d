//! Helpers shared by test binaries.

use aigc::burn::tensor::{Device, FloatDType};

/// A Flex autodiff device computing in f64 (for gradient checks). The dtype is per process and
/// must be set before the first tensor exists, so a binary that uses this runs only in f64.
pub fn f64_device() -> Device {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        let mut device = Device::flex();
        device.configure(FloatDType::F64).expect("configured before any tensor exists");
    });
    Device::flex().autodiff()
}

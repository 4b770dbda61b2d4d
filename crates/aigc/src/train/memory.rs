//! Whether a model and its batch fit the machine, checked before anything is allocated: the
//! families count their parameters and activations from the config's shapes, and a training job
//! whose estimate exceeds the memory the machine has available is refused with the estimate.

use crate::error::{AigcError, Result};

/// What training a model holds in memory, in f32 values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Trainable parameters (all networks of the model).
    pub params: u64,
    /// Copies of the parameters training keeps besides them: gradients and optimizer moments
    /// (Adam: 3), weight averages.
    pub copies: u64,
    /// Activations a batch keeps for the backward pass.
    pub activations: u64,
}

impl Footprint {
    /// The bytes training needs (f32 everywhere; activations counted twice for the backward
    /// pass's gradients).
    pub fn bytes(&self) -> u64 {
        let values = self.params.saturating_mul(1 + self.copies).saturating_add(self.activations.saturating_mul(2));
        values.saturating_mul(4)
    }
}

/// The linear layers `widths[0] → widths[1] → …`: their weights and biases.
pub fn linear_stack(widths: &[u64]) -> u64 {
    widths.windows(2).map(|w| w[0].saturating_mul(w[1]).saturating_add(w[1])).fold(0, u64::saturating_add)
}

static LIMIT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sets the memory a training job may use for this process, in place of what the machine says
/// is available (for a user with swap, or who wants a tighter bound).
pub fn set_limit(bytes: u64) {
    LIMIT.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// Memory a training job may use: the limit set by [`set_limit`], else 90% of what the machine
/// has available for a new process (Linux `MemAvailable`), if known.
pub fn available_bytes() -> Option<u64> {
    match LIMIT.load(std::sync::atomic::Ordering::Relaxed) {
        0 => machine_available().map(|bytes| bytes / 10 * 9),
        set => Some(set),
    }
}

fn machine_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses a footprint larger than `available` bytes; `fields` names the settings that size
/// the model, `field` the one the error is reported against.
pub fn check(footprint: Footprint, available: Option<u64>, field: &str, fields: &str) -> Result<()> {
    let Some(available) = available else { return Ok(()) };
    let needed = footprint.bytes();
    if needed > available {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        return Err(AigcError::invalid(
            field,
            format!(
                "training would need about {:.1} GiB ({} parameters, {} activation values per batch), and {:.1} GiB are available to it. Reduce {fields} (or set `memory_limit_gib`)",
                gib(needed),
                footprint.params,
                footprint.activations,
                gib(available)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_count_and_refuse() {
        // The article's generator: 100 → 256 → 512 → 1024 → 784.
        assert_eq!(linear_stack(&[100, 256, 512, 1024, 784]), 1_486_352);
        let small = Footprint { params: 1_000_000, copies: 3, activations: 1_000_000 };
        assert_eq!(small.bytes(), 24_000_000);
        assert!(check(small, Some(1 << 30), "batch_size", "`batch_size`").is_ok());
        let err = check(small, Some(23_000_000), "batch_size", "`batch_size`").unwrap_err().to_string();
        assert!(err.starts_with("batch_size: training would need about 0.0 GiB") && err.contains("Reduce `batch_size`"), "{err}");
        assert!(check(Footprint { params: u64::MAX, copies: 3, activations: 0 }, Some(1 << 40), "n_embd", "`n_embd`").is_err());
        assert!(check(small, None, "batch_size", "").is_ok(), "unknown memory: no refusal");
    }
}

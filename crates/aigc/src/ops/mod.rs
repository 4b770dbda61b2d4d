//! Kernels burn lacks or runs slowly, as burn backend extensions with hand-written, tested
//! backward passes.

pub mod conv;
pub mod lstm;

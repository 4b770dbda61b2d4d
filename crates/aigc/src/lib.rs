//! aigc: a generative-AI workbench on burn.
//!
//! The recipe of the AIGC article — data → model → (adversarial) training → generation — as a
//! library: [`data`] loads images, [`models`] holds the networks, [`train`] runs and checkpoints
//! training, [`sample`] generates, [`eval`] measures, [`report`] draws grids and plots.

pub mod apps;
pub mod backend;
pub mod bench;
pub mod data;
pub mod error;
pub mod music;
pub mod eval;
pub mod models;
pub mod ops;
pub mod report;
pub mod sample;
pub mod train;

pub use error::{AigcError, Result};

/// burn, re-exported so callers use the same version.
pub use burn;

//! aigc: a generative-AI workbench on burn.
//!
//! The recipe of the AIGC article — data → model → (adversarial) training → generation — as a
//! library, in layers (each uses only the ones above it):
//!
//! - [`error`], [`io`], [`job`]: the error type; atomic writes; a long job's progress and stop
//!   request, shared with another thread.
//! - [`run`]: the run directory as a format (manifest, checkpoints, records, metrics, RNG).
//! - [`data`]: image sets, text corpora, tune collections. [`report`]: grids and plots.
//! - [`train`]: the one training loop ([`train::fit`]) over a [`train::Trainer`].
//! - [`sample`], [`eval`], [`apps`]: model-agnostic sampling, measuring and applications, over
//!   capabilities ([`sample::ImageGenerator`], [`sample::text::NextTokenModel`],
//!   [`apps::inpaint::Inpainter`], [`apps::compose::Melodies`]).
//! - [`families`]: one folder per model family (networks, config, trainer, capabilities) and
//!   [`families::open`], the one dispatch on a run's family.
//! - [`service`]: typed requests and responses that the CLI (and a server) call.
//!
//! The kernels are the crate `aigc-ops` ([`ops`]), the music notation the crate `aigc-music`
//! ([`music`]). docs/ARCHITECTURE.md draws the whole picture.

pub mod apps;
pub mod backend;
pub mod bench;
pub mod data;
pub mod error;
pub mod eval;
pub mod families;
pub mod io;
pub mod job;
pub mod report;
pub mod run;
pub mod sample;
pub mod service;
pub mod train;

pub use error::{AigcError, Result};

/// burn, re-exported so callers use the same version.
pub use burn;
/// The kernels (burn backend extensions for Flex).
pub use aigc_ops as ops;
/// Music notation: tunes, ABC, MIDI, tokens, the synthesiser.
pub use aigc_music as music;

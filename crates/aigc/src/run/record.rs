//! The record files of a checkpoint (burnpack records of modules and optimizers) and their one
//! set of names.

use std::path::Path;

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;

use crate::error::{AigcError, Result};
use crate::io::{limits, open_regular};

/// The network of a single-network family (a VAE, a language model).
pub const MODEL: &str = "model.bpk";
/// Its optimizer state.
pub const OPTIMIZER: &str = "optim.bpk";
/// The weight average of a single network (a diffusion model's, used for sampling).
pub const MODEL_EMA: &str = "model-ema.bpk";
/// A GAN's generator and discriminator (critic), their optimizers, and the generator's weight
/// average (used for sampling when the run keeps it).
pub const GENERATOR: &str = "generator.bpk";
pub const DISCRIMINATOR: &str = "discriminator.bpk";
pub const GENERATOR_OPTIMIZER: &str = "generator-optim.bpk";
pub const DISCRIMINATOR_OPTIMIZER: &str = "discriminator-optim.bpk";
pub const GENERATOR_EMA: &str = "generator-ema.bpk";

/// Writes a module's weights as `dir/file`.
pub fn save_module<M: Module>(module: &M, dir: &Path, file: &str) -> Result<()> {
    let path = dir.join(file);
    module.clone().into_record().save(&path).map_err(|e| AigcError::output(&path, e))
}

/// Writes an optimizer's state as `dir/file`.
pub fn save_optimizer(optimizer: &ModuleOptimizer, dir: &Path, file: &str) -> Result<()> {
    let path = dir.join(file);
    optimizer.save(&path).map_err(|e| AigcError::output(&path, e))
}

/// Loads a module's weights from a burnpack record, with the file named in any error.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M> {
    let checkpoint_err = |problem: String| AigcError::Checkpoint { path: path.to_path_buf(), problem };
    open_regular(path, limits::weights_bytes())?;
    let record = ModuleRecord::load(path).map_err(|e| checkpoint_err(e.to_string()))?;
    module.try_load_record(record).map_err(|e| checkpoint_err(e.to_string()))
}

/// An optimizer's saved state (a missing or unreadable file is an error naming it).
pub fn load_optimizer(path: &Path) -> Result<OptimizerRecord> {
    open_regular(path, limits::weights_bytes())?;
    OptimizerRecord::load(path).map_err(|e| AigcError::Checkpoint { path: path.to_path_buf(), problem: e.to_string() })
}

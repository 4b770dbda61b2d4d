//! What a run shows a person: image grids, loss plots, exported weights, run summaries.

pub mod grid;
pub mod plot;
pub mod runs;
pub mod table;

pub use grid::{grid_image, save_gif, save_grid, save_images};
pub use plot::{plot_gan_losses, plot_vae_losses};
pub use runs::{RunSummary, summarize_runs};
pub use table::{EvaluatedRun, evaluated_runs, markdown_table};

use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::error::{AigcError, Result};

/// Exports a module's weights as safetensors (written to a temporary file, then renamed).
pub fn save_safetensors<M: Module>(module: &M, path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let mut store = SafetensorsStore::from_file(&tmp).overwrite(true);
    module.save_into(&mut store).map_err(|e| AigcError::output(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| AigcError::io(path, e))
}

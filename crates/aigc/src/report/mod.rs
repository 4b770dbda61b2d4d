//! What a run shows a person: image grids (in memory or as files), loss plots, exported weights.

pub mod grid;
pub mod plot;

pub use grid::{gif_bytes, grid_image, grid_png, image_pngs, png_bytes, save_grid};
pub use plot::plot_lines;

use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::error::{AigcError, Result};

/// Exports a module's weights as safetensors (written to a temporary file, then renamed).
pub fn save_safetensors<M: Module>(module: &M, path: &Path) -> Result<()> {
    crate::io::check_output(path)?;
    let tmp = path.with_extension("safetensors.tmp");
    crate::io::check_output(&tmp)?;
    let mut store = SafetensorsStore::from_file(&tmp).overwrite(true);
    module.save_into(&mut store).map_err(|e| AigcError::output(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| AigcError::io(path, e))
}

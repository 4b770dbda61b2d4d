//! What a run shows a person: image grids (in memory or as files), loss plots, exported weights.

pub mod grid;
pub mod plot;
pub mod torch;

pub use grid::{Captions, captioned, gif_bytes, grid_image, grid_png, image_pngs, png_bytes, save_captioned, save_grid};
pub use plot::plot_lines;


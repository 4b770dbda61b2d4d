//! Drawing images from a run: a grid of samples (one row per class for a conditional run, or
//! one class), or latent interpolation strips with an animation.

use std::path::PathBuf;

use burn::tensor::Device;

use crate::data::ImageShape;
use crate::error::{AigcError, Result};
use crate::families;
use crate::report;
use crate::run::CheckpointChoice;
use crate::sample::{SampleLabels, SamplerSettings, check_count, check_finite};

/// Images of an interpolation strip.
pub const INTERPOLATION_STEPS: usize = 10;

/// Snapshots of a denoising strip (the last one the finished image).
pub const STRIP_FRAMES: usize = 10;

/// What to draw.
#[derive(Debug, Clone)]
pub struct ImagesRequest {
    pub run: PathBuf,
    /// Number of images (a conditional run without `class` rounds it up to whole rows, one per
    /// class; with `interpolate`, strips of ten).
    pub n: usize,
    pub seed: u64,
    /// The class of a conditional run (otherwise one row per class).
    pub class: Option<usize>,
    /// Latent interpolation strips instead of independent samples.
    pub interpolate: bool,
    /// Diffusion runs: denoising strips (x_t as the images form) instead of independent samples.
    pub strip: bool,
    pub checkpoint: CheckpointChoice,
    /// How an iterative sampler draws (diffusion runs; other runs reject every setting).
    pub sampler: SamplerSettings,
}

/// Images drawn from a run, in memory.
#[derive(Debug, Clone)]
pub struct Images {
    pub shape: ImageShape,
    /// `[n, shape.len()]` values in [-1, 1].
    pub values: Vec<f32>,
    /// Columns of the grid (a strip's length for interpolations).
    pub cols: usize,
    pub seed: u64,
    /// The checkpoint's step.
    pub step: usize,
    pub interpolation: bool,
}

impl Images {
    pub fn count(&self) -> usize {
        self.values.len() / self.shape.len()
    }

    /// The images tiled into one PNG.
    pub fn grid_png(&self) -> Vec<u8> {
        self.grid_png_scaled(1)
    }

    /// The grid enlarged `scale` times (nearest neighbour).
    pub fn grid_png_scaled(&self, scale: u32) -> Vec<u8> {
        report::png_bytes(&report::grid::enlarged(report::grid_image(&self.values, self.shape, self.cols), scale))
    }

    /// Each image as its own PNG (enlarged `scale` times).
    pub fn pngs(&self, scale: u32) -> Vec<Vec<u8>> {
        self.values
            .chunks_exact(self.shape.len())
            .map(|image| report::png_bytes(&report::grid::enlarged(report::grid::single_image(image, self.shape), scale)))
            .collect()
    }

    /// For an interpolation: the first strip, forwards and back, as an animated GIF.
    pub fn animation_gif(&self) -> Result<Option<Vec<u8>>> {
        if !self.interpolation {
            return Ok(None);
        }
        let frames: Vec<&[f32]> = self.values.chunks_exact(self.shape.len()).take(self.cols).collect();
        let looped: Vec<&[f32]> = frames.iter().chain(frames.iter().rev().skip(1).take(self.cols.saturating_sub(2))).copied().collect();
        report::gif_bytes(&looped, self.shape, 4).map(Some)
    }
}

/// Draws images from a run that offers them.
pub fn images(request: &ImagesRequest, device: &Device) -> Result<Images> {
    if request.n == 0 {
        return Err(AigcError::invalid("n", "must be at least 1"));
    }
    let run = families::open(&request.run)?;
    let mut generator = run.images(request.checkpoint, device)?;
    generator.configure(&request.sampler)?;
    let classes = generator.classes();
    let mut n = request.n;
    let mut cols = (n as f64).sqrt().ceil() as usize;
    if classes > 0 && request.class.is_none() {
        // One row per class.
        cols = n.div_ceil(classes);
        n = cols * classes;
    }
    let labels = match request.class {
        Some(_) if classes == 0 => {
            return Err(AigcError::invalid("class", format!("{} is not a conditional run", request.run.display())));
        }
        Some(k) if k >= classes => {
            return Err(AigcError::invalid("class", format!("{k} is not a class of this run (0..{})", classes - 1)));
        }
        Some(k) => SampleLabels::Class(k),
        None => SampleLabels::Rows { cols },
    };
    let shape = generator.shape();
    let step = generator.step();
    if request.strip {
        let rows = match (classes, request.class) {
            (0, _) | (_, Some(_)) => request.n.div_ceil(STRIP_FRAMES).max(1),
            (classes, None) => classes,
        };
        check_count(rows * STRIP_FRAMES, shape, "n")?;
        let values = generator.denoising(rows, STRIP_FRAMES, request.seed, labels)?;
        check_stopped(request)?;
        check_finite(&values, &request.run)?;
        return Ok(Images { shape, values, cols: STRIP_FRAMES, seed: request.seed, step, interpolation: false });
    }
    if request.interpolate {
        let rows = match (classes, request.class) {
            (0, _) | (_, Some(_)) => request.n.div_ceil(INTERPOLATION_STEPS).max(1),
            (classes, None) => classes,
        };
        check_count(rows * INTERPOLATION_STEPS, shape, "n")?;
        let values = generator.interpolate(rows, INTERPOLATION_STEPS, request.seed, labels)?;
        check_stopped(request)?;
        check_finite(&values, &request.run)?;
        return Ok(Images { shape, values, cols: INTERPOLATION_STEPS, seed: request.seed, step, interpolation: true });
    }
    check_count(n, shape, "n")?;
    let values = generator.generate(n, request.seed, labels);
    check_stopped(request)?;
    check_finite(&values, &request.run)?;
    Ok(Images { shape, values, cols, seed: request.seed, step, interpolation: false })
}

/// An error when the request's job was asked to stop (its images are not finished).
fn check_stopped(request: &ImagesRequest) -> Result<()> {
    match &request.sampler.control {
        Some(c) if c.stop_requested() => Err(AigcError::Cancelled { what: "sampling".into() }),
        _ => Ok(()),
    }
}

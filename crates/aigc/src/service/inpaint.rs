//! Repairing images with a run that inpaints, and measuring how well it does.

use std::path::PathBuf;

use burn::tensor::Device;

use crate::apps::inpaint::{self, InpaintRow, InpaintSettings, Inpainter, Mask, MaskKind, decode_image, harmonic_fill, masked};
use crate::data::{DataSource, ImageShape};
use crate::error::{AigcError, Result};
use crate::eval::feature_cache::data_extractor;
use crate::families;
use crate::report;
use crate::run::{CheckpointChoice, RunDir};

/// The image to repair.
#[derive(Debug, Clone)]
pub enum InpaintImage {
    /// An encoded image (PNG, JPEG, …) and where it came from, for errors.
    Encoded { bytes: Vec<u8>, name: PathBuf },
    /// Held-out image number K of the run's data set.
    Heldout(usize),
}

/// Which pixels are missing.
#[derive(Debug, Clone)]
pub enum InpaintMask {
    /// A mask image, white where the hole is.
    Encoded { bytes: Vec<u8>, name: PathBuf },
    /// A rectangle `x,y,w,h`.
    Rect(String),
    /// The centre square of half the side.
    Centre,
}

#[derive(Debug, Clone)]
pub struct InpaintRequest {
    pub run: PathBuf,
    pub image: InpaintImage,
    pub mask: InpaintMask,
    /// The method to insist on (`latent`, `vae`); `None`: the run's own.
    pub method: Option<String>,
    /// Completions of the image.
    pub samples: usize,
    pub settings: InpaintSettings,
}

/// The repaired image, with the input beside it.
pub struct Inpainted {
    pub shape: ImageShape,
    /// The masked input, the harmonic fill, then the completions: one grid row.
    pub grid: Vec<f32>,
    pub columns: usize,
    pub method: &'static str,
    pub holes: usize,
    /// The optimising methods' context loss before and after.
    pub context_loss: Option<(f64, f64)>,
}

impl Inpainted {
    /// The grid with a caption over each column: the masked input, the harmonic fill, the
    /// completions.
    pub fn grid_png(&self) -> Result<Vec<u8>> {
        let mut captions = vec!["masked".to_string(), "harmonic fill".to_string()];
        captions.extend((1..self.columns - 1).map(|i| format!("{} {i}", self.method)));
        let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
        Ok(report::png_bytes(&report::captioned(&self.grid, self.shape, self.columns, report::Captions::Columns(&captions))?))
    }
}

/// Errors for settings the run's method cannot take.
fn check_settings(settings: &InpaintSettings, inpainter: &dyn Inpainter) -> Result<()> {
    if settings.steps == 0 {
        return Err(AigcError::invalid("steps", "must be at least 1"));
    }
    inpainter.check(settings)
}

/// Repairs one image.
pub fn inpaint(request: &InpaintRequest, device: &Device) -> Result<Inpainted> {
    if request.samples == 0 || request.samples > 64 {
        return Err(AigcError::invalid("samples", "must be between 1 and 64"));
    }
    let run = families::open(&request.run)?;
    let inpainter = run.inpainter(CheckpointChoice::Latest, device)?;
    check_settings(&request.settings, inpainter.as_ref())?;
    if let Some(method) = &request.method {
        let own = inpainter.method();
        if method != own {
            let why = if ["latent", "vae", "repaint"].contains(&method.as_str()) { format!("this run supports {own}") } else { "expected latent, vae or repaint".into() };
            return Err(AigcError::invalid("method", format!("{method:?}: {why}")));
        }
    }
    let shape = inpainter.shape();
    let image = match &request.image {
        InpaintImage::Encoded { bytes, name } => decode_image(bytes, name, shape)?,
        InpaintImage::Heldout(k) => heldout(run.info(), shape.height as u32, *k)?.0,
    };
    let mask = match &request.mask {
        InpaintMask::Encoded { bytes, name } => Mask::from_image(bytes, name, shape.height, shape.width)?,
        InpaintMask::Rect(rect) => Mask::from_rect(rect, shape.height, shape.width)?,
        InpaintMask::Centre => Mask::centre(shape.height, shape.width),
    };
    let (completed, context_loss) = inpaint::complete(inpainter.as_ref(), &image, std::slice::from_ref(&mask), request.samples, request.settings.clone());
    if request.settings.stopped() {
        return Err(AigcError::Cancelled { what: "inpainting".into() });
    }
    let mut grid = masked(&image, &mask);
    grid.extend(harmonic_fill(&image, &mask));
    grid.extend(completed);
    Ok(Inpainted { shape, grid, columns: request.samples + 2, method: inpainter.method(), holes: mask.holes(), context_loss })
}

/// Held-out image `k` of the data set a run was trained on, at `side` pixels, and its shape.
fn heldout(info: &families::RunInfo, side: u32, k: usize) -> Result<(Vec<f32>, ImageShape)> {
    let splits = DataSource::parse(&info.data).load(info.image_size.unwrap_or(side))?;
    if k >= splits.heldout.len() {
        return Err(AigcError::invalid("heldout", format!("the data set has {} held-out images", splits.heldout.len())));
    }
    Ok((splits.heldout.batch_values(&[k]), splits.heldout.shape))
}

/// Held-out image `k` of an image run's data, as a PNG at the run's size (a front end paints a
/// mask over it, then asks for [`InpaintImage::Heldout`]).
pub fn heldout_png(run: &std::path::Path, k: usize) -> Result<(Vec<u8>, ImageShape)> {
    let opened = families::open(run)?;
    let info = opened.info();
    let Some(side) = info.image_size else {
        return Err(AigcError::invalid("run", format!("{} is not an image run", run.display())));
    };
    let (values, shape) = heldout(info, side, k)?;
    Ok((report::png_bytes(&report::grid::single_image(&values, shape)), shape))
}

/// `aigc eval inpaint`: the run's method and the two baselines on `n` held-out images for each
/// mask family; writes `eval-inpaint.json` and an example grid per mask into the run.
pub fn evaluate_inpainting(
    run_path: &std::path::Path,
    masks: &[MaskKind],
    n: usize,
    settings: InpaintSettings,
    cache: &std::path::Path,
    device: &Device,
) -> Result<Vec<InpaintRow>> {
    let run = families::open(run_path)?;
    let inpainter = run.inpainter(CheckpointChoice::Latest, device)?;
    check_settings(&settings, inpainter.as_ref())?;
    let info = run.info();
    let splits = DataSource::parse(&info.data).load(info.image_size.unwrap_or(inpainter.shape().height as u32))?;
    inpaint::check_count(n, splits.heldout.len())?;
    let extractor = data_extractor(&info.data, &splits, cache, device, settings.quiet)?;
    let (rows, examples) = inpaint::evaluate_inpainting(inpainter.as_ref(), &splits, extractor.as_ref(), masks, n, settings)?;
    let dir = RunDir::new(run_path);
    for e in &examples {
        let captions: Vec<&str> = e.columns.iter().map(String::as_str).collect();
        report::save_captioned(&e.values, inpainter.shape(), e.cols, report::Captions::Columns(&captions), &dir.inpaint_examples(e.mask))?;
    }
    crate::io::write_json(&dir.inpaint_eval(), &rows)?;
    Ok(rows)
}

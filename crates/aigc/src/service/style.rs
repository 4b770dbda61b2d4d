//! Style transfer and texture synthesis: an image whose feature statistics match a style image's
//! (and whose content matches a photo's), as PNG bytes.

use std::ops::ControlFlow;
use std::path::PathBuf;

use burn::tensor::Device;

use crate::apps::style::{FeatureNet, StyleReport, StyleSettings, image_tensor, load_picture, stylise, tensor_png};
use crate::error::{AigcError, Result};

/// The feature network whose statistics are matched.
#[derive(Debug, Clone, PartialEq)]
pub enum StyleFeatures {
    /// Multi-scale random filters (no download).
    Random,
    /// VGG-19 from a safetensors file.
    Vgg19(PathBuf),
}

/// A picture to restyle or to take the style of.
#[derive(Debug, Clone)]
pub enum Picture {
    /// An embedded picture's name, or a file's path.
    Named(String),
    /// An encoded image (PNG, JPEG, …) and where it came from, for errors.
    Encoded { bytes: Vec<u8>, name: PathBuf },
}

impl Picture {
    fn load(&self, field: &str) -> Result<image::DynamicImage> {
        match self {
            Self::Named(name) => load_picture(name, field),
            Self::Encoded { bytes, name } => crate::data::folder::decode_picture(bytes, name),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StyleRequest {
    /// The photo to restyle; `None`: synthesise a texture.
    pub content: Option<Picture>,
    /// The style image.
    pub style: Picture,
    /// Longer side of the images, in pixels.
    pub size: u32,
    pub settings: StyleSettings,
    pub features: StyleFeatures,
    /// Also hand out the image every so many steps.
    pub every: Option<usize>,
}

/// The finished image and its losses.
pub struct Styled {
    pub png: Vec<u8>,
    pub report: StyleReport,
}

/// Optimises the image; `progress(step, snapshot)` is called after every step, with the image
/// as PNG bytes every `every` steps (before the last); its `Break` cancels the job (an error).
pub fn style(request: &StyleRequest, device: &Device, mut progress: impl FnMut(usize, Option<Vec<u8>>) -> ControlFlow<()>) -> Result<Styled> {
    let s = &request.settings;
    if !(16..=2048).contains(&request.size) {
        return Err(AigcError::invalid("size", "must be between 16 and 2048 pixels"));
    }
    if s.steps == 0 {
        return Err(AigcError::invalid("steps", "must be at least 1"));
    }
    for (field, v) in [("content_weight", s.content_weight), ("style_weight", s.style_weight), ("lr", s.lr)] {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(AigcError::invalid(field, format!("must be a non-negative number, got {v}")));
        }
    }
    if request.every == Some(0) {
        return Err(AigcError::invalid("every", "must be at least 1"));
    }
    let ad = device.clone().autodiff();
    let net = match &request.features {
        StyleFeatures::Random => FeatureNet::random(s.seed, &ad),
        StyleFeatures::Vgg19(path) => FeatureNet::vgg19(path, &ad)?,
    };
    let style_image = image_tensor(&request.style.load("style")?, request.size, &ad);
    let content = match &request.content {
        Some(c) => Some(image_tensor(&c.load("content")?, request.size, &ad)),
        None => None,
    };
    let steps = s.steps;
    let mut cancelled = false;
    let (x, report) = stylise(&net, content, style_image, *s, &ad, |step, x| {
        let due = request.every.is_some_and(|e| step % e == 0 && step < steps);
        let flow = progress(step, due.then(|| tensor_png(x.clone())));
        cancelled = flow.is_break();
        flow
    });
    if cancelled {
        return Err(AigcError::Cancelled { what: "style transfer".into() });
    }
    Ok(Styled { png: tensor_png(x), report })
}

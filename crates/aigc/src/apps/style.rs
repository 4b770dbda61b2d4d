//! Style transfer and texture synthesis (Gatys, Ecker & Bethge 2016) with feature networks that
//! need no download.
//!
//! The output image is optimised directly (Adam on its pixels, kept in [0, 1]) so that its
//! feature statistics match the style image's (Gram matrices: the style loss) and its features
//! match the content image's (the content loss). Both losses are relative:
//! `Σ_l ‖G_l(x) − G_l(s)‖² / ‖G_l(s)‖²` over the style layers, `‖F(x) − F(c)‖² / ‖F(c)‖²` for
//! the content layer, so the weights are comparable across images and networks.
//!
//! - **`random`** (default): following Ustyuzhaninov et al. 2017 ("What does it take to generate
//!   natural textures?": a single layer of random filters at several scales suffices) and He,
//!   Wang & Hopcroft 2016 (random networks for style transfer): one bank of 128 random 5×5
//!   filters (seeded; each filter zero-mean with unit norm, so responses are edge/texture detectors
//!   of equal strength), applied with ReLU to an image pyramid of four levels (full, ½, ¼, ⅛
//!   size), so the receptive fields span 5 to 40 pixels of the original. Style: the Gram matrices
//!   of all four levels; content: the responses at ¼ size (layout, not texture).
//! - **`vgg19`**: VGG-19's convolutions from a safetensors file the user provides (torchvision's
//!   key names `features.N.weight`/`features.N.bias`, ImageNet input normalisation); style
//!   `relu1_1, relu2_1, relu3_1, relu4_1, relu5_1`, content `relu4_2` (Gatys et al.'s choice).

use std::path::Path;

use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use image::{DynamicImage, GenericImageView, imageops::FilterType};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{AigcError, Result};
use aigc_ops::conv::{Window, conv2d};

/// Embedded pictures (scikit-image's test images at 256 px, `data/SOURCES.md`).
const PICTURES: [(&str, &[u8]); 6] = [
    ("astronaut", include_bytes!("../../../../data/pictures/astronaut.png")),
    ("chelsea", include_bytes!("../../../../data/pictures/chelsea.png")),
    ("coffee", include_bytes!("../../../../data/pictures/coffee.png")),
    ("brick", include_bytes!("../../../../data/pictures/brick.png")),
    ("grass", include_bytes!("../../../../data/pictures/grass.png")),
    ("gravel", include_bytes!("../../../../data/pictures/gravel.png")),
];

/// Names of the embedded pictures, for help texts and errors.
pub const EMBEDDED_PICTURES: &str = "astronaut, chelsea, coffee, brick, grass, gravel";

/// Whether `name` is an embedded picture's name.
pub fn is_embedded_picture(name: &str) -> bool {
    PICTURES.iter().any(|(n, _)| *n == name)
}

/// An embedded picture by name, or an image file (`field` names the request field in errors).
pub fn load_picture(name_or_path: &str, field: &str) -> Result<DynamicImage> {
    if let Some((_, bytes)) = PICTURES.iter().find(|(n, _)| *n == name_or_path) {
        return image::load_from_memory(bytes).map_err(|e| AigcError::bad_data(format!("<embedded>/{name_or_path}.png"), e.to_string()));
    }
    let path = Path::new(name_or_path);
    if !path.exists() {
        let guess = crate::data::catalog::did_you_mean(name_or_path, crate::data::catalog::Kind::Pictures);
        return Err(AigcError::Missing { path: path.into(), hint: format!(" (`{field}` takes {EMBEDDED_PICTURES} or an image file){guess}") });
    }
    crate::data::folder::read_picture(path)
}

/// `[1, 3, H, W]` in [0, 1], resized so the longer side is `size`.
pub fn image_tensor(img: &DynamicImage, size: u32, device: &Device) -> Tensor<4> {
    let (w, h) = img.dimensions();
    let scale = size as f64 / w.max(h) as f64;
    let (nw, nh) = (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1));
    let mut pixels = Vec::with_capacity(3 * (nw * nh) as usize);
    crate::data::folder::push_chw(&img.resize_exact(nw, nh, FilterType::Lanczos3), 3, &mut pixels);
    let values: Vec<f32> = pixels.into_iter().map(|v| v as f32 / 255.0).collect();
    Tensor::from_data(TensorData::new(values, [1, 3, nh as usize, nw as usize]), device)
}

/// `[1, 3, H, W]` in [0, 1] → an RGB image.
pub fn tensor_image(x: Tensor<4>) -> image::RgbImage {
    let [_, _, h, w] = x.dims();
    let v = x.clamp(0.0, 1.0).into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb([0, 1, 2].map(|c| (v[c * h * w + i] * 255.0).round() as u8))
    })
}

/// `[1, 3, H, W]` in [0, 1] as PNG bytes.
pub fn tensor_png(x: Tensor<4>) -> Vec<u8> {
    crate::report::png_bytes(&DynamicImage::ImageRgb8(tensor_image(x)))
}

/// A feature network: style maps and a content map of an image `[1, 3, H, W]` in [0, 1].
pub enum FeatureNet {
    Random { filters: Tensor<4>, levels: usize },
    Vgg19 { convs: Vec<(Tensor<4>, Tensor<1>)> },
}

const RANDOM_FILTERS: usize = 128;
const RANDOM_KERNEL: usize = 5;
const RANDOM_LEVELS: usize = 4;
const RANDOM_CONTENT_LEVEL: usize = 2;

/// VGG-19's convolutions in torchvision's `features` numbering, with (out, in) channels.
pub const VGG19_CONVS: [(usize, usize, usize); 16] = [
    (0, 64, 3),
    (2, 64, 64),
    (5, 128, 64),
    (7, 128, 128),
    (10, 256, 128),
    (12, 256, 256),
    (14, 256, 256),
    (16, 256, 256),
    (19, 512, 256),
    (21, 512, 512),
    (23, 512, 512),
    (25, 512, 512),
    (28, 512, 512),
    (30, 512, 512),
    (32, 512, 512),
    (34, 512, 512),
];
/// Convolutions followed by a 2×2 max pool (the last of each VGG block).
const VGG19_POOL_AFTER: [usize; 4] = [1, 3, 7, 11];
/// Style layers relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 and content relu4_2 (conv indices).
const VGG19_STYLE: [usize; 5] = [0, 2, 4, 8, 12];
const VGG19_CONTENT: usize = 9;

impl FeatureNet {
    /// The random multi-scale network, seeded.
    pub fn random(seed: u64, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let per = 3 * RANDOM_KERNEL * RANDOM_KERNEL;
        let mut w: Vec<f32> = Vec::with_capacity(RANDOM_FILTERS * per);
        for _ in 0..RANDOM_FILTERS {
            let f: Vec<f32> = (0..per).map(|_| StandardNormal.sample(&mut rng)).collect();
            let mean = f.iter().sum::<f32>() / per as f32;
            let norm = f.iter().map(|v| (v - mean).powi(2)).sum::<f32>().sqrt().max(1e-6);
            w.extend(f.iter().map(|v| (v - mean) / norm));
        }
        let filters = Tensor::from_data(TensorData::new(w, [RANDOM_FILTERS, 3, RANDOM_KERNEL, RANDOM_KERNEL]), device);
        Self::Random { filters, levels: RANDOM_LEVELS }
    }

    /// VGG-19 from a safetensors file with torchvision's key names; every expected tensor must
    /// be there with its exact shape.
    pub fn vgg19(path: &Path, device: &Device) -> Result<Self> {
        use safetensors::{Dtype, SafeTensors};
        let bytes = crate::io::read_limited(path, crate::io::limits::weights_bytes())?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| AigcError::bad_data(path, format!("not a safetensors file: {e}")))?;
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let t = st.tensor(name).map_err(|_| AigcError::bad_data(path, format!("missing tensor {name:?} (VGG-19 in torchvision's naming: features.N.weight/bias)")))?;
            if t.shape() != shape {
                return Err(AigcError::bad_data(path, format!("tensor {name:?} has shape {:?}, VGG-19 needs {shape:?}", t.shape())));
            }
            match t.dtype() {
                Dtype::F32 => Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
                other => Err(AigcError::bad_data(path, format!("tensor {name:?} is {other:?}; expected F32"))),
            }
        };
        let mut convs = Vec::new();
        for (index, out, inp) in VGG19_CONVS {
            let w = read(&format!("features.{index}.weight"), &[out, inp, 3, 3])?;
            let b = read(&format!("features.{index}.bias"), &[out])?;
            convs.push((Tensor::from_data(TensorData::new(w, [out, inp, 3, 3]), device), Tensor::from_data(TensorData::new(b, [out]), device)));
        }
        Ok(Self::Vgg19 { convs })
    }

    /// (style maps, content map) of `x` `[1, 3, H, W]` in [0, 1].
    pub fn features(&self, x: Tensor<4>) -> (Vec<Tensor<4>>, Tensor<4>) {
        match self {
            Self::Random { filters, levels } => {
                let mut maps = Vec::with_capacity(*levels);
                let mut level = x.sub_scalar(0.5);
                for l in 0..*levels {
                    if l > 0 {
                        level = avg_pool2d(level, AvgPoolOptions::new([2, 2]));
                    }
                    maps.push(relu(conv2d(level.clone(), filters.clone(), None, Window::square(RANDOM_KERNEL, 1, RANDOM_KERNEL / 2))));
                }
                let content = maps[RANDOM_CONTENT_LEVEL.min(maps.len() - 1)].clone();
                (maps, content)
            }
            Self::Vgg19 { convs } => {
                let device = x.device();
                let mean = Tensor::<1>::from_data(TensorData::new(vec![0.485f32, 0.456, 0.406], [3]), &device).reshape([1, 3, 1, 1]);
                let std = Tensor::<1>::from_data(TensorData::new(vec![0.229f32, 0.224, 0.225], [3]), &device).reshape([1, 3, 1, 1]);
                let mut h = (x - mean).div(std);
                let (mut style, mut content) = (Vec::new(), None);
                for (i, (w, b)) in convs.iter().enumerate() {
                    h = relu(conv2d(h, w.clone(), Some(b.clone()), Window::square(3, 1, 1)));
                    if VGG19_STYLE.contains(&i) {
                        style.push(h.clone());
                    }
                    if i == VGG19_CONTENT {
                        content = Some(h.clone());
                    }
                    if i == *VGG19_STYLE.last().expect("non-empty") {
                        break;
                    }
                    if VGG19_POOL_AFTER.contains(&i) {
                        h = max_pool2d(h, MaxPoolOptions::new([2, 2]));
                    }
                }
                let content = content.unwrap_or_else(|| h.clone());
                (style, content)
            }
        }
    }
}

/// The Gram matrix `[C, C]` of a feature map `[1, C, H, W]`, divided by the positions.
fn gram(f: Tensor<4>) -> Tensor<2> {
    let [_, c, h, w] = f.dims();
    let f = f.reshape([c, h * w]);
    f.clone().matmul(f.transpose()).div_scalar((h * w) as f64)
}

/// What to optimise.
#[derive(Debug, Clone, Copy)]
pub struct StyleSettings {
    pub steps: usize,
    pub content_weight: f64,
    pub style_weight: f64,
    pub lr: f64,
    pub seed: u64,
}

/// Style and content losses (relative, see the module docs) before and after.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StyleReport {
    pub style_before: f64,
    pub style_after: f64,
    pub content_before: f64,
    pub content_after: f64,
    pub seconds: f64,
}

/// Optimises an image `[1, 3, H, W]` in [0, 1] whose Gram matrices match `style`'s and, with a
/// content image, whose content features match `content`'s (started from the content image);
/// texture synthesis without one (started from seeded noise, at the style image's size).
/// `device` must be an autodiff
/// device. `progress(step, image)` is called after each step; `Break` stops there.
pub fn stylise(
    net: &FeatureNet,
    content: Option<Tensor<4>>,
    style: Tensor<4>,
    settings: StyleSettings,
    device: &Device,
    mut progress: impl FnMut(usize, &Tensor<4>) -> std::ops::ControlFlow<()>,
) -> (Tensor<4>, StyleReport) {
    let started = std::time::Instant::now();
    let inner = device.clone().inner();
    let [_, _, sh, sw] = style.dims();
    let (style_maps, _) = net.features(style);
    let style_grams: Vec<Tensor<2>> = style_maps.into_iter().map(|f| gram(f).detach()).collect();
    let style_norms: Vec<f64> = style_grams.iter().map(|g| g.clone().powi_scalar(2).sum().into_scalar::<f32>() as f64).collect();
    let target_content = content.as_ref().map(|c| {
        let f = net.features(c.clone()).1.detach();
        let norm = f.clone().powi_scalar(2).sum().into_scalar::<f32>() as f64;
        (f, norm.max(1e-12))
    });
    let mut x = match &content {
        Some(c) => c.clone().inner(),
        None => {
            let (h, w) = (sh, sw);
            let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
            let v: Vec<f32> = (0..3 * h * w).map(|_| 0.5 + 0.1 * Distribution::<f32>::sample(&StandardNormal, &mut rng)).collect();
            Tensor::from_data(TensorData::new(v, [1, 3, h, w]), &inner)
        }
    };
    let losses = |x: Tensor<4>| {
        let (maps, content_map) = net.features(x);
        let style: Tensor<1> = maps
            .into_iter()
            .zip(&style_grams)
            .zip(&style_norms)
            .map(|((f, g), n)| (gram(f) - g.clone()).powi_scalar(2).sum().div_scalar(n.max(1e-12)))
            .reduce(|a, b| a + b)
            .expect("at least one style layer");
        let content = target_content.as_ref().map(|(t, n)| (content_map - t.clone()).powi_scalar(2).sum().div_scalar(*n));
        (style, content)
    };
    let value = |t: &Tensor<1>| t.clone().into_scalar::<f32>() as f64;
    let (s0, c0) = losses(Tensor::from_inner(x.clone()));
    let (style_before, content_before) = (value(&s0), c0.as_ref().map(value).unwrap_or(0.0));
    let mut adam = super::TensorAdam::new(&x, settings.lr);
    for step in 0..settings.steps {
        let xg = Tensor::from_inner(x.clone()).require_grad();
        let (style, content) = losses(xg.clone());
        let mut loss = style.mul_scalar(settings.style_weight);
        if let Some(c) = content {
            loss = loss + c.mul_scalar(settings.content_weight);
        }
        let grads = loss.backward();
        let g = xg.grad(&grads).unwrap_or_else(|| x.zeros_like());
        x = adam.step(x, g).clamp(0.0, 1.0);
        if progress(step + 1, &x).is_break() {
            break;
        }
    }
    let (s1, c1) = losses(Tensor::from_inner(x.clone()));
    let report = StyleReport {
        style_before,
        style_after: value(&s1),
        content_before,
        content_after: c1.as_ref().map(value).unwrap_or(0.0),
        seconds: started.elapsed().as_secs_f64(),
    };
    (x, report)
}

//! DiffAugment (Zhao et al. 2020), policy `color,translation,cutout`: the same kind of random,
//! differentiable transformation is applied to real and generated images before every
//! discriminator pass (D step and G step), so a discriminator trained on few images cannot simply
//! memorise them, and the generator still receives gradients through the augmentation.
//!
//! Per image, exactly as the reference implementation (`DiffAugment_pytorch.py`):
//! - brightness: `x + (u − 0.5)`;
//! - saturation: `(x − mean_c) · 2u + mean_c` (mean over channels; a no-op for grayscale);
//! - contrast: `(x − mean) · (u + 0.5) + mean` (mean over channels and pixels);
//! - translation: a shift by up to ±1/8 of the side in each direction, filling with 0;
//! - cutout: a square of half the side, centred anywhere in the image, set to 0;
//!
//! with `u ~ U[0, 1)` drawn independently per image and transformation. Every step is a tensor
//! operation (the shift is a product with 0/1 shift matrices), so gradients flow to the input.

use burn::tensor::{Device, Tensor, TensorData};

use crate::run::rng::NoiseRng;
use crate::data::ImageShape;

/// The random draws of one augmentation of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentParams {
    /// Per image: brightness, saturation and contrast draws `u` in [0, 1).
    pub brightness: Vec<f32>,
    pub saturation: Vec<f32>,
    pub contrast: Vec<f32>,
    /// Per image: (rows, columns) shift; positive moves content down / right.
    pub shift: Vec<(i64, i64)>,
    /// Per image: top-left corner (row, column) of the cutout square, possibly outside the image.
    pub cutout: Vec<(i64, i64)>,
}

impl AugmentParams {
    /// Draws the parameters for `batch` images of `shape` from `rng`.
    pub fn draw(batch: usize, shape: ImageShape, rng: &mut NoiseRng) -> Self {
        let (h, w) = (shape.height as i64, shape.width as i64);
        let u = rng.uniform(3 * batch);
        let uu = rng.uniform(4 * batch);
        let (sh, sw) = (h / 8, w / 8);
        let (ch, cw) = (h / 2, w / 2);
        // Integers in [lo, hi] from uniforms (the reference's torch.randint(lo, hi + 1)).
        let pick = |u: f32, lo: i64, hi: i64| lo + ((u as f64 * (hi - lo + 1) as f64) as i64).min(hi - lo);
        Self {
            brightness: u[..batch].to_vec(),
            saturation: u[batch..2 * batch].to_vec(),
            contrast: u[2 * batch..3 * batch].to_vec(),
            shift: (0..batch).map(|i| (pick(uu[4 * i], -sh, sh), pick(uu[4 * i + 1], -sw, sw))).collect(),
            // The reference draws the centre in [0, side + (1 − side % 2)) and clamps the square.
            cutout: (0..batch)
                .map(|i| (pick(uu[4 * i + 2], 0, h - 1 + h % 2) - ch / 2, pick(uu[4 * i + 3], 0, w - 1 + w % 2) - cw / 2))
                .collect(),
        }
    }
}

/// Applies DiffAugment with drawn `params` to `[batch, C·H·W]` images.
pub fn diff_augment(x: Tensor<2>, shape: ImageShape, params: &AugmentParams) -> Tensor<2> {
    let batch = x.dims()[0];
    let device = x.device();
    let (c, h, w) = (shape.channels, shape.height, shape.width);
    let per_image = |values: &[f32]| Tensor::<4>::from_data(TensorData::new(values.to_vec(), [batch, 1, 1, 1]), &device);
    let mut x = x.reshape([batch, c, h, w]);
    // Colour.
    x = x + per_image(&params.brightness).sub_scalar(0.5);
    let mean_c = x.clone().mean_dim(1);
    x = (x - mean_c.clone()) * per_image(&params.saturation).mul_scalar(2.0) + mean_c;
    let mean = x.clone().mean_dims(&[1, 2, 3]);
    x = (x - mean.clone()) * per_image(&params.contrast).add_scalar(0.5) + mean;
    // Translation: out[i, j] = x[i − dy, j − dx] (0 outside) = (S_dy · x · S_dxᵀ)[i, j].
    let rows = shift_matrices(params.shift.iter().map(|s| s.0), h, c, &device);
    let cols = shift_matrices(params.shift.iter().map(|s| s.1), w, c, &device);
    x = rows.matmul(x).matmul(cols.swap_dims(2, 3));
    // Cutout.
    x = x * cutout_mask(&params.cutout, shape, &device);
    x.reshape([batch, c * h * w])
}

/// `[batch, channels, n, n]` matrices S with S[i, i − d] = 1.
fn shift_matrices(shifts: impl Iterator<Item = i64>, n: usize, channels: usize, device: &Device) -> Tensor<4> {
    let mut values = Vec::new();
    let mut batch = 0;
    for d in shifts {
        let mut m = vec![0.0f32; n * n];
        for i in 0..n as i64 {
            let j = i - d;
            if (0..n as i64).contains(&j) {
                m[i as usize * n + j as usize] = 1.0;
            }
        }
        for _ in 0..channels {
            values.extend_from_slice(&m);
        }
        batch += 1;
    }
    Tensor::from_data(TensorData::new(values, [batch, channels, n, n]), device)
}

/// `[batch, 1, h, w]` masks: 0 inside each image's cutout square (half the side), 1 elsewhere.
fn cutout_mask(corners: &[(i64, i64)], shape: ImageShape, device: &Device) -> Tensor<4> {
    let (h, w) = (shape.height as i64, shape.width as i64);
    let (ch, cw) = (h / 2, w / 2);
    let mut values = vec![1.0f32; corners.len() * (h * w) as usize];
    for (b, &(top, left)) in corners.iter().enumerate() {
        for i in top.max(0)..(top + ch).min(h) {
            for j in left.max(0)..(left + cw).min(w) {
                values[b * (h * w) as usize + (i * w + j) as usize] = 0.0;
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [corners.len(), 1, shape.height, shape.width]), device)
}

//! The feature network of unlabelled images (faces, colour photo folders): a small CNN encoder
//! trained self-supervised on the data set's own training images, SimCLR-style (Chen et al.
//! 2020): two random views of each image (crop and resize, flip, brightness, contrast, colour)
//! go through the encoder and a projection head, and the NT-Xent loss makes each view pick its
//! twin out of the batch. The encoder's output before the head (128 features) is the feature
//! space of FID/KID/precision-recall. It needs no labels and no download, and it learns what
//! distinguishes one image of the data from another, so images that lack the data's structure
//! (noise, texture, blur) land away from the real ones. It has no classes: no Inception Score.
//!
//! Conv(C→32, 3×3, same) ReLU MaxPool2 → Conv(32→64, 3×3, same) ReLU MaxPool2 →
//! Linear(64·(H/4)·(W/4) → 128) ReLU [features] → Linear(128 → 128) ReLU → Linear(128 → 64).

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::classifier::{Classifier, ClassifierConfig};
use super::features::Features;
use crate::data::{ImageDataset, ImageShape};
use crate::error::{AigcError, Result};
use crate::run::record::{self, MODEL, OPTIMIZER};
use crate::run::rng::epoch_permutation;
use crate::run::{Manifest, RunDir, TrainState};
use crate::train::{Cadence, Cursor, FitOptions, StepMetrics, Trainer, fit};

/// The `family` of an encoder's training run (in the feature cache).
pub const FAMILY: &str = "contrastive-encoder";

#[derive(Config, Debug)]
pub struct EncoderConfig {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    #[config(default = 128)]
    pub feature_dim: usize,
    #[config(default = 64)]
    pub projection_dim: usize,
}

/// The classifier's network ([`Classifier`]: two convolutions and the 128 features the metrics
/// read) with its output layer sized as the first layer of SimCLR's projection head, and the
/// head's second layer.
#[derive(Module, Debug)]
pub struct Encoder {
    trunk: Classifier,
    head: Linear,
}

impl EncoderConfig {
    pub fn init(&self, device: &Device) -> Encoder {
        // "classes" is the width of the head's first layer, which is the feature width.
        let head_width = self.feature_dim;
        let trunk = ClassifierConfig::new(self.channels, self.height, self.width, head_width).with_feature_dim(self.feature_dim);
        Encoder { trunk: trunk.init(device), head: LinearConfig::new(self.feature_dim, self.projection_dim).init(device) }
    }
}

impl Encoder {
    /// The features of `[batch, C*H*W]` images in [-1, 1] (the trunk's, as the classifier's).
    pub fn features(&self, images: Tensor<2>) -> Tensor<2> {
        self.trunk.features(images)
    }

    /// The projection the loss compares.
    fn project(&self, images: Tensor<2>) -> Tensor<2> {
        self.head.forward(relu(self.trunk.logits(images)))
    }
}

/// How the encoder is trained.
#[derive(Config, Debug, PartialEq)]
pub struct EncoderTrainConfig {
    /// Measured on faces-100 (Intel Xeon, 2 cores): 300 steps of 100 images already rank real
    /// faces, a VAE's, a 300-step GAN's noise texture and uniform noise correctly; the ranking
    /// held for every setting tried, and view retrieval grows with steps × batch.
    #[config(default = 500)]
    pub steps: usize,
    /// Images per batch (each gives two views); smaller training sets use them all.
    #[config(default = 64)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub lr: f64,
    /// NT-Xent temperature (SimCLR's 0.5 for small batches).
    #[config(default = 0.5)]
    pub temperature: f64,
    /// The smallest crop, as a share of the image's area.
    #[config(default = 0.35)]
    pub min_crop: f64,
    #[config(default = 0)]
    pub seed: u64,
}

/// What training the encoder measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncoderReport {
    pub data: String,
    /// Share of held-out images whose second random view is the nearest (in feature space) to
    /// its first among all held-out images' second views: how well the features tell images
    /// apart (chance: 1 / `heldout_images`).
    pub view_retrieval: f64,
    pub heldout_images: usize,
    pub shape: ImageShape,
    /// The last training loss (NT-Xent, nats).
    pub final_loss: f64,
}

/// A logged step of the encoder's training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderMetrics {
    pub step: usize,
    pub loss: f64,
    pub elapsed_s: f64,
}

impl StepMetrics for EncoderMetrics {
    fn losses(&self) -> Vec<(&'static str, f64)> {
        vec![("loss", self.loss)]
    }

    fn message(&self) -> String {
        format!("contrastive loss {:.4}", self.loss)
    }

    fn set_timing(&mut self, elapsed_s: f64, _steps_per_s: f64) {
        self.elapsed_s = elapsed_s;
    }
}

/// The encoder's trainer: Adam on NT-Xent over two augmented views of a batch, batches from a
/// seeded permutation per epoch.
struct EncoderTrainer<'a> {
    config: EncoderTrainConfig,
    model: Encoder,
    optim: ModuleOptimizer,
    train: &'a ImageDataset,
    batch: usize,
    per_epoch: usize,
    epoch: Option<(usize, Vec<usize>)>,
    rng: ChaCha8Rng,
    last_loss: f64,
    /// An autodiff device.
    device: Device,
}

fn adam() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-8).init()
}

/// The augmentation noise of `step`'s epoch, from its start.
fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ 0x5C1E ^ (epoch as u64) << 32)
}

/// NT-Xent: row `i` of the first half and row `i` of the second are a pair; every other row of
/// the batch is a negative.
fn nt_xent(z: Tensor<2>, temperature: f64, device: &Device) -> Tensor<1> {
    let [rows, _] = z.dims();
    let half = rows / 2;
    let norm = z.clone().powf_scalar(2.0).sum_dim(1).sqrt().add_scalar(1e-8);
    let z = z / norm;
    let similarity = z.clone().matmul(z.transpose()).div_scalar(temperature);
    let diagonal: Vec<bool> = (0..rows * rows).map(|k| k / rows == k % rows).collect();
    let diagonal = Tensor::<2, Bool>::from_data(TensorData::new(diagonal, [rows, rows]), device);
    let logits = similarity.mask_fill(diagonal, -1e9);
    let targets: Vec<i64> = (0..rows).map(|i| ((i + half) % rows) as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [rows]), device);
    CrossEntropyLossConfig::new().init(device).forward(logits, targets)
}

impl Trainer for EncoderTrainer<'_> {
    type Metrics = EncoderMetrics;
    type Eval = ();

    fn total_steps(&self) -> usize {
        self.config.steps
    }

    fn cadence(&self) -> Cadence {
        Cadence { log_every: 10, sample_every: None, eval_every: None, checkpoint_every: 500, keep_checkpoints: 1 }
    }

    fn step(&mut self, step: usize, measure: bool) -> Option<EncoderMetrics> {
        let (epoch, i) = (step / self.per_epoch, step % self.per_epoch);
        if i == 0 {
            self.rng = epoch_rng(self.config.seed, epoch);
        }
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.epoch = Some((epoch, epoch_permutation(self.config.seed, epoch, self.train.len())));
        }
        let order = &self.epoch.as_ref().expect("set above").1;
        let chunk = &order[i * self.batch..(i + 1) * self.batch];
        let shape = self.train.shape;
        let images = self.train.batch_values(chunk);
        let mut views = augment(&images, shape, self.config.min_crop, &mut self.rng);
        views.extend(augment(&images, shape, self.config.min_crop, &mut self.rng));
        let x = Tensor::<2>::from_data(TensorData::new(views, [2 * chunk.len(), shape.len()]), &self.device);
        let loss = nt_xent(self.model.project(x), self.config.temperature, &self.device);
        let measured = measure.then(|| loss.clone().into_scalar::<f32>() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        // The last fifth at a tenth of the rate.
        let lr = if step * 5 >= self.config.steps * 4 { self.config.lr * 0.1 } else { self.config.lr };
        self.model = self.optim.step(lr, self.model.clone(), grads);
        if let Some(loss) = measured {
            self.last_loss = loss;
        }
        measured.map(|loss| EncoderMetrics { step: step + 1, loss, elapsed_s: 0.0 })
    }

    fn cursor(&self) -> Cursor {
        Cursor { batches_seen: 0, rng_word_pos: self.rng.get_word_pos() }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        record::save_module(&self.model, dir, MODEL)?;
        record::save_optimizer(&self.optim, dir, OPTIMIZER)
    }

    fn load(&mut self, dir: &Path, state: &TrainState) -> Result<()> {
        self.model = record::load_module(self.model.clone(), &dir.join(MODEL))?;
        self.optim = adam().load_record(record::load_optimizer(&dir.join(OPTIMIZER))?);
        self.rng = epoch_rng(self.config.seed, state.step / self.per_epoch);
        self.rng.set_word_pos(state.rng_word_pos);
        Ok(())
    }
}

/// Trains the encoder on `train` into the run directory `out` (resuming an interrupted
/// training), and measures view retrieval on `heldout`. `device` without autodiff.
pub fn train_encoder(
    train: &ImageDataset,
    heldout: &ImageDataset,
    data_name: &str,
    config: &EncoderTrainConfig,
    out: &Path,
    device: &Device,
    quiet: bool,
) -> Result<(Encoder, EncoderReport)> {
    let shape = train.shape;
    if shape.height < 8 || shape.width < 8 {
        return Err(AigcError::bad_data(data_name, format!("images of {shape} are too small for the feature network (8×8 at least)")));
    }
    if train.len() < 2 {
        return Err(AigcError::bad_data(data_name, "a feature network needs at least 2 training images"));
    }
    let run = RunDir::new(out);
    let resume_from = run.checkpoints(1).latest()?;
    let ad = device.clone().autodiff();
    ad.seed(config.seed);
    let model = EncoderConfig::new(shape.channels, shape.height, shape.width).init(&ad);
    let batch = config.batch_size.min(train.len()).max(2);
    let mut trainer = EncoderTrainer {
        config: config.clone(),
        model,
        optim: adam(),
        train,
        batch,
        per_epoch: (train.len() / batch).max(1),
        epoch: None,
        rng: epoch_rng(config.seed, 0),
        last_loss: f64::NAN,
        device: ad,
    };
    fit(&mut trainer, &run, &Manifest::new(FAMILY, config)?, resume_from, FitOptions { quiet, control: None })?;
    let final_loss = trainer.last_loss;
    let model = trainer.model.valid();
    let report = EncoderReport {
        data: data_name.to_string(),
        view_retrieval: view_retrieval(&model, heldout, config, device),
        heldout_images: heldout.len(),
        shape,
        final_loss,
    };
    Ok((model, report))
}

/// Share of `data`'s images whose two random views are each other's nearest neighbours.
fn view_retrieval(model: &Encoder, data: &ImageDataset, config: &EncoderTrainConfig, device: &Device) -> f64 {
    let all: Vec<usize> = (0..data.len()).collect();
    let images = data.batch_values(&all);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0xFEED);
    let a = encoder_features(model, &augment(&images, data.shape, config.min_crop, &mut rng), data.shape.len(), device);
    let b = encoder_features(model, &augment(&images, data.shape, config.min_crop, &mut rng), data.shape.len(), device);
    let unit = |f: &Features, i: usize| {
        let row = f.row(i);
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        row.iter().map(|v| v / norm).collect::<Vec<f64>>()
    };
    let (a, b): (Vec<Vec<f64>>, Vec<Vec<f64>>) = ((0..a.n).map(|i| unit(&a, i)).collect(), (0..b.n).map(|i| unit(&b, i)).collect());
    let hits = a
        .iter()
        .enumerate()
        .filter(|(i, query)| {
            let cosine = |row: &Vec<f64>| row.iter().zip(query.iter()).map(|(x, y)| x * y).sum::<f64>();
            b.iter().enumerate().max_by(|x, y| cosine(x.1).total_cmp(&cosine(y.1))).map(|(j, _)| j) == Some(*i)
        })
        .count();
    hits as f64 / a.len().max(1) as f64
}

const CHUNK: usize = 500;

/// Features of images (`[n, image_dim]` values in [-1, 1]), computed in chunks without autodiff.
pub fn encoder_features(model: &Encoder, values: &[f32], image_dim: usize, device: &Device) -> Features {
    let mut out = Vec::new();
    let mut dim = 0;
    for chunk in values.chunks(CHUNK * image_dim) {
        let n = chunk.len() / image_dim;
        let x = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [n, image_dim]), device);
        let y = model.features(x);
        dim = y.dims()[1];
        out.extend(y.into_data().convert::<f64>().try_into_vec::<f64>().unwrap_or_default());
    }
    Features::new(out.len() / dim.max(1), dim, out)
}

/// One random view of each image: a crop of random area (`min_crop` to all of it) and aspect
/// (3:4 to 4:3) resized back bilinearly, a horizontal flip half the time, and with probability
/// 0.8 a brightness, contrast and (colour images) saturation change; colour images turn gray a
/// fifth of the time.
pub fn augment(values: &[f32], shape: ImageShape, min_crop: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let (c, h, w) = (shape.channels, shape.height, shape.width);
    let mut out = vec![0.0f32; values.len()];
    for (image, view) in values.chunks_exact(shape.len()).zip(out.chunks_exact_mut(shape.len())) {
        let area = rng.random_range(min_crop..=1.0);
        let aspect = rng.random_range((0.75f64).ln()..=(4.0f64 / 3.0).ln()).exp();
        let ch = ((area / aspect).sqrt() * h as f64).clamp(2.0, h as f64);
        let cw = ((area * aspect).sqrt() * w as f64).clamp(2.0, w as f64);
        let top = rng.random_range(0.0..=(h as f64 - ch));
        let left = rng.random_range(0.0..=(w as f64 - cw));
        let flip = rng.random_bool(0.5);
        for plane in 0..c {
            let source = &image[plane * h * w..(plane + 1) * h * w];
            for y in 0..h {
                let sy = (top + (y as f64 + 0.5) * ch / h as f64 - 0.5).clamp(0.0, h as f64 - 1.0);
                let (y0, fy) = (sy.floor() as usize, sy.fract() as f32);
                let y1 = (y0 + 1).min(h - 1);
                for x in 0..w {
                    let xx = if flip { w - 1 - x } else { x };
                    let sx = (left + (xx as f64 + 0.5) * cw / w as f64 - 0.5).clamp(0.0, w as f64 - 1.0);
                    let (x0, fx) = (sx.floor() as usize, sx.fract() as f32);
                    let x1 = (x0 + 1).min(w - 1);
                    let top_row = source[y0 * w + x0] * (1.0 - fx) + source[y0 * w + x1] * fx;
                    let bottom_row = source[y1 * w + x0] * (1.0 - fx) + source[y1 * w + x1] * fx;
                    view[plane * h * w + y * w + x] = top_row * (1.0 - fy) + bottom_row * fy;
                }
            }
        }
        if rng.random_bool(0.8) {
            let brightness = rng.random_range(-0.4f32..=0.4);
            let contrast = rng.random_range(0.6f32..=1.4);
            let saturation = rng.random_range(0.6f32..=1.4);
            let mean = view.iter().sum::<f32>() / view.len() as f32;
            for v in view.iter_mut() {
                *v = (*v - mean) * contrast + mean + brightness;
            }
            if c == 3 {
                desaturate(view, h * w, 1.0 - saturation);
            }
        }
        if c == 3 && rng.random_bool(0.2) {
            desaturate(view, h * w, 1.0);
        }
        for v in view.iter_mut() {
            *v = v.clamp(-1.0, 1.0);
        }
    }
    out
}

/// Moves an RGB image's pixels `amount` of the way to their gray (negative: away from it).
fn desaturate(view: &mut [f32], plane: usize, amount: f32) {
    for p in 0..plane {
        let gray = 0.299 * view[p] + 0.587 * view[plane + p] + 0.114 * view[2 * plane + p];
        for c in 0..3 {
            let v = &mut view[c * plane + p];
            *v += (gray - *v) * amount;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_keep_the_shape_and_range_and_differ() {
        let shape = ImageShape::new(3, 8, 8);
        let values: Vec<f32> = (0..2 * shape.len()).map(|i| ((i * 37 % 200) as f32 / 100.0) - 1.0).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = augment(&values, shape, 0.35, &mut rng);
        let b = augment(&values, shape, 0.35, &mut rng);
        assert_eq!(a.len(), values.len());
        assert!(a.iter().chain(&b).all(|v| (-1.0..=1.0).contains(v)));
        assert!(a != b);
        // The full crop without flip or jitter is the image itself.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let same = augment(&values, shape, 1.0, &mut rng);
        assert_eq!(same.len(), values.len());
    }

    #[test]
    fn nt_xent_is_low_when_twins_match_and_high_when_they_do_not() {
        let device = Device::flex();
        let twins = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0], [4, 2]), &device);
        let crossed = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], [4, 2]), &device);
        let low = nt_xent(twins, 0.5, &device).into_scalar::<f32>();
        let high = nt_xent(crossed, 0.5, &device).into_scalar::<f32>();
        // Twins identical and orthogonal to the rest: -ln(e² / (e² + 2)) = 0.239.
        assert!((low - 0.2395).abs() < 1e-3, "{low}");
        assert!(high > 2.0, "{high}");
    }
}

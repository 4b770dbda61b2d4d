//! The feature network: a small CNN classifier trained on a labelled data set. Its penultimate
//! layer (128 features) is the feature space of FID/KID/precision-recall, and its softmax gives
//! the classifier Inception Score and class coverage — an offline, small-data stand-in for the
//! Inception network, which cannot be downloaded here.
//!
//! Conv(C→32, 3×3, same) ReLU MaxPool2 → Conv(32→64, 3×3, same) ReLU MaxPool2 →
//! Linear(64·(H/4)·(W/4) → 128) ReLU → Linear(128 → classes).

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::Features;
use crate::data::{ImageDataset, ImageShape};
use crate::error::{AigcError, Result};
use crate::run::record::{self, MODEL, OPTIMIZER};
use crate::run::rng::epoch_permutation;
use crate::run::{Manifest, RunDir, TrainState};
use crate::train::{Cadence, Cursor, FitOptions, StepMetrics, Trainer, fit};

/// The `family` of a feature network's training run (in the feature cache; not a generative
/// family, so `open` does not know it).
pub const FAMILY: &str = "feature-network";

#[derive(Config, Debug)]
pub struct ClassifierConfig {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    #[config(default = 128)]
    pub feature_dim: usize,
}

#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    hidden: Linear,
    output: Linear,
    shape: [usize; 3],
}

impl ClassifierConfig {
    pub fn init(&self, device: &Device) -> Classifier {
        let flat = 64 * (self.height / 4) * (self.width / 4);
        Classifier {
            conv1: Conv2dConfig::new([self.channels, 32], [3, 3]).with_padding(PaddingConfig2d::Same).init(device),
            conv2: Conv2dConfig::new([32, 64], [3, 3]).with_padding(PaddingConfig2d::Same).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            hidden: LinearConfig::new(flat, self.feature_dim).init(device),
            output: LinearConfig::new(self.feature_dim, self.classes).init(device),
            shape: [self.channels, self.height, self.width],
        }
    }
}

impl Classifier {
    /// Penultimate-layer features of `[batch, C*H*W]` images in [-1, 1].
    pub fn features(&self, images: Tensor<2>) -> Tensor<2> {
        let [c, h, w] = self.shape;
        let batch = images.dims()[0];
        let x = images.reshape([batch, c, h, w]);
        let x = self.pool.forward(relu(self.conv1.forward(x)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        relu(self.hidden.forward(x.flatten(1, 3)))
    }

    pub fn logits(&self, images: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.features(images))
    }
}

/// How the feature network is trained.
#[derive(Config, Debug, PartialEq)]
pub struct ClassifierTrainConfig {
    #[config(default = 10)]
    pub epochs: usize,
    /// Random translations of up to this many pixels (training only).
    #[config(default = 2)]
    pub max_shift: usize,
    #[config(default = 64)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub lr: f64,
    #[config(default = 0)]
    pub seed: u64,
}

/// What training the feature network measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierReport {
    pub data: String,
    pub heldout_accuracy: f64,
    pub heldout_images: usize,
    pub classes: usize,
    pub shape: ImageShape,
}

fn labels_of(data: &ImageDataset, path: &str) -> Result<Vec<u16>> {
    data.labels()
        .map(|l| l.to_vec())
        .ok_or_else(|| AigcError::invalid("data", format!("{path}: a feature network needs class labels")))
}

/// A logged step of the feature network's training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierMetrics {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub elapsed_s: f64,
}

impl StepMetrics for ClassifierMetrics {
    fn losses(&self) -> Vec<(&'static str, f64)> {
        vec![("loss", self.loss)]
    }

    fn message(&self) -> String {
        format!("epoch {} loss {:.4}", self.epoch, self.loss)
    }

    fn set_timing(&mut self, elapsed_s: f64, _steps_per_s: f64) {
        self.elapsed_s = elapsed_s;
    }
}

/// The feature network's trainer: Adam on the cross-entropy of randomly shifted training
/// images, a seeded permutation per epoch, the learning rate a tenth for the last third.
pub struct ClassifierTrainer<'a> {
    config: ClassifierTrainConfig,
    model: Classifier,
    optim: ModuleOptimizer,
    loss: CrossEntropyLoss,
    train: &'a ImageDataset,
    labels: Vec<u16>,
    batch: usize,
    per_epoch: usize,
    /// The current epoch's permutation and shift noise.
    epoch: Option<(usize, Vec<usize>)>,
    rng: ChaCha8Rng,
    /// An autodiff device.
    device: Device,
}

fn adam() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-8).init()
}

/// The shift noise of `epoch`, from its start.
fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64) << 32)
}

impl Trainer for ClassifierTrainer<'_> {
    type Metrics = ClassifierMetrics;
    type Eval = ();

    fn total_steps(&self) -> usize {
        self.config.epochs * self.per_epoch
    }

    fn cadence(&self) -> Cadence {
        Cadence { log_every: 10, sample_every: None, eval_every: None, checkpoint_every: self.per_epoch.max(1), keep_checkpoints: 1 }
    }

    fn step(&mut self, step: usize, measure: bool) -> Option<ClassifierMetrics> {
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
        let mut values = self.train.batch_values(chunk);
        random_shift(&mut values, shape, self.config.max_shift, &mut self.rng);
        let x = Tensor::<2>::from_data(TensorData::new(values, [chunk.len(), shape.len()]), &self.device);
        let y: Vec<i64> = chunk.iter().map(|&i| self.labels[i] as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [chunk.len()]), &self.device);
        let loss = self.loss.forward(self.model.logits(x), y);
        let measured = measure.then(|| loss.clone().into_scalar::<f32>() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        // Step decay: the last third of training at a tenth of the rate.
        let lr = if epoch * 3 >= self.config.epochs * 2 { self.config.lr * 0.1 } else { self.config.lr };
        self.model = self.optim.step(lr, self.model.clone(), grads);
        measured.map(|loss| ClassifierMetrics { step: step + 1, epoch: epoch + 1, loss, elapsed_s: 0.0 })
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

/// Trains the classifier on `train` into the run directory `out` (resuming it when it holds
/// an interrupted training), reports accuracy on `heldout`. `device` without autodiff.
pub fn train_classifier(
    train: &ImageDataset,
    heldout: &ImageDataset,
    data_name: &str,
    config: &ClassifierTrainConfig,
    out: &Path,
    device: &Device,
    quiet: bool,
) -> Result<(Classifier, ClassifierReport)> {
    let labels = labels_of(train, data_name)?;
    let classes = train.class_names.len().max(labels.iter().copied().max().unwrap_or(0) as usize + 1);
    let shape = train.shape;
    if shape.height < 4 || shape.width < 4 {
        return Err(AigcError::bad_data(data_name, format!("images of {shape} are too small for the feature network")));
    }
    let run = RunDir::new(out);
    let resume_from = run.checkpoints(1).latest()?;
    let ad = device.clone().autodiff();
    ad.seed(config.seed);
    let model = ClassifierConfig::new(shape.channels, shape.height, shape.width, classes).init(&ad);
    let batch = config.batch_size.min(train.len()).max(1);
    let mut trainer = ClassifierTrainer {
        config: config.clone(),
        model,
        optim: adam(),
        loss: CrossEntropyLossConfig::new().init(&ad),
        train,
        labels,
        batch,
        per_epoch: train.len() / batch,
        epoch: None,
        rng: epoch_rng(config.seed, 0),
        device: ad,
    };
    fit(&mut trainer, &run, &Manifest::new(FAMILY, config)?, resume_from, FitOptions { quiet, control: None })?;
    let model = trainer.model.valid();
    let accuracy = accuracy(&model, heldout, data_name, device)?;
    let report = ClassifierReport {
        data: data_name.to_string(),
        heldout_accuracy: accuracy,
        heldout_images: heldout.len(),
        classes,
        shape,
    };
    Ok((model, report))
}

/// Shifts each image by a random offset in [-max, max]² pixels, filling with the background (-1).
fn random_shift(values: &mut [f32], shape: ImageShape, max: usize, rng: &mut ChaCha8Rng) {
    if max == 0 {
        return;
    }
    let (h, w) = (shape.height as isize, shape.width as isize);
    let max = max as isize;
    for image in values.chunks_exact_mut(shape.len()) {
        let (dy, dx) = (rng.random_range(-max as i64..=max as i64) as isize, rng.random_range(-max as i64..=max as i64) as isize);
        let source = image.to_vec();
        for c in 0..shape.channels {
            let plane = c * (h * w) as usize;
            for y in 0..h {
                for x in 0..w {
                    let (sy, sx) = (y - dy, x - dx);
                    let inside = (0..h).contains(&sy) && (0..w).contains(&sx);
                    image[plane + (y * w + x) as usize] =
                        if inside { source[plane + (sy * w + sx) as usize] } else { -1.0 };
                }
            }
        }
    }
}

/// Fraction of `data` the classifier labels correctly.
pub fn accuracy(model: &Classifier, data: &ImageDataset, name: &str, device: &Device) -> Result<f64> {
    let labels = labels_of(data, name)?;
    let probs = class_probabilities(model, &all_values(data), data.shape.len(), device);
    let correct = probs.rows().zip(&labels).filter(|(p, l)| argmax(p) == **l as usize).count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

fn all_values(data: &ImageDataset) -> Vec<f32> {
    let all: Vec<usize> = (0..data.len()).collect();
    data.batch_values(&all)
}

pub fn argmax(row: &[f64]) -> usize {
    row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)
}

const CHUNK: usize = 500;

/// Features of images (`[n, image_dim]` values in [-1, 1]), computed in chunks without autodiff.
pub fn extract_features(model: &Classifier, values: &[f32], image_dim: usize, device: &Device) -> Features {
    map_chunks(values, image_dim, device, |x| model.features(x))
}

/// Softmax class probabilities of images.
pub fn class_probabilities(model: &Classifier, values: &[f32], image_dim: usize, device: &Device) -> Features {
    map_chunks(values, image_dim, device, |x| softmax(model.logits(x), 1))
}

fn map_chunks(values: &[f32], image_dim: usize, device: &Device, f: impl Fn(Tensor<2>) -> Tensor<2>) -> Features {
    let mut out = Vec::new();
    let mut dim = 0;
    for chunk in values.chunks(CHUNK * image_dim) {
        let n = chunk.len() / image_dim;
        let x = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [n, image_dim]), device);
        let y = f(x);
        dim = y.dims()[1];
        out.extend(y.into_data().convert::<f64>().try_into_vec::<f64>().unwrap_or_default());
    }
    Features::new(out.len() / dim.max(1), dim, out)
}

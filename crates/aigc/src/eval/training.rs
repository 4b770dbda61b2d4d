//! `eval_every`: evaluations during training, for every image family. Every so many steps
//! `eval_samples` images from the model's sampler are measured against the held-out images in
//! the feature space of the data set's feature network (KID, FID, precision, recall); the lowest
//! KID picks `best/`.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::DataSplits;
use crate::error::Result;
use crate::eval::feature_cache::data_extractor;
use crate::eval::images::compare_with_real_features;
use crate::eval::{FeatureExtractor, Features};
use crate::sample::SampleLabels;
use crate::sample::latent::{Generator, generate_many};

/// An evaluation logged during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: usize,
    pub kid: f64,
    /// The spread over KID's subsets; `None` when there was one subset (as many generated as
    /// held-out images, at most 1,000 of each).
    pub kid_std: Option<f64>,
    pub fid: f64,
    pub precision: f64,
    pub recall: f64,
    /// Generated images measured.
    pub samples: usize,
}

/// The data set's feature network and the held-out images' features (computed once).
pub struct TrainingEvaluator {
    samples: usize,
    seed: u64,
    extractor: Box<dyn FeatureExtractor>,
    real: Features,
}

impl TrainingEvaluator {
    /// Loads (or trains and caches under `cache`) the feature network of `data_name`.
    pub fn new(data_name: &str, data: &DataSplits, samples: usize, seed: u64, cache: &std::path::Path, device: &Device, quiet: bool) -> Result<Self> {
        let extractor = data_extractor(data_name, data, cache, device, quiet)?;
        let all: Vec<usize> = (0..data.heldout.len()).collect();
        let real = extractor.features(&data.heldout.batch_values(&all));
        Ok(Self { samples, seed: seed ^ 0xE7A1, extractor, real })
    }

    /// How many images each evaluation measures, and the seed to draw them with (balanced
    /// over the classes of a conditional model).
    pub fn request(&self) -> (usize, u64) {
        (self.samples, self.seed)
    }

    /// Measures a latent-variable generator.
    pub fn evaluate<G: Generator>(&self, generator: &G, step: usize, device: &Device) -> EvalMetrics {
        self.measure(&generate_many(generator, self.samples, self.seed, SampleLabels::Balanced, device), step)
    }

    /// Measures `generated` (`[n, dim]` in [-1, 1], drawn as [`Self::request`] says).
    pub fn measure(&self, generated: &[f32], step: usize) -> EvalMetrics {
        let c = compare_with_real_features(self.extractor.as_ref(), &self.real, generated, self.seed);
        EvalMetrics { step, kid: c.kid.mean, kid_std: c.kid.error(), fid: c.fid, precision: c.precision, recall: c.recall, samples: c.generated }
    }

    /// The evaluation's one-line summary.
    pub fn line(m: &EvalMetrics) -> String {
        let kid = m.kid_std.map_or_else(|| format!("{:.4}", m.kid), |std| format!("{:.4} ± {std:.4}", m.kid));
        format!("step {}: KID {kid}, FID {:.2}, precision {:.3}, recall {:.3}", m.step, m.fid, m.precision, m.recall)
    }
}

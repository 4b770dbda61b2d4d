//! The pluggable feature extractor behind every metric, one per data set and trained on it (no
//! download): the CNN classifier of a labelled data set ([`ClassifierFeatures`]), or for
//! unlabelled images (faces, photo folders, any colour images) a self-supervised encoder
//! trained on the data's own images ([`EncoderFeatures`], see [`super::contrastive`]). Either
//! way the numbers are relative to that network: they rank runs on the same data, and are not
//! comparable with Inception-based values elsewhere or across data sets.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::classifier::{Classifier, ClassifierReport, class_probabilities, extract_features};
use super::contrastive::{Encoder, EncoderReport, encoder_features};
use super::features::Features;
use crate::data::ImageShape;

pub trait FeatureExtractor {
    /// What the features come from, for reports.
    fn name(&self) -> String;
    /// The image size the extractor takes.
    fn input_shape(&self) -> ImageShape;
    /// Features of `[n, image_dim]` images in [-1, 1].
    fn features(&self, images: &[f32]) -> Features;
    /// Class probabilities, for extractors that classify (Inception Score, class coverage).
    fn class_probabilities(&self, images: &[f32]) -> Option<Features>;
    /// How the network was trained and how well it does, for `eval.json`.
    fn report(&self) -> FeatureNetworkReport;
}

/// What an evaluation's feature network is (`feature_network` in `eval.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureNetworkReport {
    Classifier(ClassifierReport),
    Contrastive(EncoderReport),
}

impl FeatureNetworkReport {
    /// Classes the network tells apart (0: none, a self-supervised encoder).
    pub fn classes(&self) -> usize {
        match self {
            Self::Classifier(r) => r.classes,
            Self::Contrastive(_) => 0,
        }
    }
}

/// The penultimate layer of a labelled data set's classifier.
pub struct ClassifierFeatures {
    pub model: Classifier,
    pub report: ClassifierReport,
    pub device: Device,
}

impl FeatureExtractor for ClassifierFeatures {
    fn name(&self) -> String {
        format!("cnn-classifier:{} ({:.1}% held-out accuracy)", self.report.data, 100.0 * self.report.heldout_accuracy)
    }

    fn input_shape(&self) -> ImageShape {
        self.report.shape
    }

    fn features(&self, images: &[f32]) -> Features {
        extract_features(&self.model, images, self.report.shape.len(), &self.device)
    }

    fn class_probabilities(&self, images: &[f32]) -> Option<Features> {
        Some(class_probabilities(&self.model, images, self.report.shape.len(), &self.device))
    }

    fn report(&self) -> FeatureNetworkReport {
        FeatureNetworkReport::Classifier(self.report.clone())
    }
}

/// The self-supervised encoder of an unlabelled data set.
pub struct EncoderFeatures {
    pub model: Encoder,
    pub report: EncoderReport,
    pub device: Device,
}

impl FeatureExtractor for EncoderFeatures {
    fn name(&self) -> String {
        format!(
            "simclr-encoder:{} ({:.1}% held-out view retrieval, {} images)",
            self.report.data,
            100.0 * self.report.view_retrieval,
            self.report.heldout_images
        )
    }

    fn input_shape(&self) -> ImageShape {
        self.report.shape
    }

    fn features(&self, images: &[f32]) -> Features {
        encoder_features(&self.model, images, self.report.shape.len(), &self.device)
    }

    fn class_probabilities(&self, _images: &[f32]) -> Option<Features> {
        None
    }

    fn report(&self) -> FeatureNetworkReport {
        FeatureNetworkReport::Contrastive(self.report.clone())
    }
}

//! The pluggable feature extractor behind every metric. The one built in is the CNN classifier of
//! a labelled data set ([`ClassifierFeatures`]); an unlabelled image folder is measured with a
//! network trained on another labelled set (by default the embedded digits): its features then
//! say how digit-like, not how realistic, images are, so such numbers compare runs with each
//! other but mean nothing absolute.

use burn::tensor::Device;

use super::classifier::{Classifier, ClassifierReport, class_probabilities, extract_features};
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
}

/// The penultimate layer of a data set's feature network.
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
}

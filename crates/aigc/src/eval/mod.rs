//! Measuring generated images: distribution metrics on feature sets ([`metrics`]) and
//! nearest-neighbour distances in pixel space ([`nearest`]), the basis of the memorisation measure
//! and of the training tests.

pub mod classifier;
pub mod extractor;
pub mod features;
pub mod metrics;
pub mod nearest;
pub mod run_eval;

pub use extractor::{ClassifierFeatures, FeatureExtractor};
pub use features::Features;
pub use metrics::{ClassCoverage, Estimate, class_coverage, fid, inception_score, kid, precision_recall};
pub use nearest::{mean_nearest_distance, nearest_distances};

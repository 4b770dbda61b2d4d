//! Measuring what models generate: distribution metrics on feature sets ([`metrics`]) from the
//! data sets' feature networks ([`classifier`] for labelled data, [`contrastive`] for unlabelled;
//! cached by [`feature_cache`]), nearest-neighbour
//! distances in pixel space ([`nearest`], the basis of the memorisation measure and of the
//! training tests), the whole image evaluation ([`images`]), evaluations during training ([`training`]) and
//! melody statistics ([`melody`]) and measures of generated text ([`text`]).

pub mod classifier;
pub mod contrastive;
pub mod extractor;
pub mod feature_cache;
pub mod features;
pub mod images;
pub mod melody;
pub mod metrics;
pub mod nearest;
pub mod text;
pub mod training;

pub use extractor::{ClassifierFeatures, EncoderFeatures, FeatureExtractor, FeatureNetworkReport};
pub use features::Features;
pub use metrics::{ClassCoverage, Estimate, class_coverage, fid, inception_score, kid, precision_recall};
pub use nearest::{mean_nearest_distance, nearest_distances};

//! Measuring generated images. For now: the distance from each generated image to its nearest
//! real image, the basis of the memorisation measure and of the training tests.

pub mod nearest;

pub use nearest::{mean_nearest_distance, nearest_distances};

//! Nearest-neighbour distances in pixel space (Euclidean, on values in [-1, 1]).

use crate::data::ImageDataset;

/// For each image in `samples` (flattened, `dim` values each), the Euclidean distance to its
/// nearest image in `reference`.
pub fn nearest_distances(samples: &[f32], dim: usize, reference: &ImageDataset) -> Vec<f32> {
    nearest_neighbours(samples, dim, reference).into_iter().map(|(_, d)| d).collect()
}

/// For each image in `samples`, the index of its nearest image in `reference` and the distance.
pub fn nearest_neighbours(samples: &[f32], dim: usize, reference: &ImageDataset) -> Vec<(usize, f32)> {
    assert_eq!(dim, reference.shape.len(), "sample and reference images differ in size");
    let all: Vec<usize> = (0..reference.len()).collect();
    let reference = reference.batch_values(&all);
    samples
        .chunks_exact(dim)
        .map(|s| {
            let (index, squared) = reference
                .chunks_exact(dim)
                .map(|r| s.iter().zip(r).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
                .enumerate()
                .fold((0, f32::INFINITY), |best, (i, d)| if d < best.1 { (i, d) } else { best });
            (index, squared.sqrt())
        })
        .collect()
}

/// Mean of [`nearest_distances`].
pub fn mean_nearest_distance(samples: &[f32], dim: usize, reference: &ImageDataset) -> f64 {
    let d = nearest_distances(samples, dim, reference);
    d.iter().map(|&x| x as f64).sum::<f64>() / d.len().max(1) as f64
}

//! Nearest-neighbour distances in pixel space (Euclidean, on values in [-1, 1]).

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::ImageDataset;

/// For each image in `samples` (flattened, `dim` values each), the Euclidean distance to its
/// nearest image in `reference`.
pub fn nearest_distances(samples: &[f32], dim: usize, reference: &ImageDataset) -> Vec<f32> {
    nearest_neighbours(samples, dim, reference).into_iter().map(|(_, d)| d).collect()
}

/// For each image in `samples`, the index of its nearest image in `reference` and the distance.
///
/// Squared distances come from ‖s‖² + ‖r‖² − 2·s·r, the cross terms as one matrix product per
/// block of 1,024 samples × 8,192 references on the CPU backend (Fashion-MNIST's 5,000 × 60,000
/// comparisons take seconds instead of the minutes of a scalar loop).
pub fn nearest_neighbours(samples: &[f32], dim: usize, reference: &ImageDataset) -> Vec<(usize, f32)> {
    assert_eq!(dim, reference.shape.len(), "sample and reference images differ in size");
    let device = Device::flex();
    let n_samples = samples.len() / dim;
    let mut best = vec![(0usize, f32::INFINITY); n_samples];
    const SAMPLE_BLOCK: usize = 1024;
    const REFERENCE_BLOCK: usize = 8192;
    let all: Vec<usize> = (0..reference.len()).collect();
    for ref_start in (0..reference.len()).step_by(REFERENCE_BLOCK) {
        let indices = &all[ref_start..(ref_start + REFERENCE_BLOCK).min(reference.len())];
        let r = Tensor::<2>::from_data(TensorData::new(reference.batch_values(indices), [indices.len(), dim]), &device);
        let r_norms = r.clone().square().sum_dim(1).reshape([1, indices.len()]);
        let r_t = r.transpose();
        for s_start in (0..n_samples).step_by(SAMPLE_BLOCK) {
            let m = SAMPLE_BLOCK.min(n_samples - s_start);
            let values = samples[s_start * dim..(s_start + m) * dim].to_vec();
            let s = Tensor::<2>::from_data(TensorData::new(values, [m, dim]), &device);
            let s_norms = s.clone().square().sum_dim(1);
            let squared = s_norms + r_norms.clone() - s.matmul(r_t.clone()).mul_scalar(2.0);
            let (min, arg) = squared.min_dim_with_indices(1);
            let min = min.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
            let arg = arg.into_data().convert::<i64>().try_into_vec::<i64>().unwrap_or_default();
            for (i, (d, a)) in min.into_iter().zip(arg).enumerate() {
                let slot = &mut best[s_start + i];
                if d < slot.1 {
                    *slot = (ref_start + a as usize, d);
                }
            }
        }
    }
    best.into_iter().map(|(i, d)| (i, d.max(0.0).sqrt())).collect()
}

/// Mean of [`nearest_distances`].
pub fn mean_nearest_distance(samples: &[f32], dim: usize, reference: &ImageDataset) -> f64 {
    let d = nearest_distances(samples, dim, reference);
    d.iter().map(|&x| x as f64).sum::<f64>() / d.len().max(1) as f64
}

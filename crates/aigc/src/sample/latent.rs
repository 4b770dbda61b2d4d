//! Latent-variable generators (GAN generators, VAE decoders): noise z, followed by a one-hot
//! label for a class-conditional model, mapped to images. The fixed noise of sample grids, batched
//! sampling, and interpolation in latent space.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::{ImageGenerator, SampleLabels};
use crate::data::{ImageShape, one_hot};
use crate::error::Result;
use crate::run::rng::NoiseRng;

/// A network that maps `[batch, latent_dim + classes]` (noise, then the one-hot label of a
/// conditional model) to `[batch, image_dim]` images in [-1, 1].
pub trait Generator: Module + Clone + Send + 'static {
    /// Dimension of the noise z.
    fn latent_dim(&self) -> usize;
    /// Classes of a class-conditional generator (0 = unconditional).
    fn classes(&self) -> usize {
        0
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;
    /// Copies the non-trained state (BatchNorm running statistics) of `source` into `self`: a
    /// weight average takes its buffers from the network it averages.
    fn with_buffers_of(self, _source: &Self) -> Self {
        self
    }
}

/// Seed offset of the fixed noise batches, so they never overlap a training noise stream.
const FIXED_NOISE_SEED: u64 = 0x5EED_F1ED;

/// The fixed noise batch `[n, latent_dim]` of `seed` (a run's sample grids use the run's seed).
pub fn fixed_noise(seed: u64, n: usize, latent_dim: usize, device: &Device) -> Tensor<2> {
    let values = NoiseRng::new(seed ^ FIXED_NOISE_SEED).normal(n * latent_dim);
    Tensor::from_data(TensorData::new(values, [n, latent_dim]), device)
}

/// Generator input for images `offset..offset + z.rows`: the noise `z`, followed by the one-hot
/// label for a conditional generator.
pub fn with_labels<G: Generator>(generator: &G, z: Tensor<2>, labels: SampleLabels, offset: usize) -> Tensor<2> {
    let classes = generator.classes();
    if classes == 0 {
        return z;
    }
    let n = z.dims()[0];
    let rows: Vec<usize> = (offset..offset + n).map(|i| labels.label(i, classes)).collect();
    let device = z.device();
    Tensor::cat(vec![z, one_hot(&rows, classes, &device)], 1)
}

/// Images from `[n, latent_dim]` noise, without autodiff: `[n, image_dim]` values in [-1, 1].
pub fn generate_values<G: Generator>(generator: &G, z: Tensor<2>, labels: SampleLabels) -> Vec<f32> {
    generate_chunk(&generator.valid(), z.without_autodiff(), labels, 0)
}

/// Images `offset..offset + z.rows` of a sample, from a generator without autodiff.
fn generate_chunk<G: Generator>(generator: &G, z: Tensor<2>, labels: SampleLabels, offset: usize) -> Vec<f32> {
    let images = generator.generate(with_labels(generator, z, labels, offset));
    images.into_data().try_into_vec::<f32>().unwrap_or_default()
}

/// `n` images from noise seeded by `seed` (in batches of 500, so thousands of samples need no
/// huge batch), as `[n, image_dim]` values in [-1, 1].
pub fn generate_many<G: Generator>(generator: &G, n: usize, seed: u64, labels: SampleLabels, device: &Device) -> Vec<f32> {
    let generator = generator.valid();
    let mut values = Vec::new();
    for start in (0..n).step_by(500) {
        let count = 500.min(n - start);
        let z = fixed_noise(seed.wrapping_add(start as u64), count, generator.latent_dim(), device);
        values.extend(generate_chunk(&generator, z, labels, start));
    }
    values
}

/// A training run's sample grid from one fixed noise batch: 8 columns, and one row per class for
/// a conditional generator (8 rows otherwise), so grids of the same run compare over time.
pub struct SampleGrid {
    noise: Tensor<2>,
}

impl SampleGrid {
    /// Images per row.
    pub const COLUMNS: usize = 8;

    /// The grid of a run seeded `seed` (`device` without autodiff).
    pub fn new(seed: u64, latent_dim: usize, classes: usize, device: &Device) -> Self {
        let rows = if classes > 0 { classes } else { Self::COLUMNS };
        Self { noise: fixed_noise(seed, rows * Self::COLUMNS, latent_dim, device) }
    }

    /// The grid's images from `generator`.
    pub fn draw<G: Generator>(&self, generator: &G) -> Vec<f32> {
        generate_values(generator, self.noise.clone(), SampleLabels::Rows { cols: Self::COLUMNS })
    }

    /// Saves the grid of `generator`'s images of `shape` as a PNG.
    pub fn save<G: Generator>(&self, generator: &G, shape: ImageShape, path: &std::path::Path) -> Result<()> {
        crate::report::save_grid(&self.draw(generator), shape, Self::COLUMNS, path)
    }
}

/// How an interpolation strip moves between its two latent end points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Spherical interpolation, which keeps a Gaussian latent's norm.
    Spherical,
    Linear,
}

/// Images along `rows` strips of `steps` latents between `starts` and `ends` (`[rows,
/// latent_dim]` each, row-major). Each strip keeps one class (row r: class r) for conditional
/// models, unless `labels` fixes one.
pub fn interpolate<G: Generator>(
    generator: &G,
    starts: &[f32],
    ends: &[f32],
    steps: usize,
    path: Path,
    labels: SampleLabels,
    device: &Device,
) -> Vec<f32> {
    let latent = generator.latent_dim();
    let rows = starts.len() / latent.max(1);
    let mut z = Vec::with_capacity(rows * steps * latent);
    for r in 0..rows {
        let (a, b) = (&starts[r * latent..(r + 1) * latent], &ends[r * latent..(r + 1) * latent]);
        for s in 0..steps {
            let t = s as f32 / (steps - 1).max(1) as f32;
            z.extend(match path {
                Path::Spherical => slerp(a, b, t),
                Path::Linear => a.iter().zip(b).map(|(a, b)| a + t * (b - a)).collect(),
            });
        }
    }
    let z = Tensor::from_data(TensorData::new(z, [rows * steps, latent]), device);
    let labels = match labels {
        SampleLabels::Class(k) => SampleLabels::Class(k),
        _ => SampleLabels::Rows { cols: steps },
    };
    generate_values(generator, z, labels)
}

/// Spherical interpolation between two vectors (linear when they are nearly parallel).
fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    let cos = (a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))).clamp(-1.0, 1.0);
    let omega = cos.acos();
    if omega.abs() < 1e-4 {
        return a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect();
    }
    let (wa, wb) = (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin());
    a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect()
}

/// Where a strip of an interpolation starts and ends: `(rows, seed)` → `[rows, latent_dim]`
/// start and end latents.
pub type Endpoints<G> = Box<dyn Fn(&G, usize, u64) -> Result<(Vec<f32>, Vec<f32>)>>;

/// Two seeded noise vectors per strip (as the generator samples them).
pub fn noise_endpoints<G: Generator>(device: Device) -> Endpoints<G> {
    Box::new(move |generator: &G, rows, seed| {
        let latent_dim = generator.latent_dim();
        let z = to_vec(fixed_noise(seed, 2 * rows, latent_dim, &device));
        let (starts, ends) = z.split_at(rows * latent_dim);
        Ok((starts.to_vec(), ends.to_vec()))
    })
}

/// A latent-variable generator ready to sample, as the runs of GANs and VAEs offer it.
pub struct LatentImages<G: Generator> {
    /// Without autodiff.
    pub generator: G,
    pub shape: ImageShape,
    /// The step of the checkpoint.
    pub step: usize,
    pub device: Device,
    pub endpoints: Endpoints<G>,
    pub path: Path,
}

impl<G: Generator> ImageGenerator for LatentImages<G> {
    fn shape(&self) -> ImageShape {
        self.shape
    }

    fn classes(&self) -> usize {
        self.generator.classes()
    }

    fn step(&self) -> usize {
        self.step
    }

    fn generate(&self, n: usize, seed: u64, labels: SampleLabels) -> Vec<f32> {
        generate_many(&self.generator, n, seed, labels, &self.device)
    }

    fn interpolate(&self, rows: usize, steps: usize, seed: u64, labels: SampleLabels) -> Result<Vec<f32>> {
        let (starts, ends) = (self.endpoints)(&self.generator, rows, seed)?;
        Ok(interpolate(&self.generator, &starts, &ends, steps, self.path, labels, &self.device))
    }
}

/// The values of a 2-D tensor.
pub(crate) fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

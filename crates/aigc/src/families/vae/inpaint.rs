//! Inpainting with a VAE, in one shot: fill the hole harmonically, encode, decode the posterior
//! mean (sample 0) or posterior draws (further samples), paste the known pixels back, and repeat
//! three times so the encoder sees an ever better guess.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::network::{Vae, logits_to_images};
use crate::apps::inpaint::{InpaintSettings, Inpainter, Mask, Proposal, harmonic_fill};
use crate::data::ImageShape;

/// An unconditional VAE, on a device without autodiff.
pub struct EncoderInpainter {
    pub vae: Vae,
    pub shape: ImageShape,
    pub device: Device,
}

impl Inpainter for EncoderInpainter {
    fn method(&self) -> &'static str {
        "vae"
    }

    fn shape(&self) -> ImageShape {
        self.shape
    }

    fn propose(&self, images: &[f32], masks: &[Mask], samples: usize, settings: InpaintSettings) -> Proposal {
        let (vae, shape, device) = (&self.vae, self.shape, &self.device);
        let dim = shape.len();
        let latent = vae.latent_dim();
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let mut guesses: Vec<f32> = masks
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                let filled = harmonic_fill(&images[i * dim..(i + 1) * dim], m);
                (0..samples).flat_map(move |_| filled.clone())
            })
            .collect();
        let n = masks.len() * samples;
        let eps: Vec<f32> = (0..n * latent).map(|k| if (k / latent) % samples == 0 { 0.0 } else { StandardNormal.sample(&mut rng) }).collect();
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [n, latent]), device);
        for _ in 0..3 {
            let x = Tensor::<2>::from_data(TensorData::new(guesses.clone(), [n, dim]), device);
            let (mu, logvar) = vae.encode(x, None);
            let z = mu + logvar.mul_scalar(0.5).exp() * eps.clone();
            let decoded = logits_to_images(vae.decode_logits(z));
            let decoded = decoded.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
            for (k, (g, d)) in guesses.iter_mut().zip(decoded).enumerate() {
                let (image, pixel) = (k / dim / samples, k % dim);
                if masks[image].hole[pixel % (shape.height * shape.width)] {
                    *g = d;
                }
            }
        }
        Proposal { images: guesses, context_loss: None }
    }
}

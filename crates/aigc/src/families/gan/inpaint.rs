//! Inpainting with a GAN by latent optimisation (Yeh et al. 2017, "Semantic image inpainting
//! with deep generative models"): find z such that G(z) matches the known pixels. The loss is a
//! *context* loss, the L1 distance on known pixels weighted by how many hole pixels lie near each
//! one (weight = share of hole pixels in a 7×7 window, so pixels at the hole's rim count most),
//! plus λ times a *prior* loss that keeps G(z) realistic: the discriminator's non-saturating
//! generator loss `softplus(−D(G(z)))` (λ = 0.003, the paper's). z starts from N(0, I) draws
//! (several per image: `samples`), Adam (lr 0.01) for `steps` steps, gradients through the frozen
//! generator and discriminator (burn autodiff, batch norms in inference mode).

use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{Discriminator, GanDiscriminator, GanGenerator};
use crate::apps::TensorAdam;
use crate::apps::inpaint::{InpaintSettings, Inpainter, Mask, Proposal};
use crate::data::ImageShape;
use crate::sample::latent::Generator;

/// A GAN's generator and discriminator, frozen, on an autodiff device.
pub struct LatentInpainter {
    pub generator: GanGenerator,
    pub critic: GanDiscriminator,
    pub shape: ImageShape,
    /// An autodiff device.
    pub device: Device,
}

impl Inpainter for LatentInpainter {
    fn method(&self) -> &'static str {
        "latent"
    }

    fn shape(&self) -> ImageShape {
        self.shape
    }

    fn propose(&self, images: &[f32], masks: &[Mask], samples: usize, settings: InpaintSettings) -> Proposal {
        let (generator, critic, shape, device) = (&self.generator, &self.critic, self.shape, &self.device);
        let dim = shape.len();
        let n = masks.len() * samples;
        let latent = generator.latent_dim();
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let z0: Vec<f32> = (0..n * latent).map(|_| StandardNormal.sample(&mut rng)).collect();
        let repeat = |per_image: &dyn Fn(usize) -> Vec<f32>| -> Tensor<2> {
            let values: Vec<f32> = (0..masks.len()).flat_map(|i| (0..samples).flat_map(move |_| per_image(i))).collect();
            Tensor::from_data(TensorData::new(values, [n, dim]), device)
        };
        let target = repeat(&|i| images[i * dim..(i + 1) * dim].to_vec());
        let weights = repeat(&|i| masks[i].importance(shape.channels));
        let context = |img: Tensor<2>| ((img - target.clone()).abs() * weights.clone()).sum_dim(1);
        // z and Adam's moments live on the inner (non-autodiff) device; each step lifts z.
        let mut z = Tensor::<2>::from_data(TensorData::new(z0, [n, latent]), &device.clone().inner());
        let mut adam = TensorAdam::new(&z, settings.lr);
        let mut before = 0.0;
        let bar = crate::train::progress::progress_bar(settings.steps as u64, 0, settings.quiet, "steps");
        for step in 0..settings.steps {
            let zg = Tensor::from_inner(z.clone()).require_grad();
            let img = generator.generate(zg.clone());
            let ctx = context(img.clone());
            let ctx_mean = if step == 0 || (!settings.quiet && step % 25 == 0) { ctx.clone().mean().into_scalar::<f32>() as f64 } else { 0.0 };
            if step == 0 {
                before = ctx_mean;
            }
            let prior = softplus(critic.score(img, None).neg(), 1.0);
            let loss = ctx.sum() + prior.sum().mul_scalar(settings.prior_weight);
            let grads = loss.backward();
            let g = zg.grad(&grads).unwrap_or_else(|| z.zeros_like());
            z = adam.step(z, g);
            bar.set_position(step as u64 + 1);
            settings.record(step + 1, settings.steps);
            if settings.stopped() {
                break;
            }
            if step % 25 == 0 {
                bar.set_message(format!("context loss {:.3}", ctx_mean));
            }
        }
        bar.finish_and_clear();
        let img = generator.generate(Tensor::from_inner(z));
        let after = context(img.clone()).mean().into_scalar::<f32>() as f64;
        let images = img.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
        Proposal { images, context_loss: Some((before, after)) }
    }
}

//! Generative adversarial networks (Goodfellow et al. 2014): a generator G(z) maps noise to images,
//! a discriminator (critic) D(x) scores images. Losses live in [`loss`]; [`GanGenerator`] and
//! [`GanDiscriminator`] hold whichever architecture a run chose.

pub mod critic;
pub mod dcgan;
pub mod loss;
pub mod mlp;
pub mod traits;

pub use critic::CriticNorm;
pub use dcgan::{DCGAN_SIZES, DcganConfig, DcganDiscriminator, DcganGenerator};
pub use loss::{GanLoss, gradient_penalty, r1_penalty};
pub use mlp::{MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig};
pub use traits::{Discriminator, Generator};

use burn::module::Module;
use burn::tensor::Tensor;

/// A generator of any architecture.
#[derive(Module, Debug)]
pub enum GanGenerator {
    Mlp(MlpGenerator),
    Dcgan(DcganGenerator),
}

/// A discriminator of any architecture.
#[derive(Module, Debug)]
pub enum GanDiscriminator {
    Mlp(MlpDiscriminator),
    Dcgan(DcganDiscriminator),
}

impl Generator for GanGenerator {
    fn latent_dim(&self) -> usize {
        match self {
            Self::Mlp(g) => g.latent_dim(),
            Self::Dcgan(g) => g.latent_dim(),
        }
    }

    fn classes(&self) -> usize {
        match self {
            Self::Mlp(g) => g.classes(),
            Self::Dcgan(g) => g.classes(),
        }
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(g) => g.generate(z),
            Self::Dcgan(g) => g.generate(z),
        }
    }

    fn with_buffers_of(self, source: &Self) -> Self {
        match (self, source) {
            (Self::Dcgan(g), Self::Dcgan(s)) => Self::Dcgan(g.with_buffers_of(s)),
            (g, _) => g,
        }
    }
}

impl Discriminator for GanDiscriminator {
    fn score(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2> {
        match self {
            Self::Mlp(d) => d.score(x, labels),
            Self::Dcgan(d) => d.score(x, labels),
        }
    }

    fn score_with_input_gradient(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        match self {
            Self::Mlp(d) => d.score_with_input_gradient(x, labels),
            Self::Dcgan(d) => d.score_with_input_gradient(x, labels),
        }
    }
}

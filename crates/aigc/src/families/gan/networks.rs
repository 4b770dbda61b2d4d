//! [`GanGenerator`] and [`GanDiscriminator`] hold whichever architecture a run chose, and
//! [`build_gan`] builds them from a config.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::config::{GanArch, GanTrainConfig};
use super::dcgan::{DcganConfig, DcganDiscriminator, DcganGenerator};
use super::mlp::{MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig};
use super::traits::Discriminator;
use crate::data::ImageShape;
use crate::error::{AigcError, Result};
use crate::sample::latent::Generator;

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

/// Builds the networks a config names, for images of `shape` (and `classes` labels when the
/// config is conditional), on `device`.
pub fn build_gan(config: &GanTrainConfig, shape: ImageShape, classes: usize, device: &Device) -> Result<(GanGenerator, GanDiscriminator)> {
    let classes = if config.conditional { classes } else { 0 };
    match config.arch {
        GanArch::Dcgan => {
            if shape.height != shape.width {
                return Err(AigcError::invalid("arch", format!("dcgan needs square images, the data is {shape}")));
            }
            let dcgan = DcganConfig::new()
                .with_latent_dim(config.latent_dim)
                .with_classes(classes)
                .with_channels(shape.channels)
                .with_image_size(shape.height)
                .with_critic_norm(config.critic_norm());
            Ok((GanGenerator::Dcgan(dcgan.init_generator(device)?), GanDiscriminator::Dcgan(dcgan.init_discriminator(device)?)))
        }
        GanArch::Mlp => {
            let generator = MlpGeneratorConfig::new()
                .with_latent_dim(config.latent_dim)
                .with_image_dim(shape.len())
                .with_classes(classes)
                .init(device);
            let discriminator = MlpDiscriminatorConfig::new().with_image_dim(shape.len()).with_classes(classes).init(device);
            Ok((GanGenerator::Mlp(generator), GanDiscriminator::Mlp(discriminator)))
        }
    }
}

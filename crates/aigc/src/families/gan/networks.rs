//! [`GanGenerator`] and [`GanDiscriminator`] hold whichever architecture a run chose, and
//! [`build_gan`] builds them from a config.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::config::{GanArch, GanTrainConfig};
use super::dcgan::{DcganConfig, DcganDiscriminator, DcganGenerator};
use super::mlp::{MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig};
use super::traits::{Discriminator, ExportableGenerator};
use crate::data::ImageShape;
use crate::error::{AigcError, Result};
use crate::report::torch::TorchExport;
use crate::sample::latent::Generator;
use crate::train::memory::{Footprint, linear_stack};

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

impl ExportableGenerator for GanGenerator {
    fn torch_export(&self, shape: ImageShape, data: &str) -> TorchExport {
        let image = [shape.channels, shape.height, shape.width];
        let arch = match self {
            Self::Mlp(_) => GanArch::Mlp,
            Self::Dcgan(_) => GanArch::Dcgan,
        };
        let mut export = TorchExport::new(
            "generator",
            serde_json::json!({
                "family": super::NAME,
                "module": "image_generator",
                "arch": arch.name(),
                "data": data,
                "latent_dim": self.latent_dim(),
                "classes": self.classes(),
                "image_shape": image,
                "input": "z ~ N(0, I) of [batch, latent_dim], followed by the one-hot class when classes > 0",
                "output_range": [-1.0, 1.0],
            }),
        );
        match self {
            Self::Mlp(g) => g.export_layers(&mut export, image),
            Self::Dcgan(g) => g.export_layers(&mut export),
        }
        export
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

/// What training the networks a config names on `n_train` images of `shape` holds in memory
/// (counted from the shapes, before anything is built).
pub fn footprint(config: &GanTrainConfig, shape: ImageShape, classes: usize, n_train: usize) -> Result<Footprint> {
    let k = if config.conditional { classes as u64 } else { 0 };
    let (z, d) = (config.latent_dim as u64, shape.len() as u64);
    let batch = config.batch_size.min(n_train).max(1) as u64;
    let (params, per_sample) = match config.arch {
        GanArch::Mlp => {
            let params = linear_stack(&[z + k, 256, 512, 1024, d]) + linear_stack(&[d, 1024, 512, 256, 1]) + k * 256;
            (params, 6 * d + 8 * 1792)
        }
        GanArch::Dcgan => {
            let (start, widths, critic) = super::dcgan::layout(shape.height)?;
            let (start, c) = (start as u64, shape.channels as u64);
            let outs: Vec<u64> = widths[1..].iter().map(|&w| w as u64).chain([c]).collect();
            let ups: u64 = widths.iter().zip(&outs).map(|(&i, &o)| i as u64 * o * 16).sum();
            let convs: u64 = std::iter::once(c).chain(critic.iter().map(|&w| w as u64)).collect::<Vec<_>>().windows(2).map(|w| w[0] * w[1] * 16).sum();
            let params = (z + k) * widths[0] as u64 * start * start + ups + convs + k * 512 + 8192;
            // every feature map of both networks, a few times over (norms, activations, penalties)
            let maps: u64 = widths.iter().enumerate().map(|(i, &w)| w as u64 * (start << i) * (start << i)).sum();
            (params, 12 * (maps + d))
        }
    };
    Ok(Footprint { params, copies: 4, activations: batch * per_sample })
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

//! DCGAN (Radford et al. 2016): transposed-convolution generator, strided-convolution critic.
//!
//! | size | G: projection, then 4×4 stride-2 transposed convolutions | D: 4×4 stride-2 convolutions, then Linear |
//! |---|---|---|
//! | 28 | z → 256·7·7 → 128 (14) → C (28): workload W2 of `../shared/peers/SPEC.md` | C → 64 (14) → 128 (7) → 1 |
//! | 32 | z → 256·4·4 → 128 (8) → 64 (16) → C (32) | C → 64 → 128 → 256 (4) → 1 |
//! | 64 | z → 512·4·4 → 256 → 128 → 64 → C (64): the standard DCGAN | C → 64 → 128 → 256 → 512 (4) → 1 |
//!
//! G normalises every hidden layer with BatchNorm and ends in tanh; D uses LeakyReLU(0.2) and
//! normalises every convolution but the first ([`CriticNorm`]: batch as in DCGAN and W2, or layer
//! norm for critics trained with a gradient penalty). The generator's first layer is a Linear
//! projection, which equals DCGAN's 4×4 transposed convolution of a 1×1 input; the critic's last
//! a Linear, which equals DCGAN's final 4×4 valid convolution.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};

use aigc_ops::conv::conv_transpose2d_module;
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::{relu, tanh};
use burn::tensor::{Device, Tensor};

use super::critic::{CriticConv, CriticNorm, CriticNormLayer, ProjectionHead, leaky_relu, leaky_relu_with_slope};
use super::traits::Discriminator;
use crate::report::torch::{TorchExport, layers};
use crate::sample::latent::Generator;
use crate::error::{AigcError, Result};

/// Image sizes the DCGAN family is defined for.
pub const DCGAN_SIZES: [usize; 3] = [28, 32, 64];

/// Starting side and channel widths (widest first) of the generator for an image side; the
/// critic uses the same widths in reverse order of depth.
pub(crate) fn layout(image_size: usize) -> Result<(usize, Vec<usize>, Vec<usize>)> {
    match image_size {
        28 => Ok((7, vec![256, 128], vec![64, 128])),
        32 => Ok((4, vec![256, 128, 64], vec![64, 128, 256])),
        64 => Ok((4, vec![512, 256, 128, 64], vec![64, 128, 256, 512])),
        other => Err(AigcError::invalid("image_size",
            format!("the dcgan architecture is defined for {DCGAN_SIZES:?} px square images, got {other} px"),
        )),
    }
}

/// Checks that the DCGAN family is defined for `image_size` (the error names `image_size`).
pub fn check_image_size(image_size: usize) -> Result<()> {
    layout(image_size).map(|_| ())
}

#[derive(Config, Debug)]
pub struct DcganConfig {
    #[config(default = 100)]
    pub latent_dim: usize,
    /// Classes of a class-conditional model (0 = unconditional).
    #[config(default = 0)]
    pub classes: usize,
    #[config(default = 1)]
    pub channels: usize,
    #[config(default = 28)]
    pub image_size: usize,
    #[config(default = "CriticNorm::Batch")]
    pub critic_norm: CriticNorm,
}

#[derive(Module, Debug)]
pub struct DcganGenerator {
    project: Linear,
    project_norm: BatchNorm,
    ups: Vec<ConvTranspose2d>,
    norms: Vec<BatchNorm>,
    latent_dim: usize,
    classes: usize,
    start: usize,
    width: usize,
}

#[derive(Module, Debug)]
pub struct DcganDiscriminator {
    convs: Vec<CriticConv>,
    /// Normalisation after convolutions 1.. (empty for [`CriticNorm::None`]).
    norms: Vec<CriticNormLayer>,
    head: ProjectionHead,
    channels: usize,
    image_size: usize,
}

const SLOPE: f64 = 0.2;

impl DcganConfig {
    pub fn init_generator(&self, device: &Device) -> Result<DcganGenerator> {
        let (start, widths, _) = layout(self.image_size)?;
        let conv_init = Initializer::Normal { mean: 0.0, std: 0.02 };
        let mut ups = Vec::new();
        let mut norms = Vec::new();
        let outs: Vec<usize> = widths[1..].iter().copied().chain([self.channels]).collect();
        for (i, (&c_in, &c_out)) in widths.iter().zip(&outs).enumerate() {
            ups.push(
                ConvTranspose2dConfig::new([c_in, c_out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_initializer(conv_init.clone())
                    .init(device),
            );
            if i + 1 < widths.len() {
                norms.push(BatchNormConfig::new(c_out).init(device));
            }
        }
        Ok(DcganGenerator {
            project: LinearConfig::new(self.latent_dim + self.classes, widths[0] * start * start).init(device),
            project_norm: BatchNormConfig::new(widths[0]).init(device),
            ups,
            norms,
            latent_dim: self.latent_dim,
            classes: self.classes,
            start,
            width: widths[0],
        })
    }

    pub fn init_discriminator(&self, device: &Device) -> Result<DcganDiscriminator> {
        let (start, _, widths) = layout(self.image_size)?;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut c_in = self.channels;
        for (i, &c_out) in widths.iter().enumerate() {
            convs.push(CriticConv::new(c_in, c_out, 4, 2, 1, device));
            if i > 0 && self.critic_norm != CriticNorm::None {
                norms.push(CriticNormLayer::new(c_out, self.critic_norm == CriticNorm::Layer, device));
            }
            c_in = c_out;
        }
        Ok(DcganDiscriminator {
            convs,
            norms,
            head: ProjectionHead::new(c_in * start * start, self.classes, device),
            channels: self.channels,
            image_size: self.image_size,
        })
    }
}

impl DcganGenerator {
    /// `[batch, latent_dim + classes]` → `[batch, C·H·W]` images in [-1, 1].
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let batch = z.dims()[0];
        let x = self.project.forward(z).reshape([batch, self.width, self.start, self.start]);
        let mut x = relu(self.project_norm.forward(x));
        let last = self.ups.len() - 1;
        for (i, up) in self.ups.iter().enumerate() {
            x = conv_transpose2d_module(up, x);
            x = if i < last { relu(self.norms[i].forward(x)) } else { tanh(x) };
        }
        x.flatten(1, 3)
    }
}

impl DcganGenerator {
    /// The layers as PyTorch's `nn.Sequential` (the projection, unflattened to the first
    /// feature map, then the transposed convolutions), ending in images `[C, H, W]`.
    pub(crate) fn export_layers(&self, export: &mut TorchExport) {
        let norm = |e: &mut TorchExport, bn: &BatchNorm| {
            e.net_layer(layers::batch_norm(bn.gamma.dims()[0], bn.epsilon, bn.momentum), |e, key| e.batch_norm(key, bn));
            e.layer(layers::plain("ReLU"));
        };
        let [d_in, d_out] = self.project.weight.dims();
        export.net_layer(layers::linear(d_in, d_out), |e, key| e.linear(key, &self.project));
        export.layer(layers::unflatten(&[self.width, self.start, self.start]));
        norm(export, &self.project_norm);
        let last = self.ups.len() - 1;
        for (i, up) in self.ups.iter().enumerate() {
            let [c_in, c_out, kernel, _] = up.weight.dims();
            export.net_layer(layers::conv_transpose(c_in, c_out, kernel, up.stride[0], up.padding[0]), |e, key| e.conv_transpose(key, up));
            if i < last {
                norm(export, &self.norms[i]);
            } else {
                export.layer(layers::plain("Tanh"));
            }
        }
    }
}

impl DcganDiscriminator {
    fn image(&self, x: Tensor<2>) -> Tensor<4> {
        let batch = x.dims()[0];
        x.reshape([batch, self.channels, self.image_size, self.image_size])
    }

    pub fn forward(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2> {
        let mut h = self.image(x);
        for (i, conv) in self.convs.iter().enumerate() {
            h = conv.forward(h);
            if i > 0 && !self.norms.is_empty() {
                h = self.norms[i - 1].forward(h).0;
            }
            h = leaky_relu(h, SLOPE);
        }
        self.head.forward(h.flatten(1, 3), labels)
    }

    /// Scores and ∂D/∂x, layer by layer backwards: head → LeakyReLU slope → normalisation →
    /// transposed convolution.
    pub fn forward_with_input_gradient(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        let batch = x.dims()[0];
        let mut h = self.image(x);
        let mut tape = Vec::with_capacity(self.convs.len());
        for (i, conv) in self.convs.iter().enumerate() {
            let [_, _, height, width] = h.dims();
            h = conv.forward(h);
            let mut cache = None;
            if i > 0 && !self.norms.is_empty() {
                let (y, c) = self.norms[i - 1].forward(h);
                h = y;
                cache = Some(c);
            }
            let (y, slope) = leaky_relu_with_slope(h, SLOPE);
            h = y;
            tape.push(([height, width], cache, slope));
        }
        let dims = h.dims();
        let score = self.head.forward(h.flatten(1, 3), labels.clone());
        let mut grad = self.head.feature_gradient(batch, labels).reshape(dims);
        for (i, (input_hw, cache, slope)) in tape.into_iter().enumerate().rev() {
            grad = grad * slope;
            if let Some(cache) = cache {
                grad = self.norms[i - 1].input_gradient(grad, cache);
            }
            grad = self.convs[i].input_gradient(grad, input_hw);
        }
        (score, grad.flatten(1, 3))
    }
}

impl Generator for DcganGenerator {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        self.forward(z)
    }

    fn with_buffers_of(self, source: &Self) -> Self {
        let copy = |to: &BatchNorm, from: &BatchNorm| {
            let device = to.gamma.device();
            to.running_mean.update(Tensor::from_data(from.running_mean.value_sync().into_data(), &device));
            to.running_var.update(Tensor::from_data(from.running_var.value_sync().into_data(), &device));
        };
        copy(&self.project_norm, &source.project_norm);
        for (to, from) in self.norms.iter().zip(&source.norms) {
            copy(to, from);
        }
        self
    }
}

impl Discriminator for DcganDiscriminator {
    fn score(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2> {
        self.forward(x, labels)
    }

    fn score_with_input_gradient(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        self.forward_with_input_gradient(x, labels)
    }
}

//! The article's MLP GAN for 28×28 digits.
//!
//! G: Linear(100,256) ReLU Linear(256,512) ReLU Linear(512,1024) ReLU Linear(1024,784) Tanh
//! D: Linear(784,1024) LReLU(0.2) Linear(1024,512) LReLU(0.2) Linear(512,256) LReLU(0.2) Linear(256,1)
//!
//! D returns a logit (no sigmoid): the BCE loss applies it in a numerically stable form, and the
//! Wasserstein critic needs the raw score.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, tanh};
use burn::tensor::{Device, Tensor};

use super::critic::{ProjectionHead, leaky_relu, leaky_relu_with_slope};
use super::traits::Discriminator;
use crate::report::torch::{TorchExport, layers};
use crate::sample::latent::Generator;

/// Linear layers `d_in → widths[0] → widths[1] → …`; returns them and the last width.
fn linear_stack(d_in: usize, widths: &[usize], device: &Device) -> (Vec<Linear>, usize) {
    let mut layers = Vec::with_capacity(widths.len());
    let mut d = d_in;
    for &d_out in widths {
        layers.push(LinearConfig::new(d, d_out).init(device));
        d = d_out;
    }
    (layers, d)
}

#[derive(Config, Debug)]
pub struct MlpGeneratorConfig {
    #[config(default = 100)]
    pub latent_dim: usize,
    #[config(default = 784)]
    pub image_dim: usize,
    #[config(default = "vec![256, 512, 1024]")]
    pub hidden: Vec<usize>,
    /// Classes of a class-conditional generator (the one-hot label is appended to z).
    #[config(default = 0)]
    pub classes: usize,
}

#[derive(Module, Debug)]
pub struct MlpGenerator {
    hidden: Vec<Linear>,
    output: Linear,
    latent_dim: usize,
    classes: usize,
}

impl MlpGeneratorConfig {
    pub fn init(&self, device: &Device) -> MlpGenerator {
        let (hidden, d_in) = linear_stack(self.latent_dim + self.classes, &self.hidden, device);
        MlpGenerator {
            hidden,
            output: LinearConfig::new(d_in, self.image_dim).init(device),
            latent_dim: self.latent_dim,
            classes: self.classes,
        }
    }
}

impl MlpGenerator {
    /// Maps `[batch, latent_dim + classes]` noise (and one-hot label) to `[batch, image_dim]` images in [-1, 1].
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let x = self.hidden.iter().fold(z, |x, layer| relu(layer.forward(x)));
        tanh(self.output.forward(x))
    }
}

#[derive(Config, Debug)]
pub struct MlpDiscriminatorConfig {
    #[config(default = 784)]
    pub image_dim: usize,
    #[config(default = "vec![1024, 512, 256]")]
    pub hidden: Vec<usize>,
    #[config(default = 0.2)]
    pub negative_slope: f64,
    /// Classes of a class-conditional critic (projection head).
    #[config(default = 0)]
    pub classes: usize,
}

#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    hidden: Vec<Linear>,
    head: ProjectionHead,
    negative_slope: f64,
}

impl MlpDiscriminatorConfig {
    pub fn init(&self, device: &Device) -> MlpDiscriminator {
        let (hidden, d_in) = linear_stack(self.image_dim, &self.hidden, device);
        MlpDiscriminator {
            hidden,
            head: ProjectionHead::new(d_in, self.classes, device),
            negative_slope: self.negative_slope,
        }
    }
}

impl MlpDiscriminator {
    /// Scores `[batch, image_dim]` images; returns `[batch, 1]` logits (critic values for WGAN).
    pub fn forward(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2> {
        let x = self.hidden.iter().fold(x, |x, layer| leaky_relu(layer.forward(x), self.negative_slope));
        self.head.forward(x, labels)
    }

    /// Scores and ∂D/∂x by the chain rule through the layers: with pre-activations h_l and
    /// LeakyReLU slopes s_l = lrelu'(h_l) ∈ {1, α} (piecewise constant, so treated as constants),
    /// g_L = ∂D/∂φ from the head and g_{l−1} = (g_l ⊙ s_l) W_lᵀ. Every op is differentiable in the
    /// weights.
    pub fn forward_with_input_gradient(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        let batch = x.dims()[0];
        let mut h = x;
        let mut slopes = Vec::with_capacity(self.hidden.len());
        for layer in &self.hidden {
            let (y, slope) = leaky_relu_with_slope(layer.forward(h), self.negative_slope);
            slopes.push(slope);
            h = y;
        }
        let score = self.head.forward(h, labels.clone());
        let mut grad = self.head.feature_gradient(batch, labels);
        // Linear weights are stored [d_in, d_out] (y = x W + b), so ∂y/∂x contracts with Wᵀ.
        for (layer, slope) in self.hidden.iter().zip(slopes).rev() {
            grad = (grad * slope).matmul(layer.weight.val().transpose());
        }
        (score, grad)
    }
}

impl MlpGenerator {
    /// The layers as PyTorch's `nn.Sequential`, ending in images `[C, H, W]` of `shape`.
    pub(crate) fn export_layers(&self, export: &mut TorchExport, shape: [usize; 3]) {
        let dims = |l: &Linear| l.weight.dims();
        for layer in &self.hidden {
            let [d_in, d_out] = dims(layer);
            export.net_layer(layers::linear(d_in, d_out), |e, key| e.linear(key, layer));
            export.layer(layers::plain("ReLU"));
        }
        let [d_in, d_out] = dims(&self.output);
        export.net_layer(layers::linear(d_in, d_out), |e, key| e.linear(key, &self.output));
        export.layer(layers::plain("Tanh"));
        export.layer(layers::unflatten(&shape));
    }
}

impl Generator for MlpGenerator {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        self.forward(z)
    }
}

impl Discriminator for MlpDiscriminator {
    fn score(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2> {
        self.forward(x, labels)
    }

    fn score_with_input_gradient(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        self.forward_with_input_gradient(x, labels)
    }
}

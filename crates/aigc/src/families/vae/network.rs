//! Variational autoencoders (Kingma & Welling 2014).
//!
//! * `mlp`: PyTorch's example VAE, 784-400-20: fc1 (D→400) ReLU, fc21/fc22 (400→20) for μ and
//!   log σ²; fc3 (20→400) ReLU, fc4 (400→D).
//! * `conv`: Conv(C,32,4,2,1) ReLU, Conv(32,64,4,2,1) ReLU, Linear(64·s/4·s/4 → 2·latent);
//!   Linear(latent → 64·s/4·s/4) ReLU, ConvT(64,32,4,2,1) ReLU, ConvT(32,C,4,2,1).
//!
//! The decoder outputs Bernoulli logits over pixel intensities in [0, 1] (as PyTorch's example's
//! binary cross-entropy), so the negative ELBO is in nats per image:
//! −ELBO = Σ_pixels BCE(logits, x) + KL(N(μ, σ²) ‖ N(0, I)). A class-conditional VAE appends
//! the one-hot label to the encoder's features and to z.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid, softplus};
use burn::tensor::{Device, Tensor};

use super::VaeArch;
use crate::data::ImageShape;
use crate::error::{AigcError, Result};
use crate::report::torch::{TorchExport, layers};
use crate::sample::latent::Generator;

#[derive(Module, Debug)]
pub struct MlpVae {
    fc1: Linear,
    fc21: Linear,
    fc22: Linear,
    fc3: Linear,
    fc4: Linear,
}

#[derive(Module, Debug)]
pub struct ConvVae {
    enc1: Conv2d,
    enc2: Conv2d,
    enc_out: Linear,
    dec_in: Linear,
    dec1: ConvTranspose2d,
    dec2: ConvTranspose2d,
    side: usize,
}

/// A VAE of either architecture.
#[derive(Module, Debug)]
pub enum VaeNet {
    Mlp(MlpVae),
    Conv(ConvVae),
}

#[derive(Module, Debug)]
pub struct Vae {
    net: VaeNet,
    latent_dim: usize,
    classes: usize,
    channels: usize,
    height: usize,
    width: usize,
}

/// What one forward pass gives the loss.
pub struct VaeOutput {
    /// Decoder logits `[batch, image_dim]`.
    pub logits: Tensor<2>,
    pub mu: Tensor<2>,
    pub log_var: Tensor<2>,
}

/// Negative ELBO terms, averaged over the batch (nats per image).
pub struct VaeLoss {
    pub reconstruction: Tensor<1>,
    pub kl: Tensor<1>,
}

impl VaeLoss {
    pub fn total(&self) -> Tensor<1> {
        self.reconstruction.clone() + self.kl.clone()
    }
}

/// What training a VAE of `arch` on images of `shape` with batches of `batch` holds in memory.
pub fn footprint(arch: VaeArch, shape: ImageShape, latent_dim: usize, classes: usize, batch: usize) -> crate::train::memory::Footprint {
    use crate::train::memory::{Footprint, linear_stack};
    let (d, l, k) = (shape.len() as u64, latent_dim as u64, classes as u64);
    let (params, per_sample) = match arch {
        VaeArch::Mlp => (linear_stack(&[d + k, 400]) + 2 * linear_stack(&[400, l]) + linear_stack(&[l + k, 400, d]), 6 * (2 * d + 800 + 4 * l)),
        VaeArch::Conv => {
            let flat = 64 * d / shape.channels.max(1) as u64 / 16;
            let convs = 2 * (shape.channels as u64 * 32 * 16 + 32 * 64 * 16);
            (convs + (flat + k) * 2 * l + (l + k) * flat + 2 * flat, 12 * (2 * d + 16 * d + flat))
        }
    };
    Footprint { params, copies: 3, activations: batch as u64 * per_sample }
}

/// Builds a VAE for images of `shape` (`classes` > 0: class-conditional).
pub fn build_vae(arch: VaeArch, shape: ImageShape, latent_dim: usize, classes: usize, device: &Device) -> Result<Vae> {
    let dim = shape.len();
    let net = match arch {
        VaeArch::Mlp => VaeNet::Mlp(MlpVae {
            fc1: LinearConfig::new(dim + classes, 400).init(device),
            fc21: LinearConfig::new(400, latent_dim).init(device),
            fc22: LinearConfig::new(400, latent_dim).init(device),
            fc3: LinearConfig::new(latent_dim + classes, 400).init(device),
            fc4: LinearConfig::new(400, dim).init(device),
        }),
        VaeArch::Conv => {
            if shape.height != shape.width || shape.height % 4 != 0 {
                return Err(AigcError::invalid("image_size",
                    format!("the conv VAE needs square images with a side divisible by 4, the data is {shape}"),
                ));
            }
            let side = shape.height / 4;
            let conv = |c_in, c_out| {
                Conv2dConfig::new([c_in, c_out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            };
            let up = |c_in, c_out| ConvTranspose2dConfig::new([c_in, c_out], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).init(device);
            let flat = 64 * side * side;
            VaeNet::Conv(ConvVae {
                enc1: conv(shape.channels, 32),
                enc2: conv(32, 64),
                enc_out: LinearConfig::new(flat + classes, 2 * latent_dim).init(device),
                dec_in: LinearConfig::new(latent_dim + classes, flat).init(device),
                dec1: up(64, 32),
                dec2: up(32, shape.channels),
                side,
            })
        }
    };
    Ok(Vae { net, latent_dim, classes, channels: shape.channels, height: shape.height, width: shape.width })
}

fn with_labels(x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2> {
    match labels {
        Some(labels) => Tensor::cat(vec![x, labels], 1),
        None => x,
    }
}

impl Vae {
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// `[batch, image_dim]` images in [-1, 1] → (μ, log σ²), each `[batch, latent]`.
    pub fn encode(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        let batch = x.dims()[0];
        let latent = self.latent_dim;
        match &self.net {
            VaeNet::Mlp(m) => {
                let h = relu(m.fc1.forward(with_labels(x, labels)));
                (m.fc21.forward(h.clone()), m.fc22.forward(h))
            }
            VaeNet::Conv(m) => {
                let x = x.reshape([batch, self.channels, self.height, self.width]);
                let h = relu(m.enc2.forward(relu(m.enc1.forward(x)))).flatten(1, 3);
                let out = m.enc_out.forward(with_labels(h, labels));
                (out.clone().narrow(1, 0, latent), out.narrow(1, latent, latent))
            }
        }
    }

    /// `[batch, latent + classes]` (z followed by the one-hot label) → Bernoulli logits `[batch, image_dim]`.
    pub fn decode_logits(&self, z: Tensor<2>) -> Tensor<2> {
        let batch = z.dims()[0];
        match &self.net {
            VaeNet::Mlp(m) => m.fc4.forward(relu(m.fc3.forward(z))),
            VaeNet::Conv(m) => {
                let h = relu(m.dec_in.forward(z)).reshape([batch, 64, m.side, m.side]);
                m.dec2.forward(relu(m.dec1.forward(h))).flatten(1, 3)
            }
        }
    }

    /// Encodes, takes z = μ + σ·ε with the given standard-normal `eps` `[batch, latent]` (the
    /// reparameterisation trick), decodes.
    pub fn forward(&self, x: Tensor<2>, labels: Option<Tensor<2>>, eps: Tensor<2>) -> VaeOutput {
        let (mu, log_var) = self.encode(x, labels.clone());
        let z = mu.clone() + log_var.clone().mul_scalar(0.5).exp() * eps;
        VaeOutput { logits: self.decode_logits(with_labels(z, labels)), mu, log_var }
    }
}

impl Vae {
    /// The decoder in PyTorch's layout (`decoder.safetensors` and `decoder.json`): z (and the
    /// one-hot class) → Bernoulli means in [0, 1], as an `nn.Sequential` ending in `Sigmoid`.
    pub fn torch_export(&self, data: &str) -> TorchExport {
        let arch = match &self.net {
            VaeNet::Mlp(_) => VaeArch::Mlp,
            VaeNet::Conv(_) => VaeArch::Conv,
        };
        let image = [self.channels, self.height, self.width];
        let mut export = TorchExport::new(
            "decoder",
            serde_json::json!({
                "family": super::NAME,
                "module": "image_generator",
                "arch": arch.name(),
                "data": data,
                "latent_dim": self.latent_dim,
                "classes": self.classes,
                "image_shape": image,
                "input": "z ~ N(0, I) of [batch, latent_dim], followed by the one-hot class when classes > 0",
                "output_range": [0.0, 1.0],
            }),
        );
        let linear = |e: &mut TorchExport, l: &Linear| {
            let [d_in, d_out] = l.weight.dims();
            e.net_layer(layers::linear(d_in, d_out), |e, key| e.linear(key, l));
        };
        let up = |e: &mut TorchExport, c: &ConvTranspose2d| {
            let [c_in, c_out, kernel, _] = c.weight.dims();
            e.net_layer(layers::conv_transpose(c_in, c_out, kernel, c.stride[0], c.padding[0]), |e, key| e.conv_transpose(key, c));
        };
        match &self.net {
            VaeNet::Mlp(m) => {
                linear(&mut export, &m.fc3);
                export.layer(layers::plain("ReLU"));
                linear(&mut export, &m.fc4);
                export.layer(layers::plain("Sigmoid"));
                export.layer(layers::unflatten(&image));
            }
            VaeNet::Conv(m) => {
                linear(&mut export, &m.dec_in);
                export.layer(layers::plain("ReLU"));
                export.layer(layers::unflatten(&[64, m.side, m.side]));
                up(&mut export, &m.dec1);
                export.layer(layers::plain("ReLU"));
                up(&mut export, &m.dec2);
                export.layer(layers::plain("Sigmoid"));
            }
        }
        export
    }
}

/// The negative ELBO of `x` (in [-1, 1]; the likelihood is over (x + 1)/2 ∈ [0, 1]).
pub fn vae_loss(output: &VaeOutput, x: Tensor<2>) -> VaeLoss {
    let target = x.add_scalar(1.0).mul_scalar(0.5);
    // BCE with logits: softplus(l) − t·l, summed over pixels.
    let logits = output.logits.clone();
    let reconstruction = (softplus(logits.clone(), 1.0) - target * logits).sum_dim(1).mean();
    // KL(N(μ, σ²) ‖ N(0, 1)) = −½ Σ (1 + log σ² − μ² − σ²).
    let (mu, log_var) = (output.mu.clone(), output.log_var.clone());
    let kl = (log_var.clone().add_scalar(1.0) - mu.square() - log_var.exp()).sum_dim(1).mean().mul_scalar(-0.5);
    VaeLoss { reconstruction, kl }
}

/// Logits → images in [-1, 1] (the Bernoulli means).
pub fn logits_to_images(logits: Tensor<2>) -> Tensor<2> {
    sigmoid(logits).mul_scalar(2.0).sub_scalar(1.0)
}

/// Sampling from the prior: z ~ N(0, I) decoded to its mean image.
impl Generator for Vae {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        logits_to_images(self.decode_logits(z))
    }
}

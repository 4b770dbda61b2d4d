//! GAN objectives, written for minimisation.
//!
//! * Non-saturating BCE (Goodfellow et al. 2014, §3): D minimises −log σ(D(x)) − log(1 − σ(D(G(z)))),
//!   G minimises −log σ(D(G(z))). With logits, −log σ(a) = softplus(−a) and −log(1 − σ(a)) = softplus(a).
//! * Wasserstein (Arjovsky et al. 2017), the article's E[D(x)] − E[D(G(z))]: the critic maximises
//!   it (minimises E[D(G(z))] − E[D(x)]) under weight clipping; G minimises −E[D(G(z))].

use burn::tensor::Tensor;
use burn::tensor::activation::log_sigmoid;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// Non-saturating binary cross-entropy (the default).
    #[default]
    Bce,
    /// The original WGAN: Wasserstein critic with weight clipping, RMSProp, n_critic steps.
    Wgan,
}

impl GanLoss {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "bce" => Some(GanLoss::Bce),
            "wgan" => Some(GanLoss::Wgan),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GanLoss::Bce => "bce",
            GanLoss::Wgan => "wgan",
        }
    }

    /// The discriminator's (critic's) loss from its outputs on real and generated images.
    pub fn discriminator(self, d_real: Tensor<2>, d_fake: Tensor<2>) -> Tensor<1> {
        self.discriminator_smoothed(d_real, d_fake, 0.0)
    }

    /// As [`discriminator`](Self::discriminator), with one-sided label smoothing for BCE
    /// (Salimans et al. 2016, §3.4): real images get the target 1 − `smoothing` instead of 1,
    /// i.e. BCE(a, t) = t·softplus(−a) + (1 − t)·softplus(a). Ignored by the Wasserstein loss.
    pub fn discriminator_smoothed(self, d_real: Tensor<2>, d_fake: Tensor<2>, smoothing: f64) -> Tensor<1> {
        match self {
            GanLoss::Bce => {
                let real = if smoothing > 0.0 {
                    let target = 1.0 - smoothing;
                    log_sigmoid(d_real.clone()).neg().mul_scalar(target)
                        + log_sigmoid(d_real.neg()).neg().mul_scalar(1.0 - target)
                } else {
                    log_sigmoid(d_real).neg()
                };
                real.mean() + log_sigmoid(d_fake.neg()).neg().mean()
            }
            GanLoss::Wgan => d_fake.mean() - d_real.mean(),
        }
    }

    /// The generator's loss from the discriminator's outputs on generated images.
    pub fn generator(self, d_fake: Tensor<2>) -> Tensor<1> {
        match self {
            GanLoss::Bce => log_sigmoid(d_fake).neg().mean(),
            GanLoss::Wgan => d_fake.mean().neg(),
        }
    }
}

/// The R1 gradient penalty (Mescheder et al. 2018): (γ/2)·E‖∇ₓD(x)‖² on real images, from the
/// input gradient `[batch, image_dim]`.
pub fn r1_penalty(input_gradient: Tensor<2>, gamma: f64) -> Tensor<1> {
    input_gradient.square().sum_dim(1).mean().mul_scalar(gamma / 2.0)
}

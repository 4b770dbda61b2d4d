//! GAN objectives, written for minimisation.
//!
//! * Non-saturating BCE (Goodfellow et al. 2014, §3): D minimises −log σ(D(x)) − log(1 − σ(D(G(z)))),
//!   G minimises −log σ(D(G(z))). With logits, −log σ(a) = softplus(−a) and −log(1 − σ(a)) = softplus(a).
//! * Wasserstein (Arjovsky et al. 2017), the article's E[D(x)] − E[D(G(z))]: the critic maximises
//!   it (minimises E[D(G(z))] − E[D(x)]) under weight clipping; G minimises −E[D(G(z))].
//! * WGAN-GP (Gulrajani et al. 2017): the Wasserstein losses, with the clipping replaced by the
//!   penalty λ·E[(‖∇D(x̂)‖ − 1)²] on random interpolates x̂ of real and generated images.
//! * Hinge (Lim & Ye 2017; Miyato et al. 2018): D minimises E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))],
//!   G minimises −E[D(G(z))].
//! * R1 (Mescheder et al. 2018): the non-saturating losses plus (γ/2)·E‖∇D(x)‖² on real images.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_sigmoid, relu};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// Non-saturating binary cross-entropy (the default).
    #[default]
    Bce,
    /// The original WGAN: Wasserstein critic with weight clipping, RMSProp, n_critic steps.
    Wgan,
    /// Wasserstein critic with a gradient penalty on interpolates, Adam β = (0, 0.9), n_critic steps.
    #[serde(rename = "wgan-gp")]
    WganGp,
    /// Hinge loss.
    Hinge,
    /// Non-saturating BCE with the R1 penalty on real images (γ = 10 unless set).
    R1,
}

impl GanLoss {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "bce" => Some(GanLoss::Bce),
            "wgan" => Some(GanLoss::Wgan),
            "wgan-gp" | "wgan_gp" => Some(GanLoss::WganGp),
            "hinge" => Some(GanLoss::Hinge),
            "r1" => Some(GanLoss::R1),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GanLoss::Bce => "bce",
            GanLoss::Wgan => "wgan",
            GanLoss::WganGp => "wgan-gp",
            GanLoss::Hinge => "hinge",
            GanLoss::R1 => "r1",
        }
    }

    /// Every name `parse` accepts, for error messages.
    pub const NAMES: &'static str = "bce, hinge, wgan, wgan-gp or r1";

    /// Whether D's output is a logit (reported as the probability σ(D)) rather than a critic value.
    pub fn is_logit(self) -> bool {
        matches!(self, GanLoss::Bce | GanLoss::R1)
    }

    /// Whether the critic takes several steps per generator step (Wasserstein losses).
    pub fn is_wasserstein(self) -> bool {
        matches!(self, GanLoss::Wgan | GanLoss::WganGp)
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
            GanLoss::Bce | GanLoss::R1 => {
                let real = if smoothing > 0.0 {
                    let target = 1.0 - smoothing;
                    log_sigmoid(d_real.clone()).neg().mul_scalar(target)
                        + log_sigmoid(d_real.neg()).neg().mul_scalar(1.0 - target)
                } else {
                    log_sigmoid(d_real).neg()
                };
                real.mean() + log_sigmoid(d_fake.neg()).neg().mean()
            }
            GanLoss::Wgan | GanLoss::WganGp => d_fake.mean() - d_real.mean(),
            GanLoss::Hinge => relu(d_real.neg().add_scalar(1.0)).mean() + relu(d_fake.add_scalar(1.0)).mean(),
        }
    }

    /// The generator's loss from the discriminator's outputs on generated images.
    pub fn generator(self, d_fake: Tensor<2>) -> Tensor<1> {
        match self {
            GanLoss::Bce | GanLoss::R1 => log_sigmoid(d_fake).neg().mean(),
            GanLoss::Wgan | GanLoss::WganGp | GanLoss::Hinge => d_fake.mean().neg(),
        }
    }
}

/// The R1 gradient penalty (Mescheder et al. 2018): (γ/2)·E‖∇ₓD(x)‖² on real images, from the
/// input gradient `[batch, image_dim]`.
pub fn r1_penalty(input_gradient: Tensor<2>, gamma: f64) -> Tensor<1> {
    input_gradient.square().sum_dim(1).mean().mul_scalar(gamma / 2.0)
}

/// The WGAN-GP penalty λ·E[(‖∇D(x̂)‖ − 1)²], from the input gradient at the interpolates. A tiny
/// constant inside the square root keeps its derivative finite where the gradient vanishes.
pub fn gradient_penalty(input_gradient: Tensor<2>, lambda: f64) -> Tensor<1> {
    let norm = input_gradient.square().sum_dim(1).add_scalar(1e-12).sqrt();
    norm.sub_scalar(1.0).square().mean().mul_scalar(lambda)
}

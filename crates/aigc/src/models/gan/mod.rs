//! Generative adversarial networks (Goodfellow et al. 2014): a generator G(z) maps noise to images,
//! a discriminator (critic) D(x) scores images. Losses live in [`loss`].

pub mod loss;
pub mod mlp;
pub mod traits;

pub use loss::{GanLoss, r1_penalty};
pub use traits::{Discriminator, Generator};
pub use mlp::{MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig};

//! What the GAN trainer needs from a discriminator (critic); the generator is a
//! [`crate::sample::latent::Generator`]. Images travel flattened, `[batch, channels*height*width]`
//! in [-1, 1]; a convolutional network reshapes inside. Class labels travel one-hot, `[batch,
//! classes]`, beside the images.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::data::ImageShape;
use crate::report::torch::TorchExport;
use crate::sample::latent::Generator;

pub trait Discriminator: Module + Clone + Send + 'static {
    /// `[batch, image_dim]` images (and one-hot labels for a conditional critic) → `[batch, 1]`
    /// logits / critic values.
    fn score(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2>;

    /// Scores and their input gradient ∂D(x)/∂x (`[batch, image_dim]`), the latter written as
    /// ordinary differentiable tensor operations: burn has no double backward, and gradient
    /// penalties (R1, WGAN-GP) need the gradient of this gradient with respect to the weights.
    fn score_with_input_gradient(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>);
}

/// A generator a run exports for other tools.
pub trait ExportableGenerator: Generator {
    /// The generator in PyTorch's layout (`generator.safetensors` and `generator.json`) for
    /// images of `shape`, trained on `data`.
    fn torch_export(&self, shape: ImageShape, data: &str) -> TorchExport;
}

//! What the GAN training loop needs from a pair of networks. Images travel flattened,
//! `[batch, channels*height*width]` in [-1, 1]; a convolutional network reshapes inside.

use burn::module::Module;
use burn::tensor::Tensor;

pub trait Generator: Module + Clone + Send + 'static {
    fn latent_dim(&self) -> usize;
    /// `[batch, latent_dim]` noise → `[batch, image_dim]` images in [-1, 1].
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;
}

pub trait Discriminator: Module + Clone + Send + 'static {
    /// `[batch, image_dim]` images → `[batch, 1]` logits / critic values.
    fn score(&self, x: Tensor<2>) -> Tensor<2>;

    /// Scores and their input gradient ∂D(x)/∂x (`[batch, image_dim]`), the latter written as
    /// ordinary differentiable tensor operations: burn has no double backward, and gradient
    /// penalties (R1, WGAN-GP) need the gradient of this gradient with respect to the weights.
    fn score_with_input_gradient(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>);
}

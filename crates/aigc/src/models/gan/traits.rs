//! What the GAN training loop needs from a pair of networks. Images travel flattened,
//! `[batch, channels*height*width]` in [-1, 1]; a convolutional network reshapes inside. Class
//! labels travel one-hot, `[batch, classes]`: appended to the generator's noise, and passed to the
//! discriminator beside the images.

use burn::module::Module;
use burn::tensor::Tensor;

pub trait Generator: Module + Clone + Send + 'static {
    /// Dimension of the noise z.
    fn latent_dim(&self) -> usize;
    /// Classes of a class-conditional generator (0 = unconditional); its input is z followed by
    /// the one-hot label.
    fn classes(&self) -> usize {
        0
    }
    /// `[batch, latent_dim + classes]` → `[batch, image_dim]` images in [-1, 1].
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;
    /// Copies the non-trained state (BatchNorm running statistics) of `source` into `self`: a
    /// weight average takes its buffers from the network it averages.
    fn with_buffers_of(self, _source: &Self) -> Self {
        self
    }
}

pub trait Discriminator: Module + Clone + Send + 'static {
    /// `[batch, image_dim]` images (and one-hot labels for a conditional critic) → `[batch, 1]`
    /// logits / critic values.
    fn score(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> Tensor<2>;

    /// Scores and their input gradient ∂D(x)/∂x (`[batch, image_dim]`), the latter written as
    /// ordinary differentiable tensor operations: burn has no double backward, and gradient
    /// penalties (R1, WGAN-GP) need the gradient of this gradient with respect to the weights.
    fn score_with_input_gradient(&self, x: Tensor<2>, labels: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>);
}

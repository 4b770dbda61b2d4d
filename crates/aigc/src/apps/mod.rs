//! Applications over capabilities, not families: fixed-form poetry and a character chat (any
//! next-token model with a character vocabulary), composition ([`compose::Melodies`]), image
//! repair ([`inpaint::Inpainter`]) and style transfer (its own feature networks).

pub mod chat;
pub mod compose;
pub mod inpaint;
pub mod poem;
pub mod style;

use burn::tensor::Tensor;

/// Adam (Kingma & Ba; β₁ 0.9, β₂ 0.999, ε 1e-8) on one tensor that is optimised directly (a
/// latent code, an image), kept on a non-autodiff device.
pub struct TensorAdam<const D: usize> {
    m: Tensor<D>,
    v: Tensor<D>,
    t: i32,
    pub lr: f64,
}

impl<const D: usize> TensorAdam<D> {
    pub fn new(like: &Tensor<D>, lr: f64) -> Self {
        Self { m: like.zeros_like(), v: like.zeros_like(), t: 0, lr }
    }

    /// `x` moved one step against `grad`.
    pub fn step(&mut self, x: Tensor<D>, grad: Tensor<D>) -> Tensor<D> {
        let (b1, b2) = (0.9f64, 0.999f64);
        self.t += 1;
        self.m = self.m.clone().mul_scalar(b1) + grad.clone().mul_scalar(1.0 - b1);
        self.v = self.v.clone().mul_scalar(b2) + grad.powi_scalar(2).mul_scalar(1.0 - b2);
        let m_hat = self.m.clone().div_scalar(1.0 - b1.powi(self.t));
        let v_hat = self.v.clone().div_scalar(1.0 - b2.powi(self.t));
        x - m_hat.div(v_hat.sqrt().add_scalar(1e-8)).mul_scalar(self.lr)
    }
}

//! Model families. Each family is a folder; its networks are burn modules built from typed configs.

pub mod gan;
pub mod lm;
pub mod vae;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Trainable parameters of a module on an autodiff device, as PyTorch counts them: burn's
/// `num_params()` also counts BatchNorm running statistics, which never require a gradient.
pub fn trainable_params<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.is_require_grad() {
                self.0 += param.shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

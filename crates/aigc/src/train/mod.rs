//! Training: the one loop every family runs on ([`fit`]), and what trainers share — weight
//! averaging ([`ema`]), DiffAugment ([`augment`]), the progress bar ([`progress`]).

pub mod augment;
pub mod ema;
pub mod fit;
pub mod memory;
pub mod progress;

use std::path::PathBuf;
use std::sync::Arc;

pub use crate::job::JobControl;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

pub use fit::{Cadence, Cursor, Evaluation, FitOptions, StepMetrics, TrainOutcome, Trainer, fit};

/// How to run a training job (not part of the run's identity).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint of the run.
    pub resume: bool,
    /// Start a new run even in a folder that holds other files.
    pub force: bool,
    /// No progress bar.
    pub quiet: bool,
    /// The compute device (without autodiff; training wraps it).
    pub device: Device,
    /// Where evaluations during training find or cache the feature network (`None`: the user
    /// cache, [`crate::eval::feature_cache::cache_dir`]).
    pub feature_cache: Option<PathBuf>,
    /// Shared with another thread: the job's progress, and a way to stop it.
    pub control: Option<Arc<JobControl>>,
}

impl TrainOptions {
    pub fn fit(&self) -> FitOptions {
        FitOptions { quiet: self.quiet, control: self.control.clone() }
    }
}

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

/// Replaces a parameter's value by `f(value)`, computed outside autodiff and lifted back as a
/// leaf that keeps the parameter's id and `require_grad`, as the optimizers do. (Through
/// autodiff the result would be a non-leaf, and `require_grad` on it panics.)
pub fn map_as_leaf<const D: usize>(param: Param<Tensor<D>>, f: impl FnOnce(Tensor<D>) -> Tensor<D>) -> Param<Tensor<D>> {
    param.map(|t| {
        let require_grad = t.is_require_grad();
        let value = Tensor::from_inner(f(t.inner()));
        if require_grad { value.require_grad() } else { value }
    })
}

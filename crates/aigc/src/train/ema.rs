//! Exponential moving average of a network's weights (Polyak averaging; used for GAN generators
//! since Karras et al. 2018): `ema ← β·ema + (1 − β)·θ` after every step. Early on β is lowered to
//! `(1 + t) / (10 + t)` so the average is not dominated by the random initialisation.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::TensorData;

/// Collects every float parameter's data in visiting order.
struct Snapshot(Vec<TensorData>);

impl ModuleVisitor for Snapshot {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data());
    }
}

/// Blends each float parameter with the matching snapshot entry.
struct Blend {
    source: std::vec::IntoIter<TensorData>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let source = self.source.next().expect("EMA and model have the same parameters");
        let decay = self.decay;
        param.map(|ema| {
            let current = Tensor::<D>::from_data(source, &ema.device());
            ema.mul_scalar(decay).add(current.mul_scalar(1.0 - decay))
        })
    }
}

/// The decay used at update `t` (0-based) for a target decay `beta`.
pub fn decay_at(beta: f64, t: usize) -> f64 {
    beta.min((1.0 + t as f64) / (10.0 + t as f64))
}

/// Moves `ema` (a copy without autodiff) towards `model`.
pub fn update_ema<M: Module>(ema: M, model: &M, decay: f64) -> M {
    let mut snapshot = Snapshot(Vec::new());
    model.visit(&mut snapshot);
    ema.map(&mut Blend { source: snapshot.0.into_iter(), decay })
}

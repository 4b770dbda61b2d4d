//! The critic's explicit input gradient (burn has no double backward) and the R1 penalty built on
//! it: checked against autodiff's own input gradient and against finite differences, in f64.

use aigc::burn::module::{ModuleMapper, ModuleVisitor, Param, Module};
use aigc::burn::tensor::{Device, FloatDType, Gradients, Tensor, TensorData};
use aigc::models::gan::{Discriminator, MlpDiscriminator, MlpDiscriminatorConfig, r1_penalty};

/// Every test in this binary runs in f64; the Flex device is configured once, before first use.
fn f64_device() -> Device {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        let mut device = Device::flex();
        device.configure(FloatDType::F64).expect("configured before any tensor exists");
    });
    Device::flex().autodiff()
}

fn critic(device: &Device) -> MlpDiscriminator {
    device.seed(5);
    MlpDiscriminatorConfig::new().with_image_dim(5).with_hidden(vec![7, 4]).init(device)
}

fn inputs(device: &Device) -> Tensor<2> {
    let values: Vec<f64> = (0..15).map(|i| ((i * 37 % 11) as f64 - 5.0) / 4.0).collect();
    Tensor::from_data(TensorData::new(values, [3, 5]), device)
}

fn to_vec(t: Tensor<2>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_into_vec::<f64>().unwrap()
}

#[test]
fn explicit_input_gradient_matches_autodiff() {
    let device = f64_device();
    let d = critic(&device);
    let x = inputs(&device).require_grad();
    let (score, explicit) = d.score_with_input_gradient(x.clone());
    let grads = score.sum().backward();
    let autodiff = x.grad(&grads).unwrap();
    let (a, b) = (to_vec(explicit), to_vec(autodiff));
    for (a, b) in a.iter().zip(&b) {
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
}

/// Adds `eps` to element `index` of the `target`-th float parameter.
struct Perturb {
    target: usize,
    index: usize,
    eps: f64,
    seen: usize,
}
impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let hit = self.seen == self.target;
        self.seen += 1;
        if !hit {
            return param;
        }
        let (index, eps) = (self.index, self.eps);
        param.map(|t| {
            let shape = t.shape();
            let device = t.device();
            let mut values = t.into_data().convert::<f64>().try_into_vec::<f64>().unwrap();
            values[index] += eps;
            Tensor::from_data(TensorData::new(values, shape), &device).require_grad()
        })
    }
}

/// The gradient of every float parameter, in visiting order.
struct GradsOf<'a>(&'a Gradients, Vec<Vec<f64>>);
impl ModuleVisitor for GradsOf<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // A parameter the penalty does not depend on (the output bias) has no gradient: zero.
        let value = param.val();
        let g = value.grad(self.0).unwrap_or_else(|| value.zeros_like());
        self.1.push(g.into_data().convert::<f64>().try_into_vec::<f64>().unwrap());
    }
}

fn penalty_value(d: &MlpDiscriminator, device: &Device) -> f64 {
    let (_, g) = d.score_with_input_gradient(inputs(device));
    r1_penalty(g, 10.0).into_scalar::<f64>()
}

#[test]
fn r1_penalty_gradient_reaches_every_weight_and_matches_finite_differences() {
    let device = f64_device();
    let d = critic(&device);
    let (_, g) = d.score_with_input_gradient(inputs(&device));
    let grads = r1_penalty(g, 10.0).backward();
    let mut analytic = GradsOf(&grads, Vec::new());
    d.visit(&mut analytic);
    // Weights and biases of 3 layers; the last layer's bias does not affect ∂D/∂x.
    assert_eq!(analytic.1.len(), 6);
    let eps = 1e-6;
    let mut checked = 0;
    for (param, grad) in analytic.1.iter().enumerate() {
        for index in [0, grad.len() / 2, grad.len() - 1] {
            let plus = d.clone().map(&mut Perturb { target: param, index, eps, seen: 0 });
            let minus = d.clone().map(&mut Perturb { target: param, index, eps: -eps, seen: 0 });
            let numeric = (penalty_value(&plus, &device) - penalty_value(&minus, &device)) / (2.0 * eps);
            let tol = 1e-5 * (1.0 + numeric.abs());
            assert!((numeric - grad[index]).abs() < tol, "param {param}[{index}]: fd {numeric} vs {}", grad[index]);
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
    // Every weight matrix gets a non-zero penalty gradient.
    for param in [0, 2, 4] {
        assert!(analytic.1[param].iter().any(|g| g.abs() > 1e-8), "param {param} has no gradient");
    }
}

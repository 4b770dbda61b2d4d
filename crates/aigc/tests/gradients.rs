//! The autodiff gradients the GAN losses rely on, against closed forms.

use aigc::burn::tensor::activation::{leaky_relu, log_sigmoid, tanh};
use aigc::burn::tensor::{Device, Tensor, TensorData};
use aigc::families::gan::GanLoss;

fn leaf(values: &[f32]) -> Tensor<2> {
    let device = Device::flex().autodiff();
    Tensor::<2>::from_data(TensorData::new(values.to_vec(), [values.len(), 1]), &device).require_grad()
}

fn grad_of(x: &Tensor<2>, y: Tensor<1>) -> Vec<f32> {
    let grads = y.backward();
    x.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap()
}

const XS: [f32; 6] = [-30.0, -3.0, -0.5, 0.0, 0.7, 4.0];

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn log_sigmoid_gradient_is_sigmoid_of_minus_x() {
    let x = leaf(&XS);
    let g = grad_of(&x, log_sigmoid(x.clone()).sum());
    for (x, g) in XS.iter().zip(g) {
        assert!((g - sigmoid(-x)).abs() < 1e-5, "d/dx log σ({x}) = {g}, expected {}", sigmoid(-x));
    }
}

#[test]
fn bce_gradients_match_closed_form() {
    // d/da [softplus(-a)] = -σ(-a) for real; d/da [softplus(a)] = σ(a) for fake; means over n.
    let n = XS.len() as f32;
    let real = leaf(&XS);
    let fake = leaf(&XS);
    let loss = GanLoss::Bce.discriminator(real.clone(), fake.clone());
    let grads = loss.backward();
    let gr = real.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    let gf = fake.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    for (i, x) in XS.iter().enumerate() {
        assert!((gr[i] + sigmoid(-x) / n).abs() < 1e-5, "real grad at {x}: {}", gr[i]);
        assert!((gf[i] - sigmoid(*x) / n).abs() < 1e-5, "fake grad at {x}: {}", gf[i]);
    }
    let g = leaf(&XS);
    let gg = grad_of(&g, GanLoss::Bce.generator(g.clone()));
    for (x, v) in XS.iter().zip(gg) {
        assert!((v + sigmoid(-x) / n).abs() < 1e-5, "generator grad at {x}: {v}");
    }
}

#[test]
fn activation_gradients() {
    let x = leaf(&XS);
    let g = grad_of(&x, tanh(x.clone()).sum());
    for (x, g) in XS.iter().zip(g) {
        let t = x.tanh();
        assert!((g - (1.0 - t * t)).abs() < 1e-5, "tanh' at {x}: {g}");
    }
    let x = leaf(&XS);
    let g = grad_of(&x, leaky_relu(x.clone(), 0.2).sum());
    for (x, g) in XS.iter().zip(g) {
        let expected = if *x > 0.0 { 1.0 } else { 0.2 };
        if *x != 0.0 {
            assert!((g - expected).abs() < 1e-6, "leaky_relu' at {x}: {g}");
        }
    }
}

//! The critic's explicit input gradient (burn has no double backward) and the R1 penalty built on
//! it (R1 and WGAN-GP), for the MLP and DCGAN critics with every normalisation and the
//! conditional projection head: checked against autodiff's own input gradient and against finite
//! differences, in f64.

use aigc::burn::module::{ModuleMapper, ModuleVisitor, Param, Module};
use aigc::burn::tensor::{Device, Gradients, Tensor, TensorData};
use aigc::families::gan::{
    CriticNorm, DcganConfig, Discriminator, GanDiscriminator, MlpDiscriminatorConfig, gradient_penalty, r1_penalty,
};

use aigc::ops::f64_test_device as f64_device;

/// The critics under test: the MLP (plain and class-conditional) and the 28 px DCGAN critic with
/// each normalisation (one conditional).
fn critics(device: &Device) -> Vec<(&'static str, GanDiscriminator, bool)> {
    // The seed is global: without the lock, the two tests of this binary (run in parallel) would
    // interleave their draws and get different critics from run to run — occasionally one with a
    // pre-activation within ε of a LeakyReLU kink, where finite differences are meaningless.
    static SEEDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(5);
    let mlp = |classes| GanDiscriminator::Mlp(MlpDiscriminatorConfig::new().with_image_dim(784).with_hidden(vec![7, 4]).with_classes(classes).init(device));
    let dcgan = |norm, classes| {
        GanDiscriminator::Dcgan(DcganConfig::new().with_critic_norm(norm).with_classes(classes).init_discriminator(device).unwrap())
    };
    vec![
        ("mlp", mlp(0), false),
        ("mlp conditional", mlp(3), true),
        ("dcgan layer norm", dcgan(CriticNorm::Layer, 0), false),
        ("dcgan batch norm", dcgan(CriticNorm::Batch, 0), false),
        ("dcgan no norm, conditional", dcgan(CriticNorm::None, 3), true),
    ]
}

fn inputs(device: &Device) -> Tensor<2> {
    let values: Vec<f64> = (0..3 * 784).map(|i| ((i * 37 % 11) as f64 - 5.0) / 5.0).collect();
    Tensor::from_data(TensorData::new(values, [3, 784]), device)
}

/// One-hot labels 0, 2, 1 for conditional critics.
fn labels(conditional: bool, device: &Device) -> Option<Tensor<2>> {
    conditional.then(|| Tensor::from_data(TensorData::new(vec![1.0f64, 0., 0., 0., 0., 1., 0., 1., 0.], [3, 3]), device))
}

fn to_vec(t: Tensor<2>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_into_vec::<f64>().unwrap()
}

#[test]
fn explicit_input_gradient_matches_autodiff() {
    let device = f64_device();
    for (name, d, conditional) in critics(&device) {
        let x = inputs(&device).require_grad();
        let (score, explicit) = d.score_with_input_gradient(x.clone(), labels(conditional, &device));
        let grads = score.sum().backward();
        let autodiff = x.grad(&grads).unwrap();
        let (a, b) = (to_vec(explicit), to_vec(autodiff));
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{name}: zero input gradient");
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-10 * (1.0 + scale), "{name}: {a} vs {b}");
        }
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

/// The two penalties, as functions of the critic's input gradient at the test inputs.
#[derive(Clone, Copy, Debug)]
enum Penalty {
    R1,
    WganGp,
}

fn penalty(d: &GanDiscriminator, conditional: bool, kind: Penalty, device: &Device) -> Tensor<1> {
    let (_, g) = d.score_with_input_gradient(inputs(device), labels(conditional, device));
    match kind {
        Penalty::R1 => r1_penalty(g, 10.0),
        Penalty::WganGp => gradient_penalty(g, 10.0),
    }
}

#[test]
fn penalty_gradients_reach_every_weight_and_match_finite_differences() {
    let device = f64_device();
    for (name, d, conditional) in critics(&device) {
        for kind in [Penalty::R1, Penalty::WganGp] {
            let grads = penalty(&d, conditional, kind, &device).backward();
            let mut analytic = GradsOf(&grads, Vec::new());
            d.visit(&mut analytic);
            let eps = 1e-6;
            for (param, grad) in analytic.1.iter().enumerate() {
                for index in [0, grad.len() / 2, grad.len() - 1] {
                    let plus = d.clone().map(&mut Perturb { target: param, index, eps, seen: 0 });
                    let minus = d.clone().map(&mut Perturb { target: param, index, eps: -eps, seen: 0 });
                    let value = |d: &GanDiscriminator| penalty(d, conditional, kind, &device).into_scalar::<f64>();
                    let numeric = (value(&plus) - value(&minus)) / (2.0 * eps);
                    let tol = 1e-5 * (1.0 + numeric.abs());
                    assert!(
                        (numeric - grad[index]).abs() < tol,
                        "{name} {kind:?}: param {param}[{index}]: fd {numeric} vs {}",
                        grad[index]
                    );
                }
            }
            // Every weight matrix and kernel gets a penalty gradient.
            let mut shapes = Shapes(Vec::new());
            d.visit(&mut shapes);
            for (param, rank) in shapes.0.iter().enumerate() {
                if *rank >= 2 {
                    assert!(analytic.1[param].iter().any(|g| g.abs() > 1e-8), "{name} {kind:?}: param {param} has no gradient");
                }
            }
        }
    }
}

/// The rank of every float parameter, in visiting order.
struct Shapes(Vec<usize>);
impl ModuleVisitor for Shapes {
    fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
        self.0.push(D);
    }
}

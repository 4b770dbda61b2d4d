//! The kernels of `aigc-ops`, in f64: im2col and col2im are adjoint; convolution and transposed
//! convolution, the fused LSTM and the fused transformer layers (causal attention, LayerNorm,
//! GELU) equal burn's own operations, values and gradients; the gradients equal central finite
//! differences.

use burn::tensor::module::{conv_transpose2d as burn_conv_transpose2d, conv2d as burn_conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};
use aigc_ops::conv::{Window, col2im, conv_transpose2d, conv2d, im2col, pixel_image, pixel_rows};

use aigc_ops::f64_test_device as f64_device;

/// A deterministic, irregular tensor (no two neighbouring entries alike).
fn tensor<const D: usize>(shape: [usize; D], seed: usize, device: &Device) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|i| (((i + seed) * 7919 % 997) as f64 / 997.0) - 0.5).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_into_vec::<f64>().unwrap()
}

fn assert_close(name: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{name}: lengths differ");
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * scale, "{name}[{i}]: {x} vs {y}");
    }
}

/// Our op's output equals burn's, and so do the gradients of L = Σ r ⊙ out for the input, the
/// weight and the bias.
fn assert_same_as_burn(case: &str, ours: Tensor<4>, theirs: Tensor<4>, inputs: [&Tensor<4>; 2], bias: &Tensor<1>) {
    assert_eq!(ours.dims(), theirs.dims(), "{case}");
    assert_close(&format!("{case} output"), &values(ours.clone()), &values(theirs.clone()), 1e-12);
    let r = tensor(ours.dims(), 4, &ours.device());
    let g_ours = (ours * r.clone()).sum().backward();
    let g_theirs = (theirs * r).sum().backward();
    for (name, t) in ["x", "weight"].into_iter().zip(inputs) {
        let (a, b) = (t.grad(&g_ours).unwrap(), t.grad(&g_theirs).unwrap());
        assert_close(&format!("{case} d{name}"), &values(a), &values(b), 1e-12);
    }
    assert_close(&format!("{case} dbias"), &values(bias.grad(&g_ours).unwrap()), &values(bias.grad(&g_theirs).unwrap()), 1e-12);
}

/// (window, input [B, C, H, W]): square and non-square images, strides 1 and 2, with and
/// without padding, a kernel wider than the padding.
fn cases() -> Vec<(Window, [usize; 4])> {
    vec![
        (Window::square(4, 2, 1), [2, 3, 8, 8]),
        (Window::square(3, 1, 1), [2, 2, 5, 7]),
        (Window::square(5, 2, 2), [1, 3, 9, 6]),
        (Window { kernel: [2, 3], stride: [1, 2], padding: [0, 1] }, [2, 2, 6, 7]),
    ]
}

#[test]
fn col2im_is_the_adjoint_of_im2col() {
    let device = f64_device();
    for (w, image) in cases() {
        let x = tensor(image, 1, &device);
        let cols = im2col(x.clone(), w);
        let c = tensor(cols.dims(), 2, &device);
        let lhs = values((cols * c.clone()).sum())[0];
        let rhs = values((x * col2im(c, image, w)).sum())[0];
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{w:?}: <im2col x, c> {lhs} vs <x, col2im c> {rhs}");
    }
}

#[test]
fn pixel_rows_round_trip_and_gradient() {
    let device = f64_device();
    let x = tensor([2, 3, 4, 5], 3, &device).require_grad();
    let rows = pixel_rows(x.clone());
    assert_eq!(rows.dims(), [2 * 4 * 5, 3]);
    assert_close("permute", &values(rows.clone()), &values(x.clone().permute([0, 2, 3, 1]).reshape([40, 3])), 0.0);
    assert_close("round trip", &values(pixel_image(rows.clone(), [2, 3, 4, 5])), &values(x.clone()), 0.0);
    let r = tensor([40, 3], 4, &device);
    let grads = (rows * r.clone()).sum().backward();
    assert_close("gradient", &values(x.grad(&grads).unwrap()), &values(pixel_image(r, [2, 3, 4, 5])), 0.0);
}

#[test]
fn conv2d_matches_burn_in_values_and_gradients() {
    let device = f64_device();
    for (w, [b, c, h, wd]) in cases() {
        let o = 4;
        let x = tensor([b, c, h, wd], 1, &device).require_grad();
        let weight = tensor([o, c, w.kernel[0], w.kernel[1]], 2, &device).require_grad();
        let bias = tensor([o], 3, &device).require_grad();
        let ours = conv2d(x.clone(), weight.clone(), Some(bias.clone()), w);
        let theirs = burn_conv2d(x.clone(), weight.clone(), Some(bias.clone()), ConvOptions::new(w.stride, w.padding, [1, 1], 1));
        assert_same_as_burn(&format!("{w:?}"), ours, theirs, [&x, &weight], &bias);
    }
}

#[test]
fn conv_transpose2d_matches_burn_in_values_and_gradients() {
    let device = f64_device();
    // (window, input, output size): output padding 0 and 1.
    let cases = [
        (Window::square(4, 2, 1), [2, 3, 4, 4], [8, 8]),
        (Window::square(3, 2, 1), [2, 2, 4, 3], [8, 6]),
        (Window::square(3, 1, 1), [1, 3, 5, 6], [5, 6]),
    ];
    for (w, [b, c, h, wd], out_hw) in cases {
        let o = 5;
        let x = tensor([b, c, h, wd], 1, &device).require_grad();
        let weight = tensor([c, o, w.kernel[0], w.kernel[1]], 2, &device).require_grad();
        let bias = tensor([o], 3, &device).require_grad();
        let extra = [0, 1].map(|a| out_hw[a] + 2 * w.padding[a] - ((x.dims()[2 + a] - 1) * w.stride[a] + w.kernel[a]));
        let ours = conv_transpose2d(x.clone(), weight.clone(), Some(bias.clone()), w, out_hw);
        let theirs = burn_conv_transpose2d(
            x.clone(),
            weight.clone(),
            Some(bias.clone()),
            ConvTransposeOptions::new(w.stride, w.padding, extra, [1, 1], 1),
        );
        assert_eq!(ours.dims(), [b, o, out_hw[0], out_hw[1]], "{w:?}");
        assert_same_as_burn(&format!("{w:?}"), ours, theirs, [&x, &weight], &bias);
    }
}

/// Central differences of L = Σ r ⊙ f(x, W) for a few entries of x and W, for both ops.
#[test]
fn gradients_match_finite_differences() {
    let device = f64_device();
    let w = Window::square(4, 2, 1);
    let ops: [(&str, [usize; 4], [usize; 4], Box<dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>>); 2] = [
        ("conv2d", [2, 3, 6, 6], [4, 3, 4, 4], Box::new(move |x, k| conv2d(x, k, None, w))),
        ("conv_transpose2d", [2, 3, 3, 3], [3, 4, 4, 4], Box::new(move |x, k| conv_transpose2d(x, k, None, w, [6, 6]))),
    ];
    for (name, x_shape, k_shape, f) in ops {
        let x = tensor(x_shape, 1, &device);
        let k = tensor(k_shape, 2, &device);
        let r = tensor(f(x.clone(), k.clone()).dims(), 3, &device);
        let loss = |x: Tensor<4>, k: Tensor<4>| values((f(x, k) * r.clone()).sum())[0];
        let (xg, kg) = (x.clone().require_grad(), k.clone().require_grad());
        let grads = (f(xg.clone(), kg.clone()) * r.clone()).sum().backward();
        for (which, analytic, base) in [("x", values(xg.grad(&grads).unwrap()), &x), ("W", values(kg.grad(&grads).unwrap()), &k)] {
            let n = analytic.len();
            for i in [0, n / 3, n / 2, n - 1] {
                let eps = 1e-6;
                let bump = |delta: f64| {
                    let mut v = values(base.clone());
                    v[i] += delta;
                    Tensor::<4>::from_data(TensorData::new(v, base.dims()), &device)
                };
                let (plus, minus) = if which == "x" {
                    (loss(bump(eps), k.clone()), loss(bump(-eps), k.clone()))
                } else {
                    (loss(x.clone(), bump(eps)), loss(x.clone(), bump(-eps)))
                };
                let numeric = (plus - minus) / (2.0 * eps);
                assert!((numeric - analytic[i]).abs() < 1e-6, "{name} d{which}[{i}]: analytic {} vs numeric {numeric}", analytic[i]);
            }
        }
    }
}

/// The fused LSTM equals burn's step-by-step `Lstm`: outputs, and the gradients of the input and
/// of every weight and bias.
#[test]
fn fused_lstm_matches_burn_lstm() {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::nn::LstmConfig;
    use burn::tensor::Gradients;
    use aigc_ops::lstm::lstm_forward;

    struct GradsOf<'a>(&'a Gradients, Vec<Vec<f64>>);
    impl ModuleVisitor for GradsOf<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let g = value.grad(self.0).expect("every LSTM parameter gets a gradient");
            self.1.push(g.into_data().convert::<f64>().try_into_vec::<f64>().unwrap());
        }
    }

    let device = f64_device();
    device.seed(11);
    let (b, t, d, h) = (3, 7, 5, 6);
    let lstm = LstmConfig::new(d, h, true).init(&device);
    let x = tensor([b, t, d], 1, &device).require_grad();
    let ours = lstm_forward(&lstm, x.clone());
    let theirs = lstm.forward(x.clone(), None).0;
    assert_close("output", &values(ours.clone()), &values(theirs.clone()), 1e-12);
    let r = tensor([b, t, h], 2, &device);
    let (g_ours, g_theirs) = ((ours * r.clone()).sum().backward(), (theirs * r).sum().backward());
    assert_close("dx", &values(x.grad(&g_ours).unwrap()), &values(x.grad(&g_theirs).unwrap()), 1e-11);
    let (mut a, mut b_) = (GradsOf(&g_ours, Vec::new()), GradsOf(&g_theirs, Vec::new()));
    lstm.visit(&mut a);
    lstm.visit(&mut b_);
    assert_eq!(a.1.len(), 16, "4 gates × (input, hidden) × (weight, bias)");
    for (i, (p, q)) in a.1.iter().zip(&b_.1).enumerate() {
        assert_close(&format!("parameter {i}"), p, q, 1e-11);
    }
}

/// Central differences of L = Σ r ⊙ lstm_recurrence(pre, W_hh) for entries of both inputs.
#[test]
fn fused_lstm_gradients_match_finite_differences() {
    use aigc_ops::lstm::lstm_recurrence;
    let device = f64_device();
    let (b, t, h) = (2, 5, 3);
    let pre = tensor([b, t, 4 * h], 3, &device);
    let w = tensor([h, 4 * h], 4, &device).mul_scalar(2.0);
    let r = tensor([b, t, h], 5, &device);
    let loss = |p: Tensor<3>, w: Tensor<2>| values((lstm_recurrence(p, w) * r.clone()).sum())[0];
    let (pg, wg) = (pre.clone().require_grad(), w.clone().require_grad());
    let grads = (lstm_recurrence(pg.clone(), wg.clone()) * r.clone()).sum().backward();
    let (d_pre, d_w) = (values(pg.grad(&grads).unwrap()), values(wg.grad(&grads).unwrap()));
    let eps = 1e-6;
    for i in [0, 7, d_pre.len() / 2, d_pre.len() - 1] {
        let bump = |delta: f64| {
            let mut v = values(pre.clone());
            v[i] += delta;
            Tensor::<3>::from_data(TensorData::new(v, [b, t, 4 * h]), &device)
        };
        let numeric = (loss(bump(eps), w.clone()) - loss(bump(-eps), w.clone())) / (2.0 * eps);
        assert!((numeric - d_pre[i]).abs() < 1e-7, "dpre[{i}]: {} vs {numeric}", d_pre[i]);
    }
    for i in [0, 5, d_w.len() / 2, d_w.len() - 1] {
        let bump = |delta: f64| {
            let mut v = values(w.clone());
            v[i] += delta;
            Tensor::<2>::from_data(TensorData::new(v, [h, 4 * h]), &device)
        };
        let numeric = (loss(pre.clone(), bump(eps)) - loss(pre.clone(), bump(-eps))) / (2.0 * eps);
        assert!((numeric - d_w[i]).abs() < 1e-7, "dW_hh[{i}]: {} vs {numeric}", d_w[i]);
    }
}

/// Central differences of `loss` at a few entries of `base` against the analytic gradient.
fn check_finite_differences<const D: usize>(name: &str, base: &Tensor<D>, analytic: &[f64], loss: impl Fn(Tensor<D>) -> f64, tol: f64) {
    let n = analytic.len();
    let eps = 1e-6;
    for i in [0, 1, n / 3, n / 2, n - 2, n - 1] {
        let bump = |delta: f64| {
            let mut v = values(base.clone());
            v[i] += delta;
            Tensor::<D>::from_data(TensorData::new(v, base.dims()), &base.device())
        };
        let numeric = (loss(bump(eps)) - loss(bump(-eps))) / (2.0 * eps);
        assert!((numeric - analytic[i]).abs() < tol, "{name}[{i}]: analytic {} vs numeric {numeric}", analytic[i]);
    }
}

/// The fused causal attention, LayerNorm and GELU equal burn's compositions (values and the
/// gradients of L = Σ r ⊙ out for every input), including a single-token sequence.
#[test]
fn fused_transformer_ops_match_burn() {
    use burn::tensor::activation::gelu as burn_gelu;
    use aigc_ops::transformer::{causal_attention, causal_attention_composite, gelu, layer_norm};
    let device = f64_device();
    for (b, t, c, heads) in [(2, 5, 6, 3), (3, 1, 4, 1), (1, 9, 8, 2)] {
        let qkv = tensor([b, t, 3 * c], 1, &device).mul_scalar(3.0).require_grad();
        let ours = causal_attention(qkv.clone(), heads);
        let theirs = causal_attention_composite(qkv.clone(), heads, |att| att);
        let case = format!("attention b{b} t{t} c{c} h{heads}");
        assert_close(&case, &values(ours.clone()), &values(theirs.clone()), 1e-12);
        let r = tensor([b, t, c], 2, &device);
        let (g_ours, g_theirs) = ((ours * r.clone()).sum().backward(), (theirs * r).sum().backward());
        assert_close(&format!("{case} dqkv"), &values(qkv.grad(&g_ours).unwrap()), &values(qkv.grad(&g_theirs).unwrap()), 1e-12);
    }

    let (n, c) = (7, 6);
    let x = tensor([n, c], 3, &device).mul_scalar(4.0).require_grad();
    let gamma = tensor([c], 4, &device).add_scalar(1.0).require_grad();
    let beta = tensor([c], 5, &device).require_grad();
    let ours = layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
    // (burn's `var_mean_bias` has a less exact gradient: 4e-7 relative off finite differences.)
    let centred = x.clone() - x.clone().mean_dim(1);
    let var = centred.clone().powi_scalar(2).mean_dim(1);
    let theirs = centred.div((var + 1e-5).sqrt()) * gamma.clone().unsqueeze() + beta.clone().unsqueeze();
    assert_close("layer norm", &values(ours.clone()), &values(theirs.clone()), 1e-12);
    let r = tensor([n, c], 6, &device);
    let (g_ours, g_theirs) = ((ours * r.clone()).sum().backward(), (theirs * r).sum().backward());
    assert_close("layer norm dx", &values(x.grad(&g_ours).unwrap()), &values(x.grad(&g_theirs).unwrap()), 1e-11);
    assert_close("layer norm dgamma", &values(gamma.grad(&g_ours).unwrap()), &values(gamma.grad(&g_theirs).unwrap()), 1e-12);
    assert_close("layer norm dbeta", &values(beta.grad(&g_ours).unwrap()), &values(beta.grad(&g_theirs).unwrap()), 1e-12);

    let x = tensor([5, 40_000], 7, &device).mul_scalar(12.0).require_grad();
    let (ours, theirs) = (gelu(x.clone()), burn_gelu(x.clone()));
    assert_close("gelu", &values(ours.clone()), &values(theirs.clone()), 1e-12);
    let r = tensor([5, 40_000], 8, &device);
    let (g_ours, g_theirs) = ((ours * r.clone()).sum().backward(), (theirs * r).sum().backward());
    assert_close("gelu dx", &values(x.grad(&g_ours).unwrap()), &values(x.grad(&g_theirs).unwrap()), 1e-12);
}

/// Central differences for the fused transformer ops: attention's qkv, LayerNorm's x, γ and β,
/// GELU's x.
#[test]
fn fused_transformer_gradients_match_finite_differences() {
    use aigc_ops::transformer::{causal_attention, gelu, layer_norm};
    let device = f64_device();
    let grad_of = |out: Tensor<3>, r: &Tensor<3>, x: &Tensor<3>| values(x.grad(&(out * r.clone()).sum().backward()).unwrap());

    let qkv = tensor([2, 4, 12], 1, &device).mul_scalar(3.0);
    let r = tensor([2, 4, 4], 2, &device);
    let xg = qkv.clone().require_grad();
    let analytic = grad_of(causal_attention(xg.clone(), 2), &r, &xg);
    check_finite_differences("attention dqkv", &qkv, &analytic, |q| values((causal_attention(q, 2) * r.clone()).sum())[0], 1e-7);

    let x = tensor([1, 5, 6], 3, &device).mul_scalar(4.0);
    let xg = x.clone().require_grad();
    let analytic = grad_of(gelu(xg.clone()), &tensor([1, 5, 6], 4, &device), &xg);
    let r = tensor([1, 5, 6], 4, &device);
    check_finite_differences("gelu dx", &x, &analytic, |x| values((gelu(x) * r.clone()).sum())[0], 1e-7);

    let (x, gamma, beta) = (tensor([4, 5], 5, &device).mul_scalar(3.0), tensor([5], 6, &device).add_scalar(1.0), tensor([5], 7, &device));
    let r = tensor([4, 5], 8, &device);
    let (xg, gg, bg) = (x.clone().require_grad(), gamma.clone().require_grad(), beta.clone().require_grad());
    let grads = (layer_norm(xg.clone(), gg.clone(), bg.clone(), 1e-5) * r.clone()).sum().backward();
    let loss = |x: Tensor<2>, g: Tensor<1>, b: Tensor<1>| values((layer_norm(x, g, b, 1e-5) * r.clone()).sum())[0];
    check_finite_differences("layer norm dx", &x, &values(xg.grad(&grads).unwrap()), |x| loss(x, gamma.clone(), beta.clone()), 1e-9);
    check_finite_differences("layer norm dgamma", &gamma, &values(gg.grad(&grads).unwrap()), |g| loss(x.clone(), g, beta.clone()), 1e-7);
    check_finite_differences("layer norm dbeta", &beta, &values(bg.grad(&grads).unwrap()), |b| loss(x.clone(), gamma.clone(), b), 1e-7);
}

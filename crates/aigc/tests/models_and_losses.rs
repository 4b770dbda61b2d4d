//! The article's networks exactly, and each loss's sign and value on hand-computed cases.

use aigc::burn::module::Module;
use aigc::burn::tensor::{Device, Tensor, TensorData};
use aigc::families::gan::{Discriminator, GanLoss, MlpDiscriminatorConfig, MlpGeneratorConfig};
use aigc::sample::latent::Generator;

fn device() -> Device {
    Device::flex()
}

#[test]
fn article_parameter_counts_and_shapes() {
    let device = device();
    let g = MlpGeneratorConfig::new().init(&device);
    let d = MlpDiscriminatorConfig::new().init(&device);
    assert_eq!(g.num_params(), 1_486_352);
    assert_eq!(d.num_params(), 1_460_225);
    let z = Tensor::<2>::random([5, 100], aigc::burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let x = g.generate(z);
    assert_eq!(x.dims(), [5, 784]);
    let values = x.clone().into_data().try_into_vec::<f32>().unwrap();
    assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)), "tanh output range");
    assert_eq!(d.score(x, None).dims(), [5, 1]);
}

fn col(values: &[f32]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len(), 1]), &device())
}

fn value(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

#[test]
fn bce_losses_match_hand_computation() {
    // D(x) = 0 → σ = 0.5: each term is ln 2.
    let ln2 = std::f64::consts::LN_2;
    assert!((value(GanLoss::Bce.discriminator(col(&[0.0]), col(&[0.0]))) - 2.0 * ln2).abs() < 1e-6);
    assert!((value(GanLoss::Bce.generator(col(&[0.0]))) - ln2).abs() < 1e-6);
    // A confident, correct discriminator has a small loss; a fooled one a large loss.
    let good = value(GanLoss::Bce.discriminator(col(&[6.0, 5.0]), col(&[-6.0, -5.0])));
    let fooled = value(GanLoss::Bce.discriminator(col(&[-6.0]), col(&[6.0])));
    assert!(good < 0.02 && fooled > 11.0, "{good} {fooled}");
    // Non-saturating G loss: -log σ(a), e.g. a = 2 → softplus(-2) = 0.126928.
    assert!((value(GanLoss::Bce.generator(col(&[2.0]))) - 0.126_928).abs() < 1e-5);
    // Large logits stay finite (the logit form is numerically stable).
    assert!(value(GanLoss::Bce.discriminator(col(&[-200.0]), col(&[200.0]))).is_finite());
}

#[test]
fn wasserstein_losses_have_the_articles_sign() {
    // The critic maximises E[D(x)] - E[D(G(z))] = (1+3)/2 - (-1+0)/2 = 2.5, so its loss is -2.5.
    let real = col(&[1.0, 3.0]);
    let fake = col(&[-1.0, 0.0]);
    assert!((value(GanLoss::Wgan.discriminator(real, fake.clone())) + 2.5).abs() < 1e-6);
    // The generator minimises -E[D(G(z))] = 0.5.
    assert!((value(GanLoss::Wgan.generator(fake)) - 0.5).abs() < 1e-6);
}

#[test]
fn hinge_and_gradient_penalty_losses_match_hand_computation() {
    // D: mean(max(0, 1 − D(x))) + mean(max(0, 1 + D(G(z)))): real (2, 0.5) → (0 + 0.5)/2 = 0.25;
    // fake (−3, 0) → (0 + 1)/2 = 0.5.
    let v = value(GanLoss::Hinge.discriminator(col(&[2.0, 0.5]), col(&[-3.0, 0.0])));
    assert!((v - 0.75).abs() < 1e-6, "{v}");
    // G: −mean D(G(z)).
    assert!((value(GanLoss::Hinge.generator(col(&[1.0, 2.0]))) + 1.5).abs() < 1e-6);
    // WGAN-GP has WGAN's losses; the penalty is λ·mean((‖g‖ − 1)²): norms 5 and 1 → 10·(16 + 0)/2 = 80.
    assert!((value(GanLoss::WganGp.discriminator(col(&[1.0, 3.0]), col(&[-1.0, 0.0]))) + 2.5).abs() < 1e-6);
    let g = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0, 0.0, 1.0], [2, 2]), &device());
    assert!((value(aigc::families::gan::gradient_penalty(g, 10.0)) - 80.0).abs() < 1e-3);
    // R1 uses the non-saturating losses.
    assert_eq!(value(GanLoss::R1.generator(col(&[2.0]))), value(GanLoss::Bce.generator(col(&[2.0]))));
    for name in ["bce", "hinge", "wgan", "wgan-gp", "r1"] {
        assert_eq!(GanLoss::parse(name).map(GanLoss::name), Some(name));
    }
}

#[test]
fn dcgan_shapes_and_the_w2_parameter_count() {
    use aigc::families::gan::DcganConfig;
    let device = device();
    for (size, channels) in [(28, 1), (32, 3), (64, 3)] {
        let config = DcganConfig::new().with_image_size(size).with_channels(channels);
        let g = config.init_generator(&device).unwrap();
        let d = config.init_discriminator(&device).unwrap();
        let z = Tensor::<2>::random([2, 100], aigc::burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let x = g.generate(z);
        assert_eq!(x.dims(), [2, channels * size * size]);
        assert_eq!(d.score(x, None).dims(), [2, 1]);
        if size == 28 {
            // ../shared/peers/SPEC.md W2: 1,932,994 trainable parameters (PyTorch's count); burn's
            // count adds the generator's BatchNorm running means and variances (2·(256 + 128)).
            assert_eq!(g.num_params() + d.num_params(), 1_932_994 + 768);
        }
    }
    // Sizes without a layout are refused, naming the field.
    let err = DcganConfig::new().with_image_size(25).init_generator(&device).unwrap_err().to_string();
    assert!(err.starts_with("image_size: ") && err.contains("25"), "{err}");
}

#[test]
fn label_smoothing_moves_the_real_target() {
    // Target 0.9 for a = 0: 0.9·ln2 + 0.1·ln2 = ln2 (real) + ln2 (fake).
    let ln2 = std::f64::consts::LN_2;
    let v = value(GanLoss::Bce.discriminator_smoothed(col(&[0.0]), col(&[0.0]), 0.1));
    assert!((v - 2.0 * ln2).abs() < 1e-6);
    // a = 3: 0.9·softplus(-3) + 0.1·softplus(3) = 0.9·0.048587 + 0.1·3.048587 = 0.348587.
    let v = value(GanLoss::Bce.discriminator_smoothed(col(&[3.0]), col(&[-40.0]), 0.1));
    assert!((v - 0.348_587).abs() < 1e-5, "{v}");
    // Smoothing penalises over-confidence: a huge real logit now costs more than a moderate one.
    let confident = value(GanLoss::Bce.discriminator_smoothed(col(&[12.0]), col(&[-40.0]), 0.1));
    let moderate = value(GanLoss::Bce.discriminator_smoothed(col(&[2.2]), col(&[-40.0]), 0.1));
    assert!(confident > moderate, "{confident} {moderate}");
}

#[test]
fn r1_penalty_value() {
    use aigc::families::gan::r1_penalty;
    // Rows with squared norms 25 and 1: (γ/2)·mean = (10/2)·13 = 65.
    let g = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0, 0.0, 1.0], [2, 2]), &device());
    assert!((value(r1_penalty(g, 10.0)) - 65.0).abs() < 1e-4);
}

//! DiffAugment: each transformation does what the documentation says, gradients reach the input,
//! and the random draws stay within the reference's ranges.

use aigc::burn::tensor::{Device, Tensor, TensorData};
use aigc::data::ImageShape;
use aigc::train::augment::{AugmentParams, diff_augment};
use aigc::run::rng::NoiseRng;

const SHAPE: ImageShape = ImageShape { channels: 1, height: 28, width: 28 };

fn image() -> Vec<f32> {
    (0..784).map(|i| ((i * 31 % 17) as f32 / 8.0) - 1.0).collect()
}

/// Parameters that leave an image unchanged except for what `edit` sets.
fn neutral(edit: impl FnOnce(&mut AugmentParams)) -> AugmentParams {
    let mut p = AugmentParams {
        brightness: vec![0.5],
        saturation: vec![0.5],
        contrast: vec![0.5],
        shift: vec![(0, 0)],
        cutout: vec![(-100, -100)],
    };
    edit(&mut p);
    p
}

fn apply(values: &[f32], params: &AugmentParams, device: &Device) -> Vec<f32> {
    let x = Tensor::<2>::from_data(TensorData::new(values.to_vec(), [1, 784]), device);
    diff_augment(x, SHAPE, params).into_data().try_into_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5)
}

#[test]
fn each_transformation_is_the_documented_one() {
    let device = Device::flex();
    let x = image();
    assert!(close(&apply(&x, &neutral(|_| {}), &device), &x), "neutral parameters change the image");
    // Brightness u = 0.75 adds 0.25.
    let brighter: Vec<f32> = x.iter().map(|v| v + 0.25).collect();
    assert!(close(&apply(&x, &neutral(|p| p.brightness = vec![0.75]), &device), &brighter));
    // Contrast u = 1 scales the deviation from the image mean by 1.5.
    let mean = x.iter().sum::<f32>() / 784.0;
    let contrast: Vec<f32> = x.iter().map(|v| (v - mean) * 1.5 + mean).collect();
    assert!(close(&apply(&x, &neutral(|p| p.contrast = vec![1.0]), &device), &contrast));
    // Saturation is a no-op on one channel.
    assert!(close(&apply(&x, &neutral(|p| p.saturation = vec![0.9]), &device), &x));
    // Translation by (1, −2): out[i][j] = x[i − 1][j + 2], zero where that falls outside.
    let shifted = apply(&x, &neutral(|p| p.shift = vec![(1, -2)]), &device);
    for i in 0..28i64 {
        for j in 0..28i64 {
            let (si, sj) = (i - 1, j + 2);
            let expected = if (0..28).contains(&si) && (0..28).contains(&sj) { x[(si * 28 + sj) as usize] } else { 0.0 };
            assert_eq!(shifted[(i * 28 + j) as usize], expected, "({i}, {j})");
        }
    }
    // Cutout at (3, 20): a 14×14 square clipped to the image, set to 0.
    let cut = apply(&x, &neutral(|p| p.cutout = vec![(3, 20)]), &device);
    for i in 0..28 {
        for j in 0..28 {
            let inside = (3..17).contains(&i) && (20..28).contains(&j);
            let expected = if inside { 0.0 } else { x[i * 28 + j] };
            assert_eq!(cut[i * 28 + j], expected, "({i}, {j})");
        }
    }
}

#[test]
fn gradients_flow_through_the_augmentation() {
    let device = Device::flex().autodiff();
    let params = neutral(|p| {
        p.shift = vec![(2, 3)];
        p.cutout = vec![(10, 10)];
        p.brightness = vec![0.8];
    });
    let x = Tensor::<2>::from_data(TensorData::new(image(), [1, 784]), &device).require_grad();
    let out = diff_augment(x.clone(), SHAPE, &params);
    let grads = out.sum().backward();
    let g = x.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    // ∂Σout/∂x[i][j] = 1 when pixel (i, j) lands at (i + 2, j + 3) inside the image and outside
    // the cutout square rows 10..24, columns 10..24; 0 otherwise.
    for i in 0..28 {
        for j in 0..28 {
            let (ti, tj) = (i + 2, j + 3);
            let kept = ti < 28 && tj < 28 && !((10..24).contains(&ti) && (10..24).contains(&tj));
            let expected = if kept { 1.0 } else { 0.0 };
            assert!((g[i * 28 + j] - expected).abs() < 1e-6, "({i}, {j}): {}", g[i * 28 + j]);
        }
    }
}

#[test]
fn draws_stay_within_the_reference_ranges_and_are_repeatable() {
    let mut rng = NoiseRng::new(7);
    let p = AugmentParams::draw(2000, SHAPE, &mut rng);
    assert_eq!(p, AugmentParams::draw(2000, SHAPE, &mut NoiseRng::new(7)));
    let shifts: std::collections::BTreeSet<i64> = p.shift.iter().flat_map(|&(a, b)| [a, b]).collect();
    assert_eq!(shifts.into_iter().collect::<Vec<_>>(), vec![-3, -2, -1, 0, 1, 2, 3], "±28/8 pixels");
    assert!(p.cutout.iter().all(|&(r, c)| (-7..=21).contains(&r) && (-7..=21).contains(&c)));
    assert!(p.brightness.iter().chain(&p.contrast).all(|u| (0.0..1.0).contains(u)));
}

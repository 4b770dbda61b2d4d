//! The feature network reaches the accuracy on the embedded digits' held-out 1,000, and
//! its features tell real digits from noise.

use aigc::burn::tensor::Device;
use aigc::data::embedded;
use aigc::eval::classifier::{ClassifierTrainConfig, extract_features, train_classifier};
use aigc::eval::{Features, fid};

#[test]
fn digit_classifier_reaches_98_percent_and_its_features_separate_real_from_noise() {
    let data = embedded::mnist_digits().unwrap();
    let device = Device::flex();
    let start = std::time::Instant::now();
    let (model, report) =
        train_classifier(&data.train, &data.heldout, "mnist", &ClassifierTrainConfig::new(), &device, true).unwrap();
    eprintln!("held-out accuracy {:.4} in {:.1} s", report.heldout_accuracy, start.elapsed().as_secs_f64());
    assert!(report.heldout_accuracy >= 0.98, "{report:?}");
    assert_eq!((report.classes, report.heldout_images), (10, 1000));

    let dim = data.train.shape.len();
    let first: Vec<usize> = (0..1000).collect();
    let train_features = extract_features(&model, &data.train.batch_values(&first), dim, &device);
    let heldout_features = extract_features(&model, &data.heldout.batch_values(&first), dim, &device);
    assert_eq!(train_features.d, 128);
    let noise: Vec<f32> = (0..1000 * dim).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let noise_features: Features = extract_features(&model, &noise, dim, &device);
    let real_vs_real = fid(&train_features, &heldout_features);
    let real_vs_noise = fid(&train_features, &noise_features);
    eprintln!("FID train/held-out {real_vs_real:.3}, train/noise {real_vs_noise:.3}");
    assert!(real_vs_noise > 20.0 * real_vs_real, "{real_vs_real} vs {real_vs_noise}");
}

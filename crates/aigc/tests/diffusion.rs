//! Diffusion and flow models: a short training run lowers the denoising loss and moves samples
//! toward held-out digits; a run samples, strips, interpolates and inpaints through the shared
//! capabilities, resumes exactly and rejects bad sampler settings; guidance is the formula.

use std::sync::Mutex;

use aigc::apps::inpaint::{InpaintSettings, Mask};
use aigc::burn::tensor::{Device, Int, Tensor, TensorData};
use aigc::data::embedded;
use aigc::eval::mean_nearest_distance;
use aigc::families::diffusion::{
    Denoiser, DiffusionMetrics, DiffusionTrainConfig, DiffusionTrainer, Objective, Sampling, Schedule, ScheduleKind, UnetConfig,
    train as train_diffusion,
};
use aigc::families::{self};
use aigc::run::{CheckpointChoice, RunDir};
use aigc::sample::{SampleLabels, SamplerSettings};
use aigc::service::images::{ImagesRequest, images};
use aigc::train::{TrainOptions, Trainer};

/// Model initialisation draws from the device's global RNG (seeded per run), and the training
/// tests share two cores: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn options(resume: bool) -> TrainOptions {
    TrainOptions { resume, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }
}

/// A UNet small enough for tests: three levels of 8, 16 and 32 channels at 28, 14 and 7 px,
/// attention only in the 7 px middle (attention over 14 × 14 pixels tripled a step's time).
fn tiny(objective: Objective) -> DiffusionTrainConfig {
    DiffusionTrainConfig::new()
        .with_objective(objective)
        .with_widths(vec![8, 16, 32])
        .with_attention(vec![false, false, false])
        .with_batch_size(32)
        .with_sample_steps(20)
        .with_seed(5)
}

/// Mean pairwise Euclidean distance between the images (a diversity measure).
fn mean_pairwise(values: &[f32], dim: usize) -> f64 {
    let images: Vec<&[f32]> = values.chunks_exact(dim).collect();
    let mut total = 0.0;
    let mut count = 0;
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            total += images[i].iter().zip(images[j]).map(|(a, b)| ((a - b) * (a - b)) as f64).sum::<f64>().sqrt();
            count += 1;
        }
    }
    total / count as f64
}

/// Trains `steps` steps: the loss must fall below `margin` of where it started (last 50 steps'
/// mean over the first 10's), the samples' distance to their nearest held-out digit below
/// `closer` of the untrained model's, without collapsing.
fn learns_digits(config: DiffusionTrainConfig, steps: usize, margin: f64, closer: f64) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = embedded::mnist_digits().unwrap();
    let reference = data.heldout.clone();
    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let unet = config.unet(1, 0).init(&device);
    let objective = config.objective;
    let mut trainer = DiffusionTrainer::new(config.clone(), unet, data, device);
    let sampling = Sampling::of(&config);
    let before = trainer.denoiser().sample(64, 11, SampleLabels::Balanced, &sampling);
    let started = std::time::Instant::now();
    let losses: Vec<f64> = (0..steps).map(|step| trainer.step(step, true).unwrap().loss).collect();
    let after = trainer.denoiser().sample(64, 11, SampleLabels::Balanced, &sampling);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (first, last) = (mean(&losses[..10]), mean(&losses[steps - 50..]));
    let (d_before, d_after) = (mean_nearest_distance(&before, 784, &reference), mean_nearest_distance(&after, 784, &reference));
    let real: Vec<usize> = (0..64).collect();
    let (real_diversity, diversity) = (mean_pairwise(&reference.batch_values(&real), 784), mean_pairwise(&after, 784));
    eprintln!(
        "{objective}: {steps} steps in {:.1} s; loss {first:.3} -> {last:.3}; nearest held-out {d_before:.2} -> {d_after:.2}; diversity {diversity:.2} (real {real_diversity:.2})",
        started.elapsed().as_secs_f64()
    );
    assert!(last < margin * first, "loss {first} -> {last}");
    assert!(d_after < closer * d_before, "nearest held-out distance {d_before} -> {d_after}");
    assert!(diversity > 0.5 * real_diversity, "diversity {diversity} vs real {real_diversity}");
}

#[test]
fn flow_matching_learns_digits() {
    // Measured (AMD EPYC, 300 steps, 60 s): loss 2.14 → 0.29, distance 39.8 → 14.2.
    learns_digits(tiny(Objective::Flow), 300, 0.3, 0.6);
}

#[test]
fn ddpm_learns_digits() {
    // Measured (AMD EPYC, 300 steps, 72 s): loss 1.12 → 0.11, distance 38.1 → 24.6 (an untrained
    // DDPM's clipped x̂_0 already starts nearer the data than pure noise does).
    learns_digits(tiny(Objective::Ddpm), 300, 0.3, 0.85);
}

/// The guided prediction is (1 + w)·ε(x, c) − w·ε(x, ∅): w = 0 is the conditional prediction
/// alone, w = −1 the unconditional one, w = 2 the formula.
#[test]
fn guidance_is_the_formula() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    device.seed(3);
    let unet = UnetConfig::new(1).with_widths(vec![8, 16]).with_attention(vec![false, true]).with_classes(10).init(&device);
    let denoiser = Denoiser { unet: unet.clone(), objective: Objective::Ddpm, schedule: Schedule::new(ScheduleKind::Cosine, 100), shape: aigc::data::ImageShape::new(1, 8, 8), device: device.clone() };
    let x: Vec<f32> = (0..2 * 64).map(|i| ((i * 37) % 17) as f32 / 8.0 - 1.0).collect();
    let t = [10.0f32, 70.0];
    let forward = |labels: Vec<i64>| {
        let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [2, 1, 8, 8]), &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [2]), &device);
        unet.forward(input, &t, Some(labels)).into_data().try_into_vec::<f32>().unwrap()
    };
    let (conditional, unconditional) = (forward(vec![3, 7]), forward(vec![10, 10]));
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
    assert!(conditional.iter().zip(&unconditional).any(|(a, b)| (a - b).abs() > 1e-3), "the label changes the prediction");
    assert!(close(&denoiser.predict(&x, &t, Some(&[3, 7]), 0.0), &conditional));
    assert!(close(&denoiser.predict(&x, &t, Some(&[3, 7]), -1.0), &unconditional));
    let guided: Vec<f32> = conditional.iter().zip(&unconditional).map(|(c, u)| 3.0 * c - 2.0 * u).collect();
    assert!(close(&denoiser.predict(&x, &t, Some(&[3, 7]), 2.0), &guided));
}

/// A run through the shared capabilities: sample (same seed, same images), strips, interpolation,
/// RePaint keeping the known pixels exactly, the export; an interrupted run resumes to the same
/// grid; bad sampler settings get errors naming them.
#[test]
fn a_diffusion_run_samples_inpaints_resumes_and_checks_its_flags() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let config = |steps| tiny(Objective::Ddpm).with_timesteps(100).with_steps(Some(steps)).with_batch_size(8).with_checkpoint_every(3).with_sample_every(3).with_sample_steps(4);
    let (straight, resumed) = (dir.path().join("a"), dir.path().join("b"));
    train_diffusion(&config(6), &straight, &options(false)).unwrap();
    train_diffusion(&config(3), &resumed, &options(false)).unwrap();
    train_diffusion(&config(6), &resumed, &options(true)).unwrap();
    let (a, b) = (RunDir::new(&straight), RunDir::new(&resumed));
    assert!(std::fs::read(a.final_samples()).unwrap() == std::fs::read(b.final_samples()).unwrap(), "final grids differ after resume");
    let last = |run: &RunDir| run.metrics().read::<DiffusionMetrics>().unwrap().last().map(|m| (m.step, m.loss));
    assert_eq!(last(&a), last(&b));
    for path in [a.final_samples(), a.denoising_strip(), a.loss_plot(), a.export("model"), a.sample_grid(3)] {
        assert!(path.is_file(), "{} missing", path.display());
    }

    let device = Device::flex();
    let request = |sampler: SamplerSettings| ImagesRequest {
        run: straight.clone(),
        n: 6,
        seed: 4,
        class: None,
        interpolate: false,
        strip: false,
        checkpoint: CheckpointChoice::Latest,
        sampler,
    };
    let one = images(&request(SamplerSettings::default()), &device).unwrap();
    let again = images(&request(SamplerSettings::default()), &device).unwrap();
    assert_eq!((one.count(), one.step), (6, 6));
    assert_eq!(one.values, again.values, "the same seed gives the same images");
    let ddpm = images(&request(SamplerSettings { sampler: Some("ddpm".into()), ..Default::default() }), &device).unwrap();
    assert_ne!(ddpm.values, one.values);
    let strip = images(&ImagesRequest { strip: true, ..request(SamplerSettings::default()) }, &device).unwrap();
    assert_eq!((strip.count(), strip.cols), (10, 10), "one strip of ten snapshots");
    let strips = images(&ImagesRequest { interpolate: true, ..request(SamplerSettings::default()) }, &device).unwrap();
    assert_eq!((strips.count(), strips.cols), (10, 10));

    let error = |sampler: SamplerSettings| images(&request(sampler), &device).unwrap_err().to_string();
    assert!(error(SamplerSettings { sample_steps: Some(0), ..Default::default() }).starts_with("sample_steps"));
    let too_many = error(SamplerSettings { sample_steps: Some(101), ..Default::default() });
    assert!(too_many.starts_with("sample_steps") && too_many.contains("100 training steps"), "{too_many}");
    let guidance = error(SamplerSettings { guidance: Some(2.0), ..Default::default() });
    assert!(guidance.starts_with("guidance") && guidance.contains("class-conditional"), "{guidance}");
    assert!(error(SamplerSettings { sampler: Some("heun".into()), ..Default::default() }).contains("does not sample a ddpm model"));
    assert!(error(SamplerSettings { eta: Some(1.5), ..Default::default() }).starts_with("eta"));

    // RePaint (over 4 time points instead of the run's) proposes images whose known pixels are
    // the image's own, exactly.
    let run = families::open(&straight).unwrap();
    let inpainter = run.inpainter(CheckpointChoice::Latest, &device).unwrap();
    assert_eq!(inpainter.method(), "repaint");
    // It takes the samplers' limits: no more time points than the DDPM run's training steps.
    let check = |steps| inpainter.check(&InpaintSettings { sample_steps: Some(steps), ..InpaintSettings::default() }).map_err(|e| e.to_string());
    assert!(check(100).is_ok());
    let too_many = check(101).unwrap_err();
    assert!(too_many.starts_with("sample_steps") && too_many.contains("100 training steps"), "{too_many}");
    assert!(check(0).unwrap_err().starts_with("sample_steps"));
    let data = embedded::mnist_digits().unwrap();
    let image = data.heldout.batch_values(&[0, 1]);
    let masks = vec![Mask::centre(28, 28), Mask::centre(28, 28)];
    let proposal = inpainter.propose(&image, &masks, 2, InpaintSettings { sample_steps: Some(4), ..InpaintSettings::default() });
    assert_eq!(proposal.images.len(), 4 * 784);
    for (k, proposed) in proposal.images.chunks(784).enumerate() {
        let original = &image[(k / 2) * 784..(k / 2 + 1) * 784];
        assert!((0..784).filter(|&p| !masks[0].hole[p]).all(|p| proposed[p] == original[p]), "proposal {k} changed a known pixel");
        assert!((0..784).filter(|&p| masks[0].hole[p]).any(|p| proposed[p] != original[p]));
    }
    // Config errors name the field.
    let bad = train_diffusion(&config(2).with_widths(vec![16, 32, 64, 128]).with_attention(vec![false; 4]), &dir.path().join("c"), &options(false));
    assert!(bad.unwrap_err().to_string().contains("widths"));
}

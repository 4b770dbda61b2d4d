//! Training end to end: the GAN learns digits, resuming is exact, WGAN keeps its constraint.
//! The tests share two cores, so the heavy ones take a lock and run one at a time.

use std::sync::Mutex;

use aigc::burn::module::{Module, ModuleVisitor, Param};
use aigc::burn::tensor::{Device, Tensor};
use aigc::data::{DataSource, embedded};
use aigc::eval::mean_nearest_distance;
use aigc::families::gan::{GanArch, GanLoss, GanMetrics, GanTrainConfig, GanTrainer, build_gan, train as train_gan};
use aigc::run::RunDir;
use aigc::sample::SampleLabels;
use aigc::sample::latent::{fixed_noise, generate_values};
use aigc::train::{TrainOptions, Trainer};

static HEAVY: Mutex<()> = Mutex::new(());

fn options(resume: bool) -> TrainOptions {
    TrainOptions { resume, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }
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

#[test]
fn short_training_makes_samples_digit_like() {
    learns_digits(GanTrainConfig::new().with_seed(3), 600);
}

/// The 28 px DCGAN with the R1 loss (layer-normalised critic, explicit input gradient).
#[test]
fn dcgan_with_r1_penalty_learns_digits() {
    learns_digits(GanTrainConfig::new().with_arch(GanArch::Dcgan).with_batch_size(32).with_seed(3), 150);
}

/// Trains `steps` steps; samples must move towards held-out digits without collapsing.
fn learns_digits(config: GanTrainConfig, steps: usize) {
    let _guard = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let data = embedded::mnist_digits().unwrap();
    let reference = data.heldout.clone();
    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let (g, d) = build_gan(&config, data.train.shape, 10, &device).unwrap();
    let config_name = (config.arch, config.loss.name());
    let mut trainer = GanTrainer::new(config, g, d, data, device);
    let z = fixed_noise(11, 64, 100, &Device::flex());
    let before = generate_values(&trainer.generator, z.clone(), SampleLabels::Balanced);
    let distance_before = mean_nearest_distance(&before, 784, &reference);
    let started = std::time::Instant::now();
    for step in 0..steps {
        trainer.step(step, false);
    }
    eprintln!("{} {}: {steps} steps in {:.1} s", config_name.0, config_name.1, started.elapsed().as_secs_f64());
    let after = generate_values(&trainer.generator, z, SampleLabels::Balanced);
    let distance_after = mean_nearest_distance(&after, 784, &reference);
    let real: Vec<usize> = (0..64).collect();
    let real_diversity = mean_pairwise(&reference.batch_values(&real), 784);
    let fake_diversity = mean_pairwise(&after, 784);
    eprintln!(
        "nearest-real distance {distance_before:.2} -> {distance_after:.2}; diversity fake {fake_diversity:.2} real {real_diversity:.2}"
    );
    // Samples move much closer to real digits ...
    assert!(distance_after < 0.6 * distance_before, "{distance_before} -> {distance_after}");
    // ... without collapsing onto one image.
    assert!(fake_diversity > 0.5 * real_diversity, "diversity {fake_diversity} vs real {real_diversity}");
}

fn small_config(steps: usize) -> GanTrainConfig {
    GanTrainConfig::new()
        .with_steps(Some(steps))
        .with_batch_size(16)
        .with_log_every(2)
        .with_sample_every(4)
        .with_checkpoint_every(4)
        .with_seed(9)
}

/// Every float parameter's values, in visiting order.
struct Collect(Vec<Vec<f32>>);
impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data().try_into_vec::<f32>().unwrap());
    }
}

fn weights_of(run: &RunDir, config: &GanTrainConfig) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let (state, dir) = run.checkpoints(10).latest().unwrap().unwrap();
    let device = Device::flex().autodiff();
    let data = DataSource::parse(&config.data).load(28).unwrap();
    let (g, d) = build_gan(config, data.train.shape, 10, &device).unwrap();
    let mut trainer = GanTrainer::new(config.clone(), g, d, data, device);
    trainer.load(&dir, &state).unwrap();
    let (mut g, mut d) = (Collect(Vec::new()), Collect(Vec::new()));
    trainer.generator.visit(&mut g);
    trainer.discriminator.visit(&mut d);
    (g.0, d.0)
}

#[test]
fn resumed_training_is_bitwise_identical() {
    let _guard = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let resumed = dir.path().join("resumed");
    train_gan(&small_config(12), &straight, &options(false)).unwrap();
    train_gan(&small_config(6), &resumed, &options(false)).unwrap();
    // Starting afresh over a run is refused, naming the field that would resume it.
    let err = train_gan(&small_config(12), &resumed, &options(false)).unwrap_err().to_string();
    assert!(err.starts_with("out: ") && err.contains("`resume`"), "{err}");
    train_gan(&small_config(12), &resumed, &options(true)).unwrap();

    let config = small_config(12);
    let (g1, d1) = weights_of(&RunDir::new(&straight), &config);
    let (g2, d2) = weights_of(&RunDir::new(&resumed), &config);
    assert_eq!(g1.len(), 8);
    assert_eq!(g1, g2, "generator weights differ after resume");
    assert_eq!(d1, d2, "discriminator weights differ after resume");
    // The metric log has one line per logged step, with no duplicates from the resume.
    let steps: Vec<usize> =
        RunDir::new(&resumed).metrics().read::<GanMetrics>().unwrap().iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![2, 4, 6, 8, 10, 12]);
    let a = std::fs::read(RunDir::new(&straight).final_samples()).unwrap();
    let b = std::fs::read(RunDir::new(&resumed).final_samples()).unwrap();
    assert_eq!(a, b, "final sample grids differ");
}

#[test]
fn run_directory_has_everything() {
    let _guard = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outcome = train_gan(&small_config(8), &out, &options(false)).unwrap();
    let run = RunDir::new(&out);
    assert_eq!(outcome.steps, 8);
    for path in [run.config(), run.loss_plot(), run.final_samples(), run.export("generator"), run.sample_grid(0), run.sample_grid(8)] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    let grid = image::open(run.final_samples()).unwrap();
    assert_eq!((grid.width(), grid.height()), (8 * 30 + 2, 8 * 30 + 2));
    let steps: Vec<usize> = run.checkpoints(10).list().unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![4, 8]);
    let manifest = run.manifest().unwrap();
    assert_eq!(manifest.family.as_deref(), Some("gan"));
    assert_eq!(aigc::families::gan::saved_config(&run).unwrap(), small_config(8));
    let safetensors = std::fs::read(run.export("generator")).unwrap();
    assert!(safetensors.len() > 4 * 1_486_352, "generator.safetensors holds the weights");
}

/// Largest absolute critic weight.
struct MaxAbs(f32);
impl ModuleVisitor for MaxAbs {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let max = param.val().abs().max().into_scalar::<f32>();
        self.0 = self.0.max(max);
    }
}

#[test]
fn wgan_critic_respects_weight_clipping() {
    let _guard = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let data = embedded::mnist_digits().unwrap();
    let mut config = GanTrainConfig::new().with_loss(GanLoss::Wgan).with_batch_size(32);
    config.lr = Some(5e-5);
    let device = Device::flex().autodiff();
    device.seed(1);
    let (g, d) = build_gan(&config, data.train.shape, 10, &device).unwrap();
    let mut trainer = GanTrainer::new(config.clone(), g, d, data, device);
    // The critic's estimate E[D(x)] - E[D(G(z))] of the Wasserstein distance (up to scale).
    let gaps: Vec<f64> = (0..30).map(|step| trainer.step(step, true).map(|m| m.d_real - m.d_fake).unwrap()).collect();
    let mut max = MaxAbs(0.0);
    trainer.discriminator.visit(&mut max);
    assert!(max.0 <= 0.01 + 1e-7, "critic weight {} exceeds the clip", max.0);
    // The critic separates real from generated images: it scores real ones higher at every step.
    assert!(gaps.iter().all(|&g| g > 0.0), "{gaps:?}");
    // Each step consumed n_critic batches.
    assert_eq!(trainer.cursor().batches_seen, 30 * config.n_critic);
}

#[test]
fn a_crash_mid_checkpoint_resumes_from_the_previous_one() {
    let _guard = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train_gan(&small_config(4), &out, &options(false)).unwrap();
    let run = RunDir::new(&out);
    let checkpoints = run.checkpoints(3);
    let (mut state, previous) = checkpoints.latest().unwrap().unwrap();
    // The process dies while writing step 8: a truncated generator file, never committed.
    state.step = 8;
    let staged = checkpoints
        .stage(&state, |d| {
            let bytes = std::fs::read(previous.join("generator.bpk")).unwrap();
            std::fs::write(d.join("generator.bpk"), &bytes[..bytes.len() / 3]).unwrap();
            Ok(())
        })
        .unwrap();
    drop(staged);
    let outcome = train_gan(&small_config(8), &out, &options(true)).unwrap();
    assert_eq!(outcome.steps, 8);
    let steps: Vec<usize> = checkpoints.list().unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![4, 8]);
}

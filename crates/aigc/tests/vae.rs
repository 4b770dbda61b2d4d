//! VAEs: the negative ELBO falls during training (training and held-out), the run directory holds
//! reconstructions, samples and an interpolation strip, and a resumed run matches a straight one.

use aigc::burn::tensor::Device;
use aigc::families::vae::{HeldoutElbo, VaeArch, VaeMetrics, VaeTrainConfig, train as train_vae};
use aigc::run::{CheckpointChoice, RunDir};
use aigc::service::images::{ImagesRequest, images};
use aigc::train::TrainOptions;

/// Model initialisation draws from the device's global RNG (seeded per run), so tests that build
/// models run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn options(resume: bool) -> TrainOptions {
    TrainOptions { resume, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }
}

#[test]
fn mlp_vae_elbo_decreases_and_the_run_has_everything() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vae");
    let config = VaeTrainConfig::new().with_steps(Some(300)).with_sample_every(100);
    train_vae(&config, &out, &options(false)).unwrap();
    let run = RunDir::new(&out);
    let train: Vec<VaeMetrics> = run.metrics().read().unwrap();
    let heldout: Vec<HeldoutElbo> = run.metrics().read().unwrap();
    let (first, last) = (train.first().unwrap(), train.last().unwrap());
    eprintln!("train -ELBO {:.1} -> {:.1}; held-out {:?}", first.loss, last.loss, heldout.iter().map(|h| h.heldout_nelbo).collect::<Vec<_>>());
    // 784·ln 2 ≈ 543 nats is the -ELBO of predicting 0.5 everywhere; a trained VAE is far below.
    assert!(first.loss > 200.0 && last.loss < 0.6 * first.loss, "{} -> {}", first.loss, last.loss);
    assert_eq!(heldout.iter().map(|h| h.step).collect::<Vec<_>>(), vec![100, 200, 300]);
    assert!(heldout.windows(2).all(|w| w[1].heldout_nelbo < w[0].heldout_nelbo), "held-out -ELBO falls");
    assert!(heldout.last().unwrap().heldout_nelbo < 170.0 && heldout.last().unwrap().images == 1000);
    for path in [run.final_samples(), run.loss_plot(), run.reconstructions(), run.export("decoder"), run.sample_grid(0)] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    // Sampling and interpolation work on VAE runs like on GAN runs.
    let request = |interpolate| ImagesRequest { run: out.clone(), n: 20, seed: 4, checkpoint: CheckpointChoice::Latest, class: None, interpolate, strip: false, sampler: Default::default() };
    let strip = images(&request(true), &Device::flex()).unwrap();
    assert_eq!(strip.step, 300);
    let image = image::load_from_memory(&strip.grid_png()).unwrap();
    assert_eq!((image.width(), image.height()), (10 * 30 + 2, 2 * 30 + 2), "two strips of ten");
    assert!(strip.animation_gif().unwrap().is_some_and(|gif| gif.starts_with(b"GIF8")));
    let samples = images(&request(false), &Device::flex()).unwrap();
    assert_eq!(samples.count(), 20);
    assert!(samples.animation_gif().unwrap().is_none());
}

#[test]
fn resumed_vae_training_is_identical() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let config = |steps| VaeTrainConfig::new().with_arch(VaeArch::Conv).with_steps(Some(steps)).with_batch_size(32).with_checkpoint_every(3).with_sample_every(3);
    let (straight, resumed) = (dir.path().join("a"), dir.path().join("b"));
    train_vae(&config(6), &straight, &options(false)).unwrap();
    train_vae(&config(3), &resumed, &options(false)).unwrap();
    train_vae(&config(6), &resumed, &options(true)).unwrap();
    let a = std::fs::read(RunDir::new(&straight).final_samples()).unwrap();
    let b = std::fs::read(RunDir::new(&resumed).final_samples()).unwrap();
    assert!(a == b, "final sample grids differ after resume");
    let last = |p: &std::path::Path| RunDir::new(p).metrics().read::<HeldoutElbo>().unwrap().last().unwrap().heldout_nelbo;
    assert_eq!(last(&straight), last(&resumed));
}

//! What the server tests share: a runs folder of every family, made once per test binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aigc::burn::tensor::Device;
use aigc::families::diffusion::{DiffusionTrainConfig, Objective, train as train_diffusion};
use aigc::families::gan::{GanTrainConfig, train as train_gan};
use aigc::families::lm::{TextTrainConfig, train as train_text};
use aigc::train::TrainOptions;
use aigc_serve::{QueueLimits, RunningServer, ServeConfig, spawn};

/// A copy of the fixture runs plus a conditional diffusion run, made once for all tests.
pub fn runs() -> &'static Path {
    static RUNS: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &RUNS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("runs");
            copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../aigc/tests/fixtures/runs-v0"), &root);
            let config = DiffusionTrainConfig::new()
                .with_objective(Objective::Ddpm)
                .with_widths(vec![8, 16])
                .with_attention(vec![false, false])
                .with_conditional(true)
                .with_timesteps(50)
                .with_steps(Some(2))
                .with_batch_size(8)
                .with_sample_every(2)
                .with_checkpoint_every(2)
                .with_sample_steps(4)
                .with_seed(5);
            let options = TrainOptions { resume: false, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None };
            train_diffusion(&config, &root.join("diffusion-cond"), &options).unwrap();
            // A character model of the Tang poems, for the poem endpoint.
            let poems = TextTrainConfig::new()
                .with_data("tang-poems".into())
                .with_steps(150)
                .with_n_layer(1)
                .with_n_head(2)
                .with_n_embd(32)
                .with_block_size(32)
                .with_batch_size(16)
                .with_lr(3e-3)
                .with_eval_every(150)
                .with_eval_batches(2)
                .with_checkpoint_every(150);
            train_text(&poems, &root.join("poems-gpt"), &options).unwrap();
            // An unconditional GAN, which inpaints by latent optimisation (step by step).
            let gan = GanTrainConfig::new().with_image_size(8).with_steps(Some(20)).with_batch_size(16).with_sample_every(20).with_checkpoint_every(20);
            train_gan(&gan, &root.join("gan-uncond"), &options).unwrap();
            (dir, root)
        })
        .1
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() { copy_dir(&path, &target) } else { std::fs::copy(&path, &target).map(|_| ()).unwrap() }
    }
}

pub fn server_with(token: Option<&str>, queues: QueueLimits) -> RunningServer {
    let config = ServeConfig { runs: runs().to_path_buf(), addr: "127.0.0.1:0".parse().unwrap(), token: token.map(str::to_string), device: Device::flex(), queues };
    spawn(&config).unwrap()
}

pub fn server() -> RunningServer {
    server_with(None, QueueLimits::default())
}


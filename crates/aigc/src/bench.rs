//! Speed benchmarks of `../shared/peers/SPEC.md`, printing the same `RESULT` line as the PyTorch
//! reference `torch_ref.py` so both can be run back to back and compared as a ratio.
//!
//! W1: the MLP GAN, batch 64, one iteration = D step + G step with Adam (lr 2e-4, β (0.5, 0.999)).
//! W2: the same loop with the 28 px DCGAN (BatchNorm in G and D, training mode).
//! aigc's loop reuses the D step's G(z) for the G step (one G forward per iteration), so compare
//! with `TORCH_BENCH_GAN_REUSE_FAKE=1 torch_ref.py w1|w2` (equal work).
//! W3: char-LSTM (embedding 65→128, two LSTM layers of 512, linear head), batch 32 × 128
//! characters, cross-entropy and an AdamW step with PyTorch's defaults.
//! W4: nanoGPT's CPU model (vocab 65, context 64, batch 12, 4 layers, 4 heads, 128 dims, untied
//! head, no dropout), cross-entropy and an AdamW step with PyTorch's defaults (lr 1e-3, β (0.9,
//! 0.999), ε 1e-8, weight decay 0.01), on eight cycled batches of random tokens.
//! W5: a DDPM training step of the tiny UNet (2,116,705 parameters) on batch 64 of 28×28×1
//! images: t ~ U{0..999}, ε ~ N(0, I), x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε (linear β), MSE(ε̂, ε), AdamW
//! (lr 2e-4, PyTorch's defaults otherwise), on eight cycled batches of uniform noise images.
//! W4 sampling (`w4-sample`, `w4-sample-uncached`, issue 18): W4's GPT drawing 500-token texts
//! one token at a time (see [`lm_sampling_workload`]); `scripts/torch_w4_sample.py` is nanoGPT's
//! `sample.py` loop on the same model in PyTorch under `torch.no_grad()`.
//! W5 sampling (`w5-sample`, issue 16): the same UNet (random weights, no autodiff) drawing a
//! batch of 250 images by DDIM (η = 0, 50 steps of the linear 1,000-step schedule) through
//! aigc's own sampler; one iteration is one DDIM step (a network evaluation of the batch and the
//! update), so images/s = 250 / (50 × the step time). `scripts/torch_w5_sample.py` is the same
//! loop in PyTorch under `torch.no_grad()`.

use std::time::Instant;

use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::{DataSplits, ImageDataset, ImageShape};
use crate::error::{AigcError, Result};
use crate::families::gan::{CriticNorm, GanArch, GanLoss, GanTrainConfig, GanTrainer, build_gan};
use crate::train::{Trainer, trainable_params};

pub const WARMUP: usize = 5;

/// The framework label of a RESULT line for `--device NAME`: the backend, plus `-v4` when Flex
/// has the AVX-512 kernels built in.
pub fn framework_label(device: &str) -> String {
    let backend = if matches!(device, "cpu" | "flex") { "flex" } else { device };
    let v4 = if cfg!(feature = "x86-v4") && backend == "flex" { "-v4" } else { "" };
    format!("aigc-burn-{backend}{v4}")
}

/// Per-iteration timings of one benchmark.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub framework: String,
    pub workload: String,
    pub times_ms: Vec<f64>,
    pub params: usize,
}

impl BenchResult {
    pub fn median_ms(&self) -> f64 {
        let mut t = self.times_ms.clone();
        t.sort_by(f64::total_cmp);
        let n = t.len();
        if n % 2 == 1 { t[n / 2] } else { (t[n / 2 - 1] + t[n / 2]) / 2.0 }
    }

    pub fn mean_ms(&self) -> f64 {
        self.times_ms.iter().sum::<f64>() / self.times_ms.len() as f64
    }

    /// The line `torch_ref.py` prints.
    pub fn result_line(&self) -> String {
        format!(
            "RESULT {} {} median_ms={:.3} mean_ms={:.3} params={}",
            self.framework,
            self.workload,
            self.median_ms(),
            self.mean_ms(),
            self.params
        )
    }
}

/// Eight pre-generated batches of uniform noise images, cycled (as the reference does).
fn synthetic_images(batch: usize, shape: ImageShape) -> DataSplits {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let pixels: Vec<u8> = (0..8 * batch * shape.len()).map(|_| rng.random()).collect();
    let images = ImageDataset::new(shape, pixels, None, Vec::new());
    DataSplits { name: "synthetic".into(), train: images.clone(), heldout: images }
}

/// Runs a GAN workload (`w1`: the MLP GAN, `w2`: DCGAN-28) for `steps` timed iterations after
/// [`WARMUP`].
pub fn gan_workload(workload: &str, steps: usize, device: &Device, framework: &str) -> Result<BenchResult> {
    if steps == 0 {
        return Err(AigcError::invalid("steps", "must be at least 1"));
    }
    let arch = match workload {
        "w1" => GanArch::Mlp,
        "w2" => GanArch::Dcgan,
        other => return Err(AigcError::invalid("workload", format!("unknown workload {other:?}; expected w1, w2, w3, w4, w4-sample, w4-sample-uncached, w5 or w5-sample"))),
    };
    // The reference does plain BCE: no R1 penalty, no weight averaging, BatchNorm in the critic.
    let config = GanTrainConfig::new()
        .with_arch(arch)
        .with_loss(GanLoss::Bce)
        .with_batch_size(64)
        .with_ema_decay(0.0)
        .with_label_smoothing(0.0)
        .with_critic_norm(Some(CriticNorm::Batch));
    let shape = ImageShape::new(1, 28, 28);
    let data = synthetic_images(config.batch_size, shape);
    let device = device.clone().autodiff();
    device.seed(0);
    let (generator, discriminator) = build_gan(&config, shape, 0, &device)?;
    let params = trainable_params(&generator) + trainable_params(&discriminator);
    let mut trainer = GanTrainer::new(config, generator, discriminator, data, device.clone());
    let mut times_ms = Vec::with_capacity(steps);
    for i in 0..WARMUP + steps {
        let start = Instant::now();
        trainer.step(i, false);
        // Make sure queued work is done before the clock stops (a no-op on eager CPU backends).
        let _ = device.sync();
        if i >= WARMUP {
            times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(BenchResult { framework: framework.into(), workload: workload.into(), times_ms, params })
}

/// Runs W3 (`w3`) or W4 (`w4`) for `steps` timed iterations after [`WARMUP`].
pub fn lm_workload(workload: &str, steps: usize, device: &Device, framework: &str) -> Result<BenchResult> {
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::tensor::{Int, Tensor, TensorData};

    use crate::families::lm::{GptConfig, LanguageModel, RnnLmConfig, cross_entropy};

    if steps == 0 {
        return Err(AigcError::invalid("steps", "must be at least 1"));
    }
    let device = device.clone().autodiff();
    device.seed(0);
    let vocab = 65;
    let (block, batch, mut model) = match workload {
        "w3" => (128, 32, LanguageModel::Rnn(RnnLmConfig::new(vocab).with_n_embd(128).with_hidden(512).with_n_layer(2).init(&device))),
        "w4" => (64, 12, LanguageModel::Gpt(GptConfig::new(vocab).with_tie_weights(false).init(&device))),
        other => return Err(AigcError::invalid("workload", format!("unknown language workload {other:?}; expected w3 or w4"))),
    };
    let params = trainable_params(&model);
    let mut optim = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(0.01).init();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let pool: Vec<(Tensor<2, Int>, Tensor<2, Int>)> = (0..8)
        .map(|_| {
            let ids: Vec<i64> = (0..batch * (block + 1)).map(|_| rng.random_range(0..vocab as i64)).collect();
            let seq = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, block + 1]), &device);
            (seq.clone().narrow(1, 0, block), seq.narrow(1, 1, block))
        })
        .collect();
    let mut times_ms = Vec::with_capacity(steps);
    for i in 0..WARMUP + steps {
        let start = Instant::now();
        let (x, y) = pool[i % pool.len()].clone();
        let loss = cross_entropy(model.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let _ = device.sync();
        if i >= WARMUP {
            times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(BenchResult { framework: framework.into(), workload: workload.into(), times_ms, params })
}

/// Tokens of one `w4-sample` draw: nanoGPT's `sample.py` default (`max_new_tokens = 500`).
pub const DRAW_TOKENS: usize = 500;

/// Runs W4's sampling (`w4-sample`, issue 18): W4's GPT (random weights, no autodiff) drawing
/// [`DRAW_TOKENS`] tokens at temperature 1 after a one-token prompt, each token one iteration,
/// through aigc's sampler (`uncached`: without the key/value cache, every token re-reading the
/// cropped window as nanoGPT's `sample.py` does). The window fills after 63 tokens; from there
/// on it slides and the cache gives way (see `GptSession`), so both paths cost the same per
/// token. `steps` timed tokens follow [`WARMUP`] (as many whole draws as that takes).
///
/// Also returns the mean milliseconds per token while the window fills (the first 63 tokens of
/// each draw) and once it slides (the rest), over the timed tokens.
pub fn lm_sampling_workload(steps: usize, uncached: bool, device: &Device, framework: &str) -> Result<(BenchResult, [f64; 2])> {
    use crate::families::lm::{GptConfig, LanguageModel, LmSampler};
    use crate::sample::text::{NextTokenModel, SamplingConfig, Uncached, generate};

    if steps == 0 {
        return Err(AigcError::invalid("steps", "must be at least 1"));
    }
    device.seed(0);
    let model = LanguageModel::Gpt(GptConfig::new(65).with_tie_weights(false).init(device));
    let params = burn::module::Module::num_params(&model);
    let sampler = LmSampler { model, device: device.clone() };
    let reference = Uncached(&sampler);
    let model: &dyn NextTokenModel = if uncached { &reference } else { &sampler };
    // (position in the draw, milliseconds) of each token.
    let mut intervals: Vec<(usize, f64)> = Vec::with_capacity(WARMUP + steps);
    let mut seed = 0;
    while intervals.len() < WARMUP + steps {
        let mut last = Instant::now();
        let mut position = 0;
        generate(model, &[0], DRAW_TOKENS, SamplingConfig::default(), seed, |_| {
            let now = Instant::now();
            intervals.push((position, (now - last).as_secs_f64() * 1e3));
            position += 1;
            last = now;
            std::ops::ControlFlow::Continue(())
        });
        seed += 1;
    }
    let timed: Vec<(usize, f64)> = intervals.into_iter().skip(WARMUP).take(steps).collect();
    // Tokens drawn before the window is full (the prompt holds one).
    let window = sampler.model.context_window().expect("GPT has a window") - 1;
    let mean = |fill: bool| {
        let part: Vec<f64> = timed.iter().filter(|(p, _)| (*p < window) == fill).map(|(_, ms)| *ms).collect();
        part.iter().sum::<f64>() / part.len().max(1) as f64
    };
    let times_ms = timed.iter().map(|(_, ms)| *ms).collect();
    let workload = if uncached { "w4-sample-uncached" } else { "w4-sample" };
    Ok((BenchResult { framework: framework.into(), workload: workload.into(), times_ms, params }, [mean(true), mean(false)]))
}

/// Runs W5 (`w5`) for `steps` timed iterations after [`WARMUP`].
pub fn diffusion_workload(steps: usize, device: &Device, framework: &str) -> Result<BenchResult> {
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::tensor::{Tensor, TensorData};
    use rand_distr::{Distribution, StandardNormal};

    use crate::families::diffusion::{Schedule, ScheduleKind, UnetConfig};

    if steps == 0 {
        return Err(AigcError::invalid("steps", "must be at least 1"));
    }
    let device = device.clone().autodiff();
    device.seed(0);
    let (batch, side, timesteps) = (64usize, 28usize, 1000usize);
    let mut model = UnetConfig::new(1).init(&device);
    let params = trainable_params(&model);
    let mut optim = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(0.01).init();
    let schedule = Schedule::new(ScheduleKind::Linear, timesteps);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let dim = side * side;
    let pool: Vec<Vec<f32>> = (0..8).map(|_| (0..batch * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect();
    let mut times_ms = Vec::with_capacity(steps);
    for i in 0..WARMUP + steps {
        let start = Instant::now();
        let x0 = &pool[i % pool.len()];
        let t: Vec<usize> = (0..batch).map(|_| rng.random_range(0..timesteps)).collect();
        let eps: Vec<f32> = (0..batch * dim).map(|_| StandardNormal.sample(&mut rng)).collect();
        let xt: Vec<f32> = (0..batch).flat_map(|b| schedule.noised(t[b], &x0[b * dim..(b + 1) * dim], &eps[b * dim..(b + 1) * dim])).collect();
        let xt = Tensor::<4>::from_data(TensorData::new(xt, [batch, 1, side, side]), &device);
        let eps = Tensor::<4>::from_data(TensorData::new(eps, [batch, 1, side, side]), &device);
        let times: Vec<f32> = t.iter().map(|&t| t as f32).collect();
        let loss = (model.forward(xt, &times, None) - eps).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(2e-4, model, grads);
        let _ = device.sync();
        if i >= WARMUP {
            times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(BenchResult { framework: framework.into(), workload: "w5".into(), times_ms, params })
}

/// Images per DDIM sampling batch of `w5-sample`.
pub const SAMPLE_BATCH: usize = 250;
/// DDIM steps of one `w5-sample` draw.
pub const SAMPLE_STEPS: usize = 50;

/// Runs W5's sampling (`w5-sample`): 50-step DDIM draws of 250 images, timing `steps` DDIM steps
/// after [`WARMUP`] (as many whole draws as that takes).
pub fn diffusion_sampling_workload(steps: usize, device: &Device, framework: &str) -> Result<BenchResult> {
    use crate::data::ImageShape;
    use crate::families::diffusion::{Denoiser, Objective, SamplerKind, Sampling, Schedule, ScheduleKind, UnetConfig};
    use crate::run::rng::NoiseRng;

    if steps == 0 {
        return Err(AigcError::invalid("steps", "must be at least 1"));
    }
    device.seed(0);
    let shape = ImageShape { channels: 1, height: 28, width: 28 };
    let unet = UnetConfig::new(1).init(device);
    // Without autodiff no parameter asks for gradients: count them all (the UNet has no others).
    let params = burn::module::Module::num_params(&unet);
    let denoiser = Denoiser { unet, objective: Objective::Ddpm, schedule: Schedule::new(ScheduleKind::Linear, 1000), shape, device: device.clone() };
    let sampling = Sampling { sampler: SamplerKind::Ddim, steps: SAMPLE_STEPS, eta: 0.0, guidance: 0.0, progress: false, control: None };
    let mut noise = NoiseRng::new(0);
    let mut intervals_ms = Vec::with_capacity(WARMUP + steps);
    while intervals_ms.len() < WARMUP + steps {
        let start = noise.normal(SAMPLE_BATCH * shape.len());
        let mut marks = Vec::with_capacity(SAMPLE_STEPS + 1);
        let images = denoiser.denoise(start, None, &sampling, &mut noise, &mut |_| marks.push(Instant::now()));
        marks.push(Instant::now());
        std::hint::black_box(images);
        intervals_ms.extend(marks.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() * 1e3));
    }
    let times_ms: Vec<f64> = intervals_ms.into_iter().skip(WARMUP).take(steps).collect();
    Ok(BenchResult { framework: framework.into(), workload: "w5-sample".into(), times_ms, params })
}

//! Command-line arguments.

use std::path::PathBuf;

use aigc::AigcError;
use aigc::families::diffusion::{DiffusionTrainConfig, Objective, SamplerKind, ScheduleKind};
use aigc::families::gan::{CriticNorm, GanArch, GanLoss, GanTrainConfig};
use aigc::data::tokenizer::TokenizerKind;
use aigc::families::lm::{LmArch, TextTrainConfig};
use aigc::families::music::{MelodyArch, MusicTrainConfig};
use aigc::families::vae::{VaeArch, VaeTrainConfig};
use clap::{Args, Parser, Subcommand};

/// A named choice of the library (`parse` gives its message), as the config field `field`.
fn choice<T>(field: &str, parsed: Result<T, String>) -> aigc::Result<T> {
    parsed.map_err(|problem| AigcError::invalid(field, problem))
}

#[derive(Parser, Debug)]
#[command(name = "aigc", version, about = "A generative-AI workbench: train and run GANs, VAEs, diffusion and flow models, language and melody models on your own images, text and music")]
pub struct Cli {
    /// Compute device: cpu (Flex), wgpu or cuda (the latter two need the cargo feature).
    #[arg(long, global = true, default_value = "cpu", help_heading = "Global options")]
    pub device: String,
    /// More log output.
    #[arg(long, short, global = true, help_heading = "Global options")]
    pub verbose: bool,
    /// Read data and weight files up to this many GiB (default 2 for data, 4 for weights).
    #[arg(long, global = true, help_heading = "Global options")]
    pub file_limit_gib: Option<u64>,
    /// Let a training job use this many GiB (default: what the machine has available).
    #[arg(long, global = true, help_heading = "Global options")]
    pub memory_limit_gib: Option<u64>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train the article's MLP GAN on the embedded digits (a few minutes on a laptop CPU).
    Demo {
        /// Folder the run directory is created in.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Train a model.
    Train {
        #[command(subcommand)]
        model: TrainCommand,
    },
    /// Generate images from a trained run.
    Sample(SampleArgs),
    /// List the runs under a folder.
    Runs {
        /// The folder whose run directories are listed.
        #[arg(default_value = "runs")]
        dir: PathBuf,
    },
    /// The `aigc eval` results of every run under a folder, as a Markdown table.
    Report {
        /// The folder whose runs' eval.json are tabled.
        #[arg(default_value = "runs")]
        dir: PathBuf,
    },
    /// Measure a run's samples: FID, KID, precision/recall, IS, class coverage, memorisation.
    Eval(EvalArgs),
    /// Repair an image: fill a masked region with a trained GAN (latent optimisation) or VAE.
    Inpaint(InpaintArgs),
    /// Style transfer (Gatys et al.) or, without --content, texture synthesis; no download needed.
    Style(StyleArgs),
    /// Feature networks for evaluation.
    Features {
        #[command(subcommand)]
        command: FeaturesCommand,
    },
    /// Time a reference workload (prints the RESULT line of ../shared/peers/torch_ref.py).
    Bench(BenchArgs),
    /// Generate text from a trained language model, streaming it to the terminal.
    Generate(GenerateArgs),
    /// Write classical Chinese poems of a fixed form with a model trained on tang-poems.
    Poem(PoemArgs),
    /// Talk with a character of a play-formatted corpus (e.g. shakespeare), as another character.
    Chat(ChatArgs),
    /// Compose a tune with a trained melody model: writes OUT.abc, OUT.mid and OUT.wav.
    Compose(ComposeArgs),
    /// Serve the HTTP API (and the studio) for every run under a folder.
    Serve {
        /// The folder whose run directories are served.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Address to listen on; off loopback (e.g. 0.0.0.0:7860) it needs --token.
        #[arg(long, default_value = "127.0.0.1:7860")]
        addr: std::net::SocketAddr,
        /// A secret every API request must send as `Authorization: Bearer TOKEN`.
        #[arg(long)]
        token: Option<String>,
    },
    /// The data sets aigc knows by name: embedded, installed, and how to install the rest.
    Data,
    /// What a run is (family, architecture, data, steps, metrics, config) and the commands that fit it.
    Info {
        /// The run directory.
        run: PathBuf,
    },
    /// Write a run's networks in PyTorch's layout: NAME.safetensors and a NAME.json sidecar
    /// (python/aigc_torch.py loads them into torch.nn modules).
    Export {
        /// The run directory.
        #[arg(long)]
        run: PathBuf,
        /// `latest`, `best` (the lowest validation score) or a checkpoint step.
        #[arg(long, default_value = "latest")]
        checkpoint: String,
        /// Folder to write into [default: the run directory].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// A generative adversarial network.
    Gan(GanArgs),
    /// A variational autoencoder.
    Vae(VaeArgs),
    /// A diffusion (DDPM) or flow-matching model: a denoising UNet.
    Diffusion(DiffusionArgs),
    /// A language model (GPT, LSTM, GRU) of characters or BPE tokens on a text corpus.
    Text(TrainTextArgs),
    /// A melody model (--arch lstm|gpt|gru, or the markov baseline) on folk tunes (ABC, MIDI).
    Music(MusicArgs),
}

/// Flags every training command has.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The networks (the choices are each model's own).
    #[arg(long)]
    pub arch: Option<String>,
    /// Class-conditional model (labelled data): `aigc sample --class K` then picks the class.
    #[arg(long)]
    pub conditional: bool,
    /// mnist (embedded digits), fashion-mnist (Debian package), faces-100 (embedded LFW faces), or
    /// PATH (image folder, IDX folder or file); `aigc data` lists them.
    #[arg(long)]
    pub data: Option<String>,
    /// Side of the square images the data is resized to.
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Optimisation steps (a GAN: generator updates).
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<usize>,
    /// Passes over the training set (instead of --steps).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Seed of the initial weights, the noise and the data order (the same seed repeats a run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Steps between sample grids (a VAE also evaluates its held-out -ELBO there).
    #[arg(long)]
    pub sample_every: Option<usize>,
    /// Steps between checkpoints.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where a training run goes and how it starts (every `train` command).
#[derive(Args, Debug)]
pub struct OutputArgs {
    /// Run directory (default runs/MODEL-YYYYMMDD-HHMMSS).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Start a new run even in a folder that holds other files (they may be overwritten).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// A TOML file with any of the config fields; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the config this command would train with (all fields, as config.toml holds them) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Copies the flags of [`RunArgs`] that were given into a config with the same field names
/// (`arch` and `lr` are left to the caller: their types differ).
macro_rules! apply_run_args {
    ($run:expr, $config:expr) => {{
        let (run, config) = ($run, $config);
        if run.conditional {
            config.conditional = true;
        }
        if let Some(v) = &run.data {
            config.data = v.clone();
        }
        if let Some(v) = run.image_size {
            config.image_size = v;
        }
        if let Some(v) = run.steps {
            config.steps = Some(v);
            config.epochs = None;
        }
        if let Some(v) = run.epochs {
            config.epochs = Some(v);
            config.steps = None;
        }
        if let Some(v) = run.batch_size {
            config.batch_size = v;
        }
        if let Some(v) = run.seed {
            config.seed = v;
        }
        if let Some(v) = run.sample_every {
            config.sample_every = v;
        }
        if let Some(v) = run.checkpoint_every {
            config.checkpoint_every = v;
        }
    }};
}

#[derive(Args, Debug)]
pub struct GanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// r1 (non-saturating + R1 penalty), bce (plain non-saturating), hinge, wgan (weight
    /// clipping, RMSProp, n_critic) or wgan-gp (gradient penalty, Adam, n_critic).
    #[arg(long)]
    pub loss: Option<String>,
    /// R1 gradient-penalty weight on real images (any loss may add it).
    #[arg(long, allow_negative_numbers = true)]
    pub r1_gamma: Option<f64>,
    /// DiffAugment (colour, translation, cutout) on real and generated images: for small data sets.
    #[arg(long)]
    pub diffaugment: bool,
    /// Decay of the generator's weight average used for samples (0 = off).
    #[arg(long)]
    pub ema: Option<f64>,
    /// dcgan critic normalisation: batch, layer or none.
    #[arg(long)]
    pub critic_norm: Option<String>,
    /// Steps between evaluations (KID/FID/precision/recall into metrics.jsonl; keeps best/).
    #[arg(long)]
    pub eval_every: Option<usize>,
}

impl GanArgs {
    /// Overrides the config's fields with the flags given.
    pub fn apply(&self, config: &mut GanTrainConfig) -> aigc::Result<()> {
        apply_run_args!(&self.run, &mut *config);
        if let Some(v) = &self.run.arch {
            config.arch = choice("arch", GanArch::parse(v))?;
        }
        if self.run.lr.is_some() {
            config.lr = self.run.lr;
        }
        if let Some(v) = &self.loss {
            config.loss = GanLoss::parse(v)
                .ok_or_else(|| AigcError::invalid("loss", format!("unknown loss {v:?}; expected {}", GanLoss::NAMES)))?;
        }
        if self.r1_gamma.is_some() {
            config.r1_gamma = self.r1_gamma;
        }
        if self.diffaugment {
            config.diffaugment = true;
        }
        if let Some(v) = self.ema {
            config.ema_decay = v;
        }
        if let Some(v) = &self.critic_norm {
            config.critic_norm = Some(
                CriticNorm::parse(v)
                    .ok_or_else(|| AigcError::invalid("critic_norm", format!("unknown normalisation {v:?}; expected batch, layer or none")))?,
            );
        }
        if self.eval_every.is_some() {
            config.eval_every = self.eval_every;
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct VaeArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Dimension of z.
    #[arg(long)]
    pub latent_dim: Option<usize>,
}

impl VaeArgs {
    /// Overrides the config's fields with the flags given.
    pub fn apply(&self, config: &mut VaeTrainConfig) -> aigc::Result<()> {
        apply_run_args!(&self.run, &mut *config);
        if let Some(v) = &self.run.arch {
            config.arch = choice("arch", VaeArch::parse(v))?;
        }
        if let Some(v) = self.run.lr {
            config.lr = v;
        }
        if let Some(v) = self.latent_dim {
            config.latent_dim = v;
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct DiffusionArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// ddpm (predict the noise) or flow (flow matching: predict the velocity).
    #[arg(long)]
    pub objective: Option<String>,
    /// The DDPM noise schedule: linear or cosine.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Steps T of the DDPM noising chain.
    #[arg(long)]
    pub timesteps: Option<usize>,
    /// The UNet's channels per level, finest first (e.g. 32,64,128; each level halves the side).
    #[arg(long, value_delimiter = ',')]
    pub widths: Option<Vec<usize>>,
    /// Levels with self-attention, as 0/1 per level (e.g. 0,0,1).
    #[arg(long, value_delimiter = ',')]
    pub attention: Option<Vec<u8>>,
    /// Decay of the weight average used for sampling (0 = off).
    #[arg(long)]
    pub ema: Option<f64>,
    /// Learning-rate warm-up steps.
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    /// Share of training steps without the label (conditional runs; for classifier-free guidance).
    #[arg(long)]
    pub label_dropout: Option<f64>,
    #[command(flatten)]
    pub sampling: SamplerArgs,
    /// Steps between evaluations (KID/FID/precision/recall into metrics.jsonl; keeps best/).
    #[arg(long)]
    pub eval_every: Option<usize>,
}

impl DiffusionArgs {
    /// Overrides the config's fields with the flags given.
    pub fn apply(&self, config: &mut DiffusionTrainConfig) -> aigc::Result<()> {
        apply_run_args!(&self.run, &mut *config);
        if self.run.arch.is_some() {
            return Err(AigcError::invalid("arch", "a diffusion model is a UNet: set --widths and --attention instead"));
        }
        if let Some(v) = self.run.lr {
            config.lr = v;
        }
        if let Some(v) = &self.objective {
            config.objective = choice("objective", Objective::parse(v))?;
        }
        if let Some(v) = &self.schedule {
            config.schedule = choice("schedule", ScheduleKind::parse(v))?;
        }
        if let Some(v) = self.timesteps {
            config.timesteps = v;
        }
        if let Some(v) = &self.widths {
            config.widths = v.clone();
            if self.attention.is_none() {
                // The default: attention at the lowest level only.
                config.attention = (0..v.len()).map(|i| i + 1 == v.len()).collect();
            }
        }
        if let Some(v) = &self.attention {
            if let Some(bad) = v.iter().find(|&&a| a > 1) {
                return Err(AigcError::invalid("attention", format!("expected 0 or 1 per level, got {bad}")));
            }
            config.attention = v.iter().map(|&a| a == 1).collect();
        }
        if let Some(v) = self.ema {
            config.ema_decay = v;
        }
        if let Some(v) = self.warmup_steps {
            config.warmup_steps = v;
        }
        if let Some(v) = self.label_dropout {
            config.label_dropout = v;
        }
        if let Some(v) = &self.sampling.sampler {
            config.sampler = Some(choice("sampler", SamplerKind::parse(v))?);
        }
        if let Some(v) = self.sampling.sample_steps {
            config.sample_steps = v;
        }
        if let Some(v) = self.sampling.eta {
            config.eta = v;
        }
        if let Some(v) = self.sampling.guidance {
            config.guidance = v;
        }
        if self.eval_every.is_some() {
            config.eval_every = self.eval_every;
        }
        Ok(())
    }
}

/// How a diffusion model's sampler draws (training grids, `sample`, `eval`).
#[derive(Args, Debug, Default)]
pub struct SamplerArgs {
    /// Diffusion runs: ddpm or ddim (ddpm objective), euler or heun (flow objective).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Diffusion runs: network evaluations from noise to image (DDIM and flow samplers).
    #[arg(long)]
    pub sample_steps: Option<usize>,
    /// Diffusion runs: DDIM's stochasticity η in [0, 1] (0: deterministic).
    #[arg(long)]
    pub eta: Option<f64>,
    /// Conditional diffusion runs: classifier-free guidance weight w, ε̂ = (1+w)·ε(x,c) − w·ε(x).
    #[arg(long, allow_negative_numbers = true)]
    pub guidance: Option<f64>,
}

impl SamplerArgs {
    pub fn settings(&self, progress: bool) -> aigc::sample::SamplerSettings {
        aigc::sample::SamplerSettings { sampler: self.sampler.clone(), sample_steps: self.sample_steps, eta: self.eta, guidance: self.guidance, progress, control: None }
    }
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// The run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Noise seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Grid PNG to write (default RUN/sample-seedS.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Enlarge the grid (and each --individual image) this many times (nearest neighbour).
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Also write each image as its own PNG into this folder.
    #[arg(long)]
    pub individual: Option<PathBuf>,
    /// `latest`, `best` (kept by --eval-every) or a checkpoint step.
    #[arg(long, default_value = "latest")]
    pub checkpoint: String,
    /// Class to generate (conditional runs; without it, one row per class).
    #[arg(long)]
    pub class: Option<usize>,
    /// Latent interpolation strips (10 steps each; between two seeds, or for a VAE between two
    /// held-out images) as a grid plus an animated GIF of the first strip.
    #[arg(long, conflicts_with = "strip")]
    pub interpolate: bool,
    /// Diffusion runs: denoising strips, x_t at 10 points from noise to the image.
    #[arg(long)]
    pub strip: bool,
    #[command(flatten)]
    pub sampling: SamplerArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Workload of ../shared/peers/SPEC.md: w1 (MLP GAN), w2 (DCGAN-28), w3 (char-LSTM), w4 (baby GPT)
    /// or w5 (tiny-UNet DDPM); w5-sample times that UNet's DDIM sampling (one iteration = one of
    /// 50 steps on a batch of 250); w4-sample (and w4-sample-uncached, without the key/value cache)
    /// times the baby GPT writing 500-token texts (one iteration = one token).
    pub workload: String,
    /// Timed iterations (after 5 warm-up iterations).
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub what: Option<EvalCommand>,
    /// The run directory (or compare two folders with --real and --fake, or --baseline).
    #[arg(long, required_unless_present_any = ["real", "baseline"], conflicts_with_all = ["real", "fake", "baseline"])]
    pub run: Option<PathBuf>,
    /// Measure a stand-in generator instead of a run: `real` (training images) or `noise`
    /// (uniform), against --data; writes OUT/eval.json (--out, default runs/baseline-KIND).
    #[arg(long, conflicts_with_all = ["real", "fake"])]
    pub baseline: Option<String>,
    /// Data set of --baseline.
    #[arg(long, default_value = "mnist", requires = "baseline")]
    pub data: String,
    /// Image size of a --baseline image folder, and of --real/--fake with `--features real` (IDX data keeps its own size).
    #[arg(long, default_value_t = 28)]
    pub image_size: u32,
    /// Folder of real images (with --fake).
    #[arg(long, requires = "fake")]
    pub real: Option<PathBuf>,
    /// Folder of generated images (with --real).
    #[arg(long, requires = "real")]
    pub fake: Option<PathBuf>,
    /// Feature network of --real/--fake: `real` (trained on the real folder on first use: a classifier when it has one subfolder per class, else a self-supervised encoder) or a data set whose network to use.
    #[arg(long, default_value = "real")]
    pub features: String,
    /// Where the folder comparison's JSON goes (default eval-folders.json); with --baseline, the
    /// folder its eval.json goes in.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Generated samples to measure (default 5000 images; 30 tunes for a music run; 20 texts of 500 characters for a text run).
    #[arg(long)]
    pub n: Option<usize>,
    /// `latest`, `best` (kept by --eval-every) or a checkpoint step.
    #[arg(long, default_value = "latest")]
    pub checkpoint: String,
    /// Noise seed of the generated samples (and KID's subsets).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub sampling: SamplerArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Inpainting on held-out images: the run's method (latent optimisation for a GAN, the
    /// encoder for a VAE) against mean fill and harmonic fill: PSNR and SSIM in the hole, KID.
    Inpaint(InpaintEvalArgs),
}

#[derive(Args, Debug)]
pub struct InpaintEvalArgs {
    /// A GAN, VAE or diffusion run (unconditional).
    #[arg(long)]
    pub run: PathBuf,
    /// Mask families: centre, random, half (comma-separated).
    #[arg(long, default_value = "centre,random,half")]
    pub masks: String,
    /// Held-out images to complete (the rest are KID's real reference).
    #[arg(long, default_value_t = 300)]
    pub n: usize,
    /// Latent optimisation steps.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Diffusion runs: RePaint's time points (default: the run's sample_steps), each resampled 5 times.
    #[arg(long)]
    pub sample_steps: Option<usize>,
    /// Seed of the random masks and of the latent starting points.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct StyleArgs {
    /// The photo to restyle: astronaut, chelsea, coffee (embedded) or an image file. Without it,
    /// aigc synthesises a texture like --style.
    #[arg(long)]
    pub content: Option<String>,
    /// The style image: brick, grass, gravel, … (embedded) or an image file.
    #[arg(long)]
    pub style: String,
    /// Longer side of the images, in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Adam steps on the image's pixels.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Weight of the (relative) content loss.
    #[arg(long, default_value_t = 0.2)]
    pub content_weight: f64,
    /// Weight of the (relative) style loss.
    #[arg(long, default_value_t = 1.0)]
    pub style_weight: f64,
    /// Adam's learning rate on the pixels (values in [0, 1]).
    #[arg(long, default_value_t = 0.02)]
    pub lr: f64,
    /// random (multi-scale random filters, no download) or vgg19 (needs --weights).
    #[arg(long, default_value = "random")]
    pub features: String,
    /// VGG-19 weights as safetensors (torchvision names: features.N.weight/bias;
    /// scripts/vgg19_to_safetensors.py converts torchvision's vgg19-dcbb9e9d.pth).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Seed of the random filters and of the texture's starting noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the image every N steps (OUT with the step number).
    #[arg(long)]
    pub every: Option<usize>,
    /// The image to write (PNG).
    #[arg(long, default_value = "style.png")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct InpaintArgs {
    /// A GAN run (latent optimisation), a VAE run (its encoder) or a diffusion run (RePaint), unconditional.
    #[arg(long)]
    pub run: PathBuf,
    /// The image to repair (the model's size and channels).
    #[arg(long, required_unless_present = "heldout", conflicts_with = "heldout")]
    pub image: Option<PathBuf>,
    /// Or: held-out image number K of the run's data set.
    #[arg(long)]
    pub heldout: Option<usize>,
    /// Mask image: white marks the hole (same size as the image).
    #[arg(long, conflicts_with = "mask_rect")]
    pub mask: Option<PathBuf>,
    /// Or a rectangular hole x,y,w,h (default: the centre square of half the side).
    #[arg(long)]
    pub mask_rect: Option<String>,
    /// latent (GAN runs), vae (VAE runs) or repaint (diffusion runs); default: the run's.
    #[arg(long)]
    pub method: Option<String>,
    /// Completions per image.
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
    /// Latent optimisation steps.
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    /// Diffusion runs: RePaint's time points (default: the run's sample_steps), each resampled 5 times.
    #[arg(long)]
    pub sample_steps: Option<usize>,
    /// Seed of the latent starting points (or the VAE's posterior draws).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The result grid: masked input, harmonic fill, then the completions.
    #[arg(long, default_value = "inpaint.png")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum FeaturesCommand {
    /// Train (or load from the cache) the CNN feature network of a labelled data set.
    Train {
        /// mnist, fashion-mnist, or a labelled PATH.
        #[arg(long, default_value = "mnist")]
        data: String,
        /// Side of the square images an image folder is resized to.
        #[arg(long, default_value_t = 28)]
        image_size: u32,
        /// Train again even if a cached network exists.
        #[arg(long)]
        retrain: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Args, Debug)]
pub struct TextArgs {
    /// The network.
    #[arg(long)]
    pub arch: Option<String>,
    /// The training corpus: an embedded one or PATH (`aigc data` lists them).
    #[arg(long)]
    pub data: Option<String>,
    /// Optimisation steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Sequences per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Context window in tokens (GPT), training sequence length (LSTM, GRU).
    #[arg(long)]
    pub block_size: Option<usize>,
    /// Layers (transformer blocks, or recurrent layers).
    #[arg(long)]
    pub n_layer: Option<usize>,
    /// Attention heads per block (GPT).
    #[arg(long)]
    pub n_head: Option<usize>,
    /// Embedding width (GPT: the model width).
    #[arg(long)]
    pub n_embd: Option<usize>,
    /// Hidden units per LSTM/GRU layer.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Dropout probability between layers (0 = off).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Peak learning rate (after warm-up; cosine-decayed to a tenth).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the initial weights and of the batches (the same seed repeats a run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Steps between train/validation loss estimates (the best keeps best/).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Steps between checkpoints.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl TextArgs {
    pub fn apply(&self, config: &mut TextTrainConfig) -> aigc::Result<()> {
        if let Some(v) = &self.arch {
            config.arch = choice("arch", LmArch::parse(v))?;
        }
        self.apply_settings(config);
        Ok(())
    }

    /// Every flag but `--arch`.
    fn apply_settings(&self, config: &mut TextTrainConfig) {
        let set = |field: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        if let Some(v) = &self.data {
            config.data = v.clone();
        }
        set(&mut config.steps, self.steps);
        set(&mut config.batch_size, self.batch_size);
        set(&mut config.block_size, self.block_size);
        set(&mut config.n_layer, self.n_layer);
        set(&mut config.n_head, self.n_head);
        set(&mut config.n_embd, self.n_embd);
        set(&mut config.hidden, self.hidden);
        set(&mut config.eval_every, self.eval_every);
        set(&mut config.checkpoint_every, self.checkpoint_every);
        if let Some(v) = self.dropout {
            config.dropout = v;
        }
        if let Some(v) = self.lr {
            config.min_lr = config.min_lr * v / config.lr;
            config.lr = v;
        }
        if let Some(v) = self.seed {
            config.seed = v;
        }
    }
}

/// `aigc train text`: the language-model flags and the tokeniser.
#[derive(Args, Debug)]
pub struct TrainTextArgs {
    #[command(flatten)]
    pub lm: TextArgs,
    /// char (a token per character) or bpe (byte-level BPE trained on the training split, saved
    /// as the run's tokenizer.json).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Tokens of the BPE vocabulary, the 256 bytes included (default 1024).
    #[arg(long)]
    pub vocab_size: Option<usize>,
}

impl TrainTextArgs {
    pub fn apply(&self, config: &mut TextTrainConfig) -> aigc::Result<()> {
        self.lm.apply(config)?;
        if let Some(v) = &self.tokenizer {
            config.tokenizer = choice("tokenizer", TokenizerKind::parse(v))?;
        }
        if let Some(v) = self.vocab_size {
            config.vocab_size = v;
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The run directory of a language model.
    #[arg(long)]
    pub run: PathBuf,
    /// Text to continue (default: a newline).
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// Characters (tokens) to generate after the prompt.
    #[arg(long, default_value_t = 500)]
    pub max_tokens: usize,
    /// Number of samples (seeds seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// `aigc train music`: the language-model flags (defaults: --data folk, --block-size 128,
/// --batch-size 16, --hidden 256; --arch lstm, gru, gpt or markov) and the music ones.
#[derive(Args, Debug)]
pub struct MusicArgs {
    #[command(flatten)]
    pub lm: TextArgs,
    /// Order of the Markov baseline (tokens of context plus one).
    #[arg(long)]
    pub order: Option<usize>,
    /// Train on the tunes as written only (default: each tune in all twelve keys).
    #[arg(long)]
    pub no_transpose: bool,
}

impl MusicArgs {
    pub fn apply(&self, config: &mut MusicTrainConfig) -> aigc::Result<()> {
        if let Some(v) = &self.lm.arch {
            config.arch = choice("arch", MelodyArch::parse(v))?;
            if let Some(network) = config.arch.network() {
                config.lm.arch = network;
            }
        }
        self.lm.apply_settings(&mut config.lm);
        if let Some(order) = self.order {
            config.markov_order = order;
        }
        if self.no_transpose {
            config.transpose = false;
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// The run directory of a melody model (aigc train music).
    #[arg(long)]
    pub run: PathBuf,
    /// Key, as in ABC: G, D, Am, Ador, Emin, Dmix, Bb.
    #[arg(long, default_value = "G")]
    pub key: String,
    /// Meter: 6/8, 4/4 (or C), 3/4, 2/4, 9/8, ... (one the training tunes have).
    #[arg(long, default_value = "6/8")]
    pub meter: String,
    /// Bars of the tune.
    #[arg(long, default_value_t = 16)]
    pub bars: usize,
    /// Opening notes in ABC (unit length an eighth), e.g. "GABc".
    #[arg(long)]
    pub primer: Option<String>,
    /// Tempo in quarter notes per minute (the MIDI and WAV files).
    #[arg(long, default_value_t = 120.0)]
    pub tempo: f64,
    /// General MIDI program of the MIDI file (0-based; 73 = flute).
    #[arg(long, default_value_t = 73)]
    pub program: u8,
    /// Output path without extension: writes OUT.abc, OUT.mid and OUT.wav.
    #[arg(long, default_value = "tune")]
    pub out: PathBuf,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// How tokens are drawn (shared by generate, poem and chat).
#[derive(Args, Debug)]
pub struct SamplingArgs {
    /// Softmax temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample from the k most likely tokens only (0 = all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Sample from the smallest set of tokens whose probability reaches p (1 = all).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Seed of the sampling (the same seed gives the same text).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Use the checkpoint with the lowest validation loss instead of the newest.
    #[arg(long)]
    pub best: bool,
}

impl SamplingArgs {
    pub fn config(&self) -> aigc::Result<aigc::sample::text::SamplingConfig> {
        let config = aigc::sample::text::SamplingConfig { temperature: self.temperature, top_k: self.top_k, top_p: self.top_p };
        config.validate()?;
        Ok(config)
    }

    /// `--best`: the checkpoint with the lowest validation loss, else the newest.
    pub fn checkpoint(&self) -> aigc::run::CheckpointChoice {
        if self.best { aigc::run::CheckpointChoice::Best } else { aigc::run::CheckpointChoice::Latest }
    }
}

#[derive(Args, Debug)]
pub struct PoemArgs {
    /// The run directory of a model trained on tang-poems.
    #[arg(long)]
    pub run: PathBuf,
    /// 五言绝句, 七言绝句, 五言律诗 or 七言律诗 (traditional spellings too).
    #[arg(long, default_value = "五言绝句")]
    pub form: String,
    /// First character of the poem.
    #[arg(long)]
    pub start: Option<String>,
    /// First characters of the lines (藏头诗), e.g. 春夏秋冬.
    #[arg(long)]
    pub acrostic: Option<String>,
    /// Number of poems (seeds seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    /// The run directory of a model trained on play-formatted text (e.g. shakespeare).
    #[arg(long)]
    pub run: PathBuf,
    /// The character you speak as.
    #[arg(long = "as")]
    pub user: String,
    /// The character the model answers as.
    #[arg(long = "with")]
    pub bot: String,
    /// Longest reply in characters.
    #[arg(long, default_value_t = 400)]
    pub max_tokens: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

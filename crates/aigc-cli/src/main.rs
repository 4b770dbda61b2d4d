//! The `aigc` command line: argument parsing and printing only; the work is in the `aigc` library.

mod args;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aigc::bench;
use aigc::sample::{SampleRequest, load_run_config, sample_run};
use aigc::train::config::read_toml_config;
use aigc::train::{GanTrainConfig, RunDir, TrainOptions, train_gan};
use clap::Parser;

use args::{BenchArgs, ChatArgs, Cli, Command, ComposeArgs, EvalArgs, FeaturesCommand, GanArgs, GenerateArgs, MusicArgs, PoemArgs, RunArgs, SampleArgs, TextArgs, TrainCommand, VaeArgs};

/// mimalloc keeps freed tensor buffers for reuse; with the system allocator every training step
/// returned megabytes to the OS and page-faulted them back (measured in `aigc bench w1`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Never hand freed memory back to the OS: a training step frees and reallocates the same
    // large buffers, and returning them cost 7% of a DCGAN step in zeroing fresh pages (perf,
    // `aigc bench w2`). The peak memory is unchanged.
    // SAFETY: sets a process-wide allocator option; mimalloc allows it at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // Rust ignores SIGPIPE, so `aigc generate … | head` made `print!` panic once `head` exited;
    // a command-line tool should end quietly instead, as `cat` does.
    // SAFETY: restores the default disposition of one signal before any thread is started.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL)
    };
    let cli = Cli::parse();
    let filter = if cli.verbose { "aigc=debug,info" } else { "aigc=info,warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> aigc::Result<()> {
    let device = aigc::backend::device(&cli.device)?;
    match cli.command {
        Command::Demo { out, quiet } => demo(&out, quiet, device),
        Command::Train { model: TrainCommand::Gan(args) } => train(args, device),
        Command::Train { model: TrainCommand::Vae(args) } => train_vae(args, device),
        Command::Train { model: TrainCommand::Text(args) } => train_text(args, device),
        Command::Train { model: TrainCommand::Music(args) } => train_music(args, device),
        Command::Compose(args) => compose(args, device),
        Command::Inpaint(args) => inpaint(args, device),
        Command::Style(args) => style(args, device),
        Command::Generate(args) => generate(args, device),
        Command::Poem(args) => poem(args, device),
        Command::Chat(args) => chat(args, device),
        Command::Sample(args) => sample(args, device),
        Command::Runs { dir } => runs(&dir),
        Command::Report { dir } => report(&dir),
        Command::Bench(args) => bench_cmd(args, &cli.device, device),
        Command::Eval(args) => eval(args, device),
        Command::Features { command: FeaturesCommand::Train { data, image_size, retrain, quiet } } => {
            features_train(&data, image_size, retrain, quiet, device)
        }
    }
}

fn demo(out: &Path, quiet: bool, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    let config = demo_config();
    let name = format!("demo-{}", unix_time());
    let out = out.join(name);
    eprintln!(
        "aigc demo: training the article's MLP GAN on the embedded MNIST digits ({} steps, batch {}) into {}",
        config.steps.unwrap_or_default(),
        config.batch_size,
        out.display()
    );
    let outcome = train_gan(&config, &out, &TrainOptions { resume: false, quiet, device, feature_cache: None })?;
    print_outcome(&outcome);
    Ok(())
}

/// The demo's settings: the article's model and losses, sized to finish in a few minutes on
/// two CPU cores.
fn demo_config() -> GanTrainConfig {
    GanTrainConfig::new().with_steps(Some(DEMO_STEPS)).with_sample_every(500).with_checkpoint_every(1000)
}

const DEMO_STEPS: usize = 3000;

fn unix_time() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The config a training command starts from: the resumed run's own (`saved`), else a
/// `--config` file over the defaults, then the flags (`apply`).
fn base_config<T: serde::Serialize + serde::de::DeserializeOwned>(
    run: &RunArgs,
    out: &Path,
    saved: impl FnOnce(&RunDir) -> aigc::Result<T>,
    defaults: T,
) -> aigc::Result<T> {
    config_for(run.output.resume, run.output.config.as_deref(), out, saved, defaults)
}

/// The config of a run: the saved one when resuming, else `defaults`; then a `--config` file.
fn config_for<T: serde::Serialize + serde::de::DeserializeOwned>(
    resume: bool,
    file: Option<&Path>,
    out: &Path,
    saved: impl FnOnce(&RunDir) -> aigc::Result<T>,
    defaults: T,
) -> aigc::Result<T> {
    let run_dir = RunDir::new(out);
    let mut config = if resume && run_dir.exists() { saved(&run_dir)? } else { defaults };
    if let Some(file) = file {
        config = read_toml_config(file, &config)?;
    }
    Ok(config)
}

fn out_dir(run: &RunArgs, model: &str) -> PathBuf {
    run.output.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{model}-{}", unix_time())))
}

fn train(args: GanArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    let out = out_dir(&args.run, "gan");
    let mut config = base_config(&args.run, &out, load_run_config, GanTrainConfig::new())?;
    args.apply(&mut config)?;
    let options = TrainOptions { resume: args.run.output.resume, quiet: args.run.output.quiet, device, feature_cache: None };
    let outcome = train_gan(&config, &out, &options)?;
    print_outcome(&outcome);
    Ok(())
}

fn train_vae(args: VaeArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::train::vae::{HeldoutElbo, VaeTrainConfig, train_vae};
    let out = out_dir(&args.run, "vae");
    let mut config = base_config(&args.run, &out, aigc::sample::load_vae_config, VaeTrainConfig::new())?;
    args.apply(&mut config);
    let options = TrainOptions { resume: args.run.output.resume, quiet: args.run.output.quiet, device, feature_cache: None };
    let outcome = train_vae(&config, &out, &options)?;
    if let Some(h) = outcome.run.metrics().read::<HeldoutElbo>()?.last() {
        println!(
            "step {}: held-out -ELBO {:.2} nats per image (reconstruction {:.2}, KL {:.2}; {} images)",
            h.step, h.heldout_nelbo, h.heldout_reconstruction, h.heldout_kl, h.images
        );
    }
    println!("trained {} steps in {:.0} s", outcome.steps, outcome.elapsed_s);
    println!("run:             {}", outcome.run.root().display());
    println!("prior samples:   {}", outcome.samples.display());
    println!("reconstructions: {}", outcome.run.root().join("reconstructions.png").display());
    println!("losses:          {}", outcome.run.loss_plot().display());
    println!("interpolate:     aigc sample --run {} --interpolate", outcome.run.root().display());
    Ok(())
}

fn train_text(args: TextArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::train::text::{TextTrainConfig, train_text};
    let output = &args.output;
    let out = output.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("text-{}", unix_time())));
    let saved = |run: &RunDir| read_toml_config(&run.config(), &TextTrainConfig::new());
    let mut config = config_for(output.resume, output.config.as_deref(), &out, saved, TextTrainConfig::new())?;
    args.apply(&mut config);
    let options = TrainOptions { resume: output.resume, quiet: output.quiet, device, feature_cache: None };
    let outcome = train_text(&config, &out, &options)?;
    if let Some(e) = &outcome.last_eval {
        println!(
            "step {}: train loss {:.4}, validation loss {:.4} nats/char ({:.3} bits/char)",
            e.step, e.train_loss, e.val_loss, e.val_bpc
        );
    }
    if let Some(best) = outcome.best_val_loss {
        println!("best validation loss {best:.4} (checkpoint in best/)");
    }
    println!("trained {} steps in {:.0} s", outcome.steps, outcome.elapsed_s);
    println!("run:      {}", outcome.run.root().display());
    println!("generate: aigc generate --run {} --prompt \"ROMEO:\"", outcome.run.root().display());
    Ok(())
}

fn train_music(args: MusicArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::train::music::{music_config, train_music};
    use aigc::train::text::TextTrainConfig;
    let output = &args.lm.output;
    let out = output.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("music-{}", unix_time())));
    let saved = |run: &RunDir| read_toml_config(&run.config(), &TextTrainConfig::new());
    let mut config = config_for(output.resume, output.config.as_deref(), &out, saved, music_config())?;
    args.lm.apply(&mut config);
    if let Some(order) = args.order {
        config.markov_order = order;
    }
    if args.no_transpose {
        config.transpose = false;
    }
    let options = TrainOptions { resume: output.resume, quiet: output.quiet, device, feature_cache: None };
    let summary = train_music(&config, &out, &options)?;
    println!(
        "{} tunes read, {} skipped; held-out NLL per event ({} tunes, {} events): {} {:.3} nats, Markov order {} {:.3} nats",
        summary.tunes_read,
        summary.tunes_skipped,
        summary.held_out_tunes,
        summary.held_out_events,
        summary.arch,
        summary.nll_per_event,
        summary.markov_order,
        summary.markov_nll_per_event
    );
    println!("run:     {}", out.display());
    println!("compose: aigc compose --run {} --key G --meter 6/8 --bars 16 --out tune", out.display());
    Ok(())
}

fn compose(args: ComposeArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::music::compose::{ComposeRequest, compose, parse_key, parse_meter};
    use aigc::music::{abc::write_abc, audio, midi::write_midi};
    let sampling = args.sampling.config()?;
    if !(args.tempo >= 20.0 && args.tempo <= 400.0) {
        return Err(aigc::AigcError::bad_argument("--tempo", format!("must be between 20 and 400 quarter notes per minute, got {}", args.tempo)));
    }
    if args.program > 127 {
        return Err(aigc::AigcError::bad_argument("--program", "General MIDI programs are 0 to 127"));
    }
    let (key, meter) = (parse_key(&args.key)?, parse_meter(&args.meter)?);
    let (_, data, model) = aigc::train::music::load_music_run(&args.run, &device)?;
    let request = ComposeRequest { key, meter, bars: args.bars, primer: args.primer.clone(), sampling, seed: args.sampling.seed, pitch_range: data.pitch_range() };
    let (_, mut tune) = compose(&model, &data.vocab, &request)?;
    tune.title = format!("aigc composition (seed {})", args.sampling.seed);
    tune.tempo_qpm = Some(args.tempo as f32);
    let path = |ext: &str| {
        let mut p = args.out.clone().into_os_string();
        p.push(format!(".{ext}"));
        PathBuf::from(p)
    };
    let abc = write_abc(&tune);
    aigc::train::checkpoint::write_atomic(&path("abc"), abc.as_bytes())?;
    aigc::train::checkpoint::write_atomic(&path("mid"), &write_midi(&tune, args.tempo, args.program))?;
    let samples = audio::render(&tune, args.tempo, 44_100);
    audio::write_wav(&samples, 44_100, &path("wav")).map_err(|e| aigc::AigcError::output(path("wav"), e))?;
    print!("{abc}");
    println!("wrote {}, {} and {} ({:.1} s)", path("abc").display(), path("mid").display(), path("wav").display(), audio::tune_seconds(&tune, args.tempo));
    Ok(())
}

fn eval_inpaint(args: &args::InpaintEvalArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::apps::inpaint::{LatentSettings, MaskKind, evaluate_inpainting};
    let kinds = args.masks.split(',').map(|m| MaskKind::parse(m.trim())).collect::<aigc::Result<Vec<_>>>()?;
    if args.steps == 0 {
        return Err(aigc::AigcError::bad_argument("--steps", "must be at least 1"));
    }
    let settings = LatentSettings { steps: args.steps, seed: args.seed, quiet: args.quiet, ..LatentSettings::default() };
    let rows = evaluate_inpainting(&args.run, &kinds, args.n, settings, &aigc::eval::run_eval::cache_dir(), &device, args.quiet)?;
    println!("| mask | method | PSNR in hole (dB) | SSIM in hole | KID | time |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!("| {} | {} | {:.2} | {:.3} | {:.4} ± {:.4} | {:.1} s |", r.mask, r.method, r.psnr, r.ssim, r.kid, r.kid_std, r.seconds);
    }
    println!("eval: {}", args.run.join("eval-inpaint.json").display());
    Ok(())
}

fn style(args: args::StyleArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::apps::style::{FeatureNet, StyleSettings, image_tensor, load_picture, save_png, stylise};
    if !(16..=2048).contains(&args.size) {
        return Err(aigc::AigcError::bad_argument("--size", "must be between 16 and 2048 pixels"));
    }
    if args.steps == 0 {
        return Err(aigc::AigcError::bad_argument("--steps", "must be at least 1"));
    }
    for (flag, v) in [("--content-weight", args.content_weight), ("--style-weight", args.style_weight), ("--lr", args.lr)] {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(aigc::AigcError::bad_argument(flag, format!("must be a non-negative number, got {v}")));
        }
    }
    let ad = device.clone().autodiff();
    let net = match (args.features.as_str(), &args.weights) {
        ("random", None) => FeatureNet::random(args.seed, &ad),
        ("random", Some(_)) => return Err(aigc::AigcError::bad_argument("--weights", "only with --features vgg19")),
        ("vgg19", Some(path)) => FeatureNet::vgg19(path, &ad)?,
        ("vgg19", None) => return Err(aigc::AigcError::bad_argument("--features", "vgg19 needs --weights FILE.safetensors (no download here)")),
        (other, _) => return Err(aigc::AigcError::bad_argument("--features", format!("{other:?}: expected random or vgg19"))),
    };
    let style_img = image_tensor(&load_picture(&args.style, "--style")?, args.size, &ad);
    let content = match &args.content {
        Some(c) => Some(image_tensor(&load_picture(c, "--content")?, args.size, &ad)),
        None => None,
    };
    let settings = StyleSettings { steps: args.steps, content_weight: args.content_weight, style_weight: args.style_weight, lr: args.lr, seed: args.seed };
    if args.every == Some(0) {
        return Err(aigc::AigcError::bad_argument("--every", "must be at least 1"));
    }
    let bar = aigc::train::progress::progress_bar(args.steps as u64, 0, args.quiet, "steps");
    let mut failed = None;
    let (x, report) = stylise(&net, content, style_img, settings, &ad, |step, x| {
        bar.set_position(step as u64);
        if args.every.is_some_and(|e| step % e == 0 && step < args.steps) {
            let stem = args.out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "style".into());
            let path = args.out.with_file_name(format!("{stem}-{step:05}.png"));
            if let Err(e) = save_png(x.clone(), &path) {
                failed.get_or_insert(e);
            }
        }
    });
    bar.finish_and_clear();
    if let Some(e) = failed {
        return Err(e);
    }
    save_png(x, &args.out)?;
    println!(
        "style loss {:.4} → {:.4} ({:.1}× lower), content loss {:.4} → {:.4}; {} steps in {:.0} s",
        report.style_before,
        report.style_after,
        report.style_before / report.style_after.max(1e-12),
        report.content_before,
        report.content_after,
        args.steps,
        report.seconds
    );
    println!("wrote {}", args.out.display());
    Ok(())
}

fn inpaint(args: args::InpaintArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::apps::inpaint::{LatentSettings, Mask, RunInpainter, harmonic_fill, masked, method_name, read_image};
    if args.samples == 0 || args.samples > 64 {
        return Err(aigc::AigcError::bad_argument("--samples", "must be between 1 and 64"));
    }
    if args.steps == 0 {
        return Err(aigc::AigcError::bad_argument("--steps", "must be at least 1"));
    }
    let model = RunInpainter::load(&args.run, &device)?;
    if let Some(method) = &args.method {
        let own = method_name(&model.model);
        if method != own {
            let why = if ["latent", "vae"].contains(&method.as_str()) { format!("this run supports {own}") } else { "expected latent or vae".into() };
            return Err(aigc::AigcError::bad_argument("--method", format!("{method:?}: {why}")));
        }
    }
    let shape = model.shape;
    let image = match (&args.image, args.heldout) {
        (Some(path), _) => read_image(path, shape)?,
        (None, Some(k)) => {
            let splits = aigc::data::DataSource::parse(&model.data).load(model.image_size)?;
            if k >= splits.heldout.len() {
                return Err(aigc::AigcError::bad_argument("--heldout", format!("the data set has {} held-out images", splits.heldout.len())));
            }
            splits.heldout.batch_values(&[k])
        }
        (None, None) => unreachable!("clap requires --image or --heldout"),
    };
    let mask = match (&args.mask, &args.mask_rect) {
        (Some(path), _) => Mask::from_png(path, shape.height, shape.width)?,
        (None, Some(rect)) => Mask::from_rect(rect, shape.height, shape.width)?,
        (None, None) => Mask::centre(shape.height, shape.width),
    };
    let settings = LatentSettings { steps: args.steps, seed: args.seed, quiet: args.quiet, ..LatentSettings::default() };
    let (completed, losses) = model.complete(&image, std::slice::from_ref(&mask), args.samples, settings);
    let mut grid = masked(&image, &mask);
    grid.extend(harmonic_fill(&image, &mask));
    grid.extend(completed);
    aigc::report::grid::save_grid(&grid, shape, args.samples + 2, &args.out)?;
    if let Some((before, after)) = losses {
        println!("context loss (weighted L1 on known pixels): {before:.3} → {after:.3} (mean over {} samples)", args.samples);
    }
    println!("{} hole pixels filled by {} ({} samples)", mask.holes(), method_name(&model.model), args.samples);
    println!("wrote {} (masked input, harmonic fill, completions)", args.out.display());
    Ok(())
}

fn generate(args: GenerateArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use std::io::Write;
    use aigc::sample::text::generate;
    let sampling = args.sampling.config()?;
    let (_, vocab, model) = aigc::train::text::load_text_run(&args.run, args.sampling.best, &device)?;
    let prompt = vocab.encode(&args.prompt, "--prompt")?;
    if prompt.is_empty() {
        return Err(aigc::AigcError::bad_argument("--prompt", "must not be empty"));
    }
    let mut stdout = std::io::stdout().lock();
    for i in 0..args.n {
        if args.n > 1 {
            let _ = writeln!(stdout, "--- sample {} (seed {}) ---", i + 1, args.sampling.seed + i as u64);
        }
        let _ = write!(stdout, "{}", args.prompt);
        generate(&model, &prompt, args.max_tokens, sampling, args.sampling.seed + i as u64, &device, |t| {
            let _ = write!(stdout, "{}", vocab.decode(&[t]));
            let _ = stdout.flush();
        });
        let _ = writeln!(stdout);
    }
    Ok(())
}

fn poem(args: PoemArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use aigc::apps::poem::{PoemForm, PoemRequest, copied_line_fraction, write_poem};
    let (config, vocab, model) = aigc::train::text::load_text_run(&args.run, args.sampling.best, &device)?;
    let single = |flag: &str, s: &Option<String>| -> aigc::Result<Option<char>> {
        match s.as_deref().map(|s| s.chars().collect::<Vec<_>>()) {
            None => Ok(None),
            Some(c) if c.len() == 1 => Ok(Some(c[0])),
            Some(_) => Err(aigc::AigcError::bad_argument(flag, "expects one character")),
        }
    };
    let form = PoemForm::parse(&args.form)?;
    let request = PoemRequest {
        form,
        start: single("--start", &args.start)?,
        acrostic: args.acrostic.as_deref().unwrap_or("").chars().collect(),
        sampling: args.sampling.config()?,
        seed: args.sampling.seed,
    };
    let mut poems = Vec::new();
    for i in 0..args.n {
        let request = PoemRequest { seed: args.sampling.seed + i as u64, ..request.clone() };
        let poem = write_poem(&model, &vocab, &request, &device)?;
        for line in poem.split_inclusive(['，', '。']) {
            println!("{line}");
        }
        println!();
        poems.push(poem);
    }
    let corpus = aigc::data::text::TextCorpus::load(&config.data)?;
    println!("form: {} of {} match {} ({} lines × {} characters)", poems.iter().filter(|p| form.matches(p)).count(), poems.len(), args.form, form.lines, form.chars);
    println!("lines copied verbatim from the training poems: {:.1}%", 100.0 * copied_line_fraction(&poems, &corpus.train));
    if let Some(e) = aigc::train::RunDir::new(&args.run).metrics().read::<aigc::train::text::TextEval>()?.last() {
        println!("held-out perplexity {:.1} per character (validation loss {:.3} nats at step {})", e.val_loss.exp(), e.val_loss, e.step);
    }
    Ok(())
}

fn chat(args: ChatArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    use std::io::{BufRead, Write};
    use aigc::apps::chat::{Chat, speakers};
    let (config, vocab, model) = aigc::train::text::load_text_run(&args.run, args.sampling.best, &device)?;
    let corpus = aigc::data::text::TextCorpus::load(&config.data)?;
    let mut chat = Chat::new(&model, &vocab, &args.user, &args.bot, &speakers(&corpus.train), args.sampling.config()?, args.sampling.seed, &device)?;
    chat.max_reply = args.max_tokens;
    eprintln!(
        "A character-level model of {}'s dialogue: you are {}, it answers as {}. It continues the script; it does not understand you. Empty line or Ctrl-D ends.",
        config.data, chat.user, chat.bot
    );
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    loop {
        eprint!("{}> ", chat.user);
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| aigc::AigcError::io("<stdin>", e))? == 0 || line.trim().is_empty() {
            break;
        }
        let _ = write!(stdout, "{}: ", chat.bot);
        match chat.reply(&line, |c| {
            let _ = write!(stdout, "{c}");
            let _ = stdout.flush();
        }) {
            Ok(_) => {
                let _ = writeln!(stdout);
            }
            Err(e) => eprintln!("\nerror: {e}"),
        }
    }
    Ok(())
}

fn print_outcome(outcome: &aigc::train::TrainOutcome) {
    if let Some(m) = &outcome.last {
        println!(
            "step {}: D loss {:.4}, G loss {:.4}, D(x) {:.3}, D(G(z)) {:.3}",
            m.step, m.d_loss, m.g_loss, m.d_real, m.d_fake
        );
    }
    println!("trained {} steps in {:.0} s", outcome.steps, outcome.elapsed_s);
    println!("run:      {}", outcome.run.root().display());
    println!("samples:  {}", outcome.samples.display());
    println!("losses:   {}", outcome.run.loss_plot().display());
    println!("sample more: aigc sample --run {} --n 64 --seed 1", outcome.run.root().display());
}

fn sample(args: SampleArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    let request = SampleRequest {
        run: args.run,
        n: args.n,
        seed: args.seed,
        out: args.out,
        individual: args.individual.clone(),
        checkpoint: aigc::sample::CheckpointChoice::parse(&args.checkpoint)?,
        class: args.class,
        interpolate: args.interpolate,
    };
    let grid = sample_run(&request, &device)?;
    println!("grid: {}", grid.display());
    if request.interpolate {
        println!("animation: {}", grid.with_extension("gif").display());
    }
    if let Some(dir) = args.individual {
        println!("images: {}/", dir.display());
    }
    Ok(())
}

fn runs(dir: &Path) -> aigc::Result<()> {
    let summaries = aigc::report::summarize_runs(dir)?;
    if summaries.is_empty() {
        println!("no runs under {}", dir.display());
        return Ok(());
    }
    println!("{:<40} {:>8}  {:<34} best", "run", "step", "last losses");
    for s in summaries {
        let losses: Vec<String> = s.last_losses.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let best = s.best_metric.map(|(k, v)| format!("{k} {v:.4}")).unwrap_or_else(|| "-".into());
        let step = s.step.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        println!("{:<40} {:>8}  {:<34} {}", s.path.display(), step, losses.join(", "), best);
    }
    Ok(())
}

fn report(dir: &Path) -> aigc::Result<()> {
    let evaluated = aigc::report::evaluated_runs(dir)?;
    if evaluated.is_empty() {
        println!("no evaluated runs under {} (run `aigc eval --run RUN` first)", dir.display());
        return Ok(());
    }
    print!("{}", aigc::report::markdown_table(&evaluated));
    Ok(())
}

fn bench_cmd(args: BenchArgs, device_name: &str, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    let framework = bench::framework_label(&device_name);
    let result = match args.workload.as_str() {
        "w3" | "w4" => bench::lm_workload(&args.workload, args.steps, &device, &framework)?,
        other => bench::gan_workload(other, args.steps, &device, &framework)?,
    };
    println!("{}", result.result_line());
    Ok(())
}

fn eval(args: EvalArgs, device: aigc::burn::tensor::Device) -> aigc::Result<()> {
    if let Some(args::EvalCommand::Inpaint(a)) = &args.what {
        return eval_inpaint(a, device);
    }
    use aigc::eval::run_eval::{Baseline, cache_dir, evaluate_baseline, evaluate_folders, evaluate_run};
    let run = match (&args.run, &args.baseline) {
        (Some(run), _) => Some(run.clone()),
        (None, Some(kind)) => Some(args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("baseline-{kind}")))),
        (None, None) => None,
    };
    let Some(run) = run else {
        let (real, fake) = (args.real.clone().unwrap_or_default(), args.fake.clone().unwrap_or_default());
        let result = evaluate_folders(&real, &fake, &args.features, &cache_dir(), args.seed, &device, args.quiet)?;
        let out = args.out.clone().unwrap_or_else(|| PathBuf::from("eval-folders.json"));
        let json = serde_json::to_vec_pretty(&result).map_err(|e| aigc::AigcError::output(&out, e))?;
        aigc::train::checkpoint::write_atomic(&out, &json)?;
        println!("{}; features: {}", result.summary(), result.features);
        println!("eval: {}", out.display());
        return Ok(());
    };
    if args.baseline.is_none() && aigc::train::text::read_lm_config(&run, aigc::train::text::MUSIC_MODEL).is_ok() {
        let eval = aigc::train::music::evaluate_music(&run, args.n.unwrap_or(30), 16, args.seed, &device)?;
        println!("{}", eval.row());
        println!("eval: {}", run.join("eval-music.json").display());
        return Ok(());
    }
    let checkpoint = aigc::sample::CheckpointChoice::parse(&args.checkpoint)?;
    let request = aigc::eval::run_eval::EvalRequest { run: run.clone(), n: args.n.unwrap_or(5000), checkpoint, seed: args.seed, quiet: args.quiet, cache: cache_dir() };
    let report = match &args.baseline {
        Some(kind) => {
            let baseline = Baseline::parse(kind)?;
            evaluate_baseline(baseline, &args.data, args.image_size, &run, &request, &device)?
        }
        None => evaluate_run(&request, &device)?,
    };
    println!("{}", report.summary());
    println!("eval:          {}", run.join("eval.json").display());
    println!("closest pairs: {}", report.memorisation.closest_pairs.display());
    Ok(())
}

fn features_train(
    data: &str,
    image_size: u32,
    retrain: bool,
    quiet: bool,
    device: aigc::burn::tensor::Device,
) -> aigc::Result<()> {
    let splits = aigc::data::DataSource::parse(data).load(image_size)?;
    let (_, report) = aigc::eval::run_eval::feature_network(&aigc::eval::run_eval::cache_dir(), data, &splits, &device, quiet, retrain)?;
    println!(
        "feature network for {}: held-out accuracy {:.2}% on {} images ({} classes)",
        report.data,
        100.0 * report.heldout_accuracy,
        report.heldout_images,
        report.classes
    );
    println!("cached in {}", aigc::eval::run_eval::cache_dir().join("features").display());
    Ok(())
}

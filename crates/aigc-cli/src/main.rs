//! The `aigc` command line: flags in, a call to the library's service layer (or a family's
//! trainer), printing and writing files out. Library errors name config fields; [`flags`]
//! turns them into this tool's flags.

mod args;
mod flags;
mod help;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aigc::data::tokenizer::TokenizerKind;
use aigc::families::{diffusion, gan, lm, music, vae};
use aigc::io::{write_atomic, write_json};
use aigc::run::config::read_toml_config;
use aigc::run::{CheckpointChoice, RunDir};
use aigc::service;
use aigc::train::TrainOptions;
use aigc::{AigcError, bench};
use clap::FromArgMatches;

use args::{BenchArgs, ChatArgs, Cli, Command, ComposeArgs, DiffusionArgs, EvalArgs, FeaturesCommand, GanArgs, GenerateArgs, MusicArgs, OutputArgs, PoemArgs, SampleArgs, TrainCommand, TrainTextArgs, VaeArgs};

/// mimalloc keeps freed tensor buffers for reuse; with the system allocator every training step
/// returned megabytes to the OS and page-faulted them back (measured in `aigc bench w1`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

type Device = aigc::burn::tensor::Device;

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
    let cli = match Cli::from_arg_matches(&help::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let filter = if cli.verbose { "aigc=debug,info" } else { "aigc=info,warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .with_ansi(aigc::train::progress::colours())
        .without_time()
        .with_target(false)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", flags::explain(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> aigc::Result<()> {
    let device = aigc::backend::device(&cli.device)?;
    if let Some(gib) = cli.file_limit_gib {
        aigc::io::limits::raise(gib.saturating_mul(1 << 30));
    }
    if let Some(gib) = cli.memory_limit_gib {
        aigc::train::memory::set_limit(gib.saturating_mul(1 << 30));
    }
    match cli.command {
        Command::Demo { out, quiet } => demo(&out, quiet, device),
        Command::Train { model: TrainCommand::Gan(args) } => train_gan(args, device),
        Command::Train { model: TrainCommand::Vae(args) } => train_vae(args, device),
        Command::Train { model: TrainCommand::Diffusion(args) } => train_diffusion(args, device),
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
        Command::Serve { runs, addr, token } => serve(runs, addr, token, device),
        Command::Data => data_sets(),
        Command::Info { run } => info(&run),
        Command::Export { run, checkpoint, out } => {
            for path in service::runs::export(&run, &checkpoint, out.as_deref(), &device)? {
                println!("{} (with {})", path.display(), path.with_extension("json").display());
            }
            Ok(())
        }
    }
}

fn demo(out: &Path, quiet: bool, device: Device) -> aigc::Result<()> {
    let config = demo_config();
    let out = new_run_dir(out, "demo");
    eprintln!(
        "aigc demo: training the article's MLP GAN on the embedded MNIST digits ({} steps, batch {}) into {}",
        config.steps.unwrap_or_default(),
        config.batch_size,
        out.display()
    );
    let outcome = gan::train(&config, &out, &TrainOptions { resume: false, force: false, quiet, device, feature_cache: None, control: None })?;
    print_gan_outcome(&outcome);
    Ok(())
}

/// The demo's settings: the article's model and losses, sized to finish in a few minutes on
/// two CPU cores.
fn demo_config() -> gan::GanTrainConfig {
    gan::GanTrainConfig::new().with_steps(Some(DEMO_STEPS)).with_sample_every(500).with_checkpoint_every(1000)
}

const DEMO_STEPS: usize = 3000;

/// A new run's folder in `parent`: `PREFIX-YYYYMMDD-HHMMSS` in local time, with `-2`, `-3`, …
/// when that name is taken.
fn new_run_dir(parent: &Path, prefix: &str) -> PathBuf {
    let base = format!("{prefix}-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"));
    let mut path = parent.join(&base);
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = parent.join(format!("{base}-{n}"));
    }
    path
}

/// Where a training command writes (`--out`, default runs/FAMILY-YYYYMMDD-HHMMSS) and its config: the
/// resumed run's own (`saved`), else `defaults`; then a `--config` file; the flags come after.
fn start<T: serde::Serialize + serde::de::DeserializeOwned>(
    output: &OutputArgs,
    family: &str,
    saved: fn(&RunDir) -> aigc::Result<T>,
    defaults: T,
    device: Device,
) -> aigc::Result<(PathBuf, T, TrainOptions)> {
    let out = output.out.clone().unwrap_or_else(|| new_run_dir(Path::new("runs"), family));
    let run = RunDir::new(&out);
    let mut config = if output.resume && run.exists() { saved(&run)? } else { defaults };
    if let Some(file) = &output.config {
        config = read_toml_config(file, family, &config)?;
    }
    let options = TrainOptions { resume: output.resume, force: output.force, quiet: output.quiet, device, feature_cache: None, control: None };
    Ok((out, config, options))
}

/// `--print-config`: the config as the run's `config.toml` would hold it. True when printed
/// (the command ends there).
fn print_config<T: serde::Serialize>(output: &OutputArgs, family: &str, config: &T, unset: &[(&str, &str)]) -> aigc::Result<bool> {
    if output.print_config {
        print!("{}", aigc::run::Manifest::new(family, config)?.explain(unset).to_toml());
    }
    Ok(output.print_config)
}

fn train_gan(args: GanArgs, device: Device) -> aigc::Result<()> {
    let (out, mut config, options) = start(&args.run.output, gan::NAME, gan::saved_config, gan::GanTrainConfig::new(), device)?;
    args.apply(&mut config)?;
    if print_config(&args.run.output, gan::NAME, &config, gan::UNSET)? {
        return Ok(());
    }
    print_gan_outcome(&gan::train(&config, &out, &options)?);
    Ok(())
}

fn print_gan_outcome(outcome: &aigc::train::TrainOutcome<gan::GanMetrics, gan::EvalMetrics>) {
    if let Some(m) = &outcome.last_metrics {
        println!("step {}: D loss {:.4}, G loss {:.4}, D(x) {:.3}, D(G(z)) {:.3}", m.step, m.d_loss, m.g_loss, m.d_real, m.d_fake);
    }
    println!("trained {} steps in {:.0} s", outcome.steps, outcome.elapsed_s);
    println!("run:      {}", outcome.run.root().display());
    println!("samples:  {}", outcome.run.final_samples().display());
    println!("losses:   {}", outcome.run.loss_plot().display());
    print_next_commands(outcome.run.root());
}

/// What to try next with a trained run, chosen for its family and data.
fn print_next_commands(run: &Path) {
    let Ok(Some(info)) = service::runs::summarize(run).map(|s| s.and_then(|s| s.info)) else { return };
    println!("next:");
    for s in service::runs::suggested_commands(&info) {
        println!("  {:<64} # {}", s.command, s.what);
    }
}

fn train_vae(args: VaeArgs, device: Device) -> aigc::Result<()> {
    let (out, mut config, options) = start(&args.run.output, vae::NAME, vae::saved_config, vae::VaeTrainConfig::new(), device)?;
    args.apply(&mut config)?;
    if print_config(&args.run.output, vae::NAME, &config, vae::UNSET)? {
        return Ok(());
    }
    let outcome = vae::train(&config, &out, &options)?;
    let run = &outcome.run;
    if let Some(h) = run.metrics().read::<vae::HeldoutElbo>()?.last() {
        println!(
            "step {}: held-out -ELBO {:.2} nats per image (reconstruction {:.2}, KL {:.2}; {} images)",
            h.step, h.heldout_nelbo, h.heldout_reconstruction, h.heldout_kl, h.images
        );
    }
    println!("trained {} steps in {:.0} s", outcome.steps, outcome.elapsed_s);
    println!("run:             {}", run.root().display());
    println!("prior samples:   {}", run.final_samples().display());
    println!("reconstructions: {}", run.reconstructions().display());
    println!("losses:          {}", run.loss_plot().display());
    print_next_commands(run.root());
    Ok(())
}

fn train_diffusion(args: DiffusionArgs, device: Device) -> aigc::Result<()> {
    let (out, mut config, options) = start(&args.run.output, diffusion::NAME, diffusion::saved_config, diffusion::DiffusionTrainConfig::new(), device)?;
    args.apply(&mut config)?;
    if print_config(&args.run.output, diffusion::NAME, &config, diffusion::UNSET)? {
        return Ok(());
    }
    let outcome = diffusion::train(&config, &out, &options)?;
    let run = &outcome.run;
    if let Some(m) = run.metrics().read::<diffusion::DiffusionMetrics>()?.last() {
        println!("step {}: loss {:.4} ({} objective)", m.step, m.loss, config.objective);
    }
    if let Some(e) = &outcome.last_eval {
        println!("{}", aigc::eval::training::TrainingEvaluator::line(e));
    }
    println!("trained {} steps in {:.0} s", outcome.steps, outcome.elapsed_s);
    println!("run:       {}", run.root().display());
    println!("samples:   {}", run.final_samples().display());
    println!("denoising: {}", run.denoising_strip().display());
    println!("losses:    {}", run.loss_plot().display());
    print_next_commands(run.root());
    Ok(())
}

fn train_text(args: TrainTextArgs, device: Device) -> aigc::Result<()> {
    let (out, mut config, options) = start(&args.lm.output, lm::NAME, lm::saved_config, lm::TextTrainConfig::new(), device)?;
    args.apply(&mut config)?;
    if print_config(&args.lm.output, lm::NAME, &config, lm::UNSET)? {
        return Ok(());
    }
    let outcome = lm::train(&config, &out, &options)?;
    if let Some(e) = &outcome.last_eval {
        let unit = if config.tokenizer == TokenizerKind::Bpe { "token" } else { "char" };
        println!("step {}: train loss {:.4}, validation loss {:.4} nats/{unit} ({:.3} bits/char)", e.step, e.train_loss, e.val_loss, e.val_bpc);
        if let Some(baseline) = e.unigram_bpc {
            println!("unigram baseline: {baseline:.3} bits/char");
        }
    }
    if let Some(best) = outcome.best_score {
        println!("best validation loss {best:.4} (checkpoint in best/)");
    }
    println!("trained {} steps in {:.0} s", outcome.steps, outcome.elapsed_s);
    println!("run:      {}", outcome.run.root().display());
    print_next_commands(outcome.run.root());
    Ok(())
}

fn train_music(args: MusicArgs, device: Device) -> aigc::Result<()> {
    let (out, mut config, options) = start(&args.lm.output, music::NAME, music::saved_config, music::MusicTrainConfig::default(), device)?;
    args.apply(&mut config)?;
    if print_config(&args.lm.output, music::NAME, &config, lm::UNSET)? {
        return Ok(());
    }
    let summary = music::train(&config, &out, &options)?;
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
    print_next_commands(&out);
    Ok(())
}

fn compose(args: ComposeArgs, device: Device) -> aigc::Result<()> {
    let request = service::music::CompositionRequest {
        run: args.run.clone(),
        key: args.key.clone(),
        meter: args.meter.clone(),
        bars: args.bars,
        primer: args.primer.clone(),
        sampling: args.sampling.config()?,
        seed: args.sampling.seed,
        tempo: args.tempo,
        program: args.program,
    };
    let composition = service::music::compose(&request, &device)?;
    let path = |ext: &str| {
        let mut p = args.out.clone().into_os_string();
        p.push(format!(".{ext}"));
        PathBuf::from(p)
    };
    write_atomic(&path("abc"), composition.abc.as_bytes())?;
    write_atomic(&path("mid"), &composition.midi)?;
    write_atomic(&path("wav"), &composition.wav)?;
    print!("{}", composition.abc);
    println!("wrote {}, {} and {} ({:.1} s)", path("abc").display(), path("mid").display(), path("wav").display(), composition.seconds);
    Ok(())
}

fn inpaint(args: args::InpaintArgs, device: Device) -> aigc::Result<()> {
    use service::inpaint::{InpaintImage, InpaintMask, InpaintRequest};
    let read = |path: &Path| std::fs::read(path).map_err(|e| AigcError::io(path, e));
    let image = match (&args.image, args.heldout) {
        (Some(path), _) => InpaintImage::Encoded { bytes: read(path)?, name: path.clone() },
        (None, Some(k)) => InpaintImage::Heldout(k),
        (None, None) => unreachable!("clap requires --image or --heldout"),
    };
    let mask = match (&args.mask, &args.mask_rect) {
        (Some(path), _) => InpaintMask::Encoded { bytes: read(path)?, name: path.clone() },
        (None, Some(rect)) => InpaintMask::Rect(rect.clone()),
        (None, None) => InpaintMask::Centre,
    };
    let settings = aigc::apps::inpaint::InpaintSettings { steps: args.steps, seed: args.seed, quiet: args.quiet, sample_steps: args.sample_steps, ..Default::default() };
    let request = InpaintRequest { run: args.run.clone(), image, mask, method: args.method.clone(), samples: args.samples, settings };
    let result = service::inpaint::inpaint(&request, &device)?;
    write_atomic(&args.out, &result.grid_png()?)?;
    if let Some((before, after)) = result.context_loss {
        println!("context loss (weighted L1 on known pixels): {before:.3} → {after:.3} (mean over {} samples)", args.samples);
    }
    println!("{} hole pixels filled by {} ({} samples)", result.holes, result.method, args.samples);
    println!("wrote {} (masked input, harmonic fill, completions)", args.out.display());
    Ok(())
}

fn eval_inpaint(args: &args::InpaintEvalArgs, device: Device) -> aigc::Result<()> {
    use aigc::apps::inpaint::{InpaintSettings, MaskKind};
    let masks = args.masks.split(',').map(|m| MaskKind::parse(m.trim())).collect::<aigc::Result<Vec<_>>>()?;
    let settings = InpaintSettings { steps: args.steps, seed: args.seed, quiet: args.quiet, sample_steps: args.sample_steps, ..InpaintSettings::default() };
    let cache = aigc::eval::feature_cache::cache_dir();
    let rows = service::inpaint::evaluate_inpainting(&args.run, &masks, args.n, settings, &cache, &device)?;
    println!("| mask | method | PSNR in hole (dB) | SSIM in hole | KID | time |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let kid = r.kid_std.map_or_else(|| format!("{:.4}", r.kid), |std| format!("{:.4} ± {std:.4}", r.kid));
        println!("| {} | {} | {:.2} | {:.3} | {kid} | {:.1} s |", r.mask, r.method, r.psnr, r.ssim, r.seconds);
    }
    println!("eval: {}", RunDir::new(&args.run).inpaint_eval().display());
    Ok(())
}

fn style(args: args::StyleArgs, device: Device) -> aigc::Result<()> {
    use service::style::{Picture, StyleFeatures, StyleRequest};
    let features = match (args.features.as_str(), &args.weights) {
        ("random", None) => StyleFeatures::Random,
        ("random", Some(_)) => return Err(AigcError::invalid("weights", "only with `features` vgg19")),
        ("vgg19", Some(path)) => StyleFeatures::Vgg19(path.clone()),
        ("vgg19", None) => return Err(AigcError::invalid("features", "vgg19 needs `weights` FILE.safetensors (no download here; scripts/vgg19_to_safetensors.py converts torchvision's vgg19-dcbb9e9d.pth)")),
        (other, _) => return Err(AigcError::invalid("features", format!("{other:?}: expected random or vgg19"))),
    };
    let settings = aigc::apps::style::StyleSettings {
        steps: args.steps,
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        lr: args.lr,
        seed: args.seed,
    };
    let request = StyleRequest { content: args.content.clone().map(Picture::Named), style: Picture::Named(args.style.clone()), size: args.size, settings, features, every: args.every };
    let bar = aigc::train::progress::progress_bar(args.steps as u64, 0, args.quiet, "steps");
    let stem = args.out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "style".into());
    let mut failed = None;
    let styled = service::style::style(&request, &device, |step, snapshot| {
        bar.set_position(step as u64);
        if let Some(png) = snapshot {
            let path = args.out.with_file_name(format!("{stem}-{step:05}.png"));
            if let Err(e) = write_atomic(&path, &png) {
                failed.get_or_insert(e);
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    let styled = styled?;
    if let Some(e) = failed {
        return Err(e);
    }
    write_atomic(&args.out, &styled.png)?;
    let report = styled.report;
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

fn generate(args: GenerateArgs, device: Device) -> aigc::Result<()> {
    let sampling = args.sampling.config()?;
    let model = service::text::text_model(&args.run, args.sampling.checkpoint(), &device)?;
    let mut stdout = std::io::stdout().lock();
    for i in 0..args.n {
        let seed = args.sampling.seed + i as u64;
        if args.n > 1 {
            let _ = writeln!(stdout, "--- sample {} (seed {seed}) ---", i + 1);
        }
        let request = service::text::GenerateRequest { prompt: args.prompt.clone(), max_tokens: args.max_tokens, sampling, seed };
        let _ = write!(stdout, "{}", args.prompt);
        service::text::generate(&model, &request, |piece| {
            let _ = write!(stdout, "{piece}");
            let _ = stdout.flush();
            std::ops::ControlFlow::Continue(())
        })?;
        let _ = writeln!(stdout);
    }
    Ok(())
}

fn poem(args: PoemArgs, device: Device) -> aigc::Result<()> {
    let model = service::text::text_model(&args.run, args.sampling.checkpoint(), &device)?;
    let single = |field: &str, s: &Option<String>| -> aigc::Result<Option<char>> {
        match s.as_deref().map(|s| s.chars().collect::<Vec<_>>()) {
            None => Ok(None),
            Some(c) if c.len() == 1 => Ok(Some(c[0])),
            Some(_) => Err(AigcError::invalid(field, "expects one character")),
        }
    };
    let request = service::text::PoemsRequest {
        form: args.form.clone(),
        start: single("start", &args.start)?,
        acrostic: args.acrostic.as_deref().unwrap_or("").chars().collect(),
        n: args.n,
        sampling: args.sampling.config()?,
        seed: args.sampling.seed,
    };
    let poems = service::text::poems(&args.run, &model, &request)?;
    for poem in &poems.poems {
        for line in poem.split_inclusive(['，', '。']) {
            println!("{line}");
        }
        println!();
    }
    let form = &poems.form;
    let kind = if form.tune { "the tune's most common form in the training ci" } else { "lines × characters" };
    println!("form: {} of {} match {} ({} lines: {}; {kind})", poems.matching, poems.poems.len(), args.form, form.lengths.len(), form.pattern());
    println!("lines copied verbatim from the training poems: {:.1}%", 100.0 * poems.copied_lines);
    if let Some((step, loss)) = poems.validation_loss {
        println!("held-out perplexity {:.1} per character (validation loss {loss:.3} nats at step {step})", loss.exp());
    }
    Ok(())
}

/// Where `aigc chat` reads the user's lines: a line editor with history (arrow keys, Ctrl-R;
/// kept in `$XDG_STATE_HOME/aigc/chat_history`, else `~/.local/state/aigc/chat_history`) when
/// stdin is a terminal, plain lines when it is a pipe or file.
enum ChatInput {
    Editor(Box<rustyline::DefaultEditor>, Option<PathBuf>),
    Plain(std::io::Stdin),
}

impl ChatInput {
    fn open() -> Self {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return ChatInput::Plain(std::io::stdin());
        }
        match rustyline::DefaultEditor::new() {
            Ok(mut editor) => {
                let history = std::env::var_os("XDG_STATE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
                    .map(|d| d.join("aigc").join("chat_history"));
                if let Some(path) = &history {
                    let _ = editor.load_history(path);
                }
                ChatInput::Editor(Box::new(editor), history)
            }
            Err(e) => {
                eprintln!("note: no line editing ({e}); reading plain lines");
                ChatInput::Plain(std::io::stdin())
            }
        }
    }

    /// The next line (`None` at the end of input: Ctrl-D, or the end of a pipe). Ctrl-C drops
    /// the line being typed.
    fn read_line(&mut self, prompt: &str) -> aigc::Result<Option<String>> {
        use rustyline::error::ReadlineError;
        match self {
            ChatInput::Plain(stdin) => {
                use std::io::BufRead;
                eprint!("{prompt}");
                let mut line = String::new();
                let read = stdin.lock().read_line(&mut line).map_err(|e| AigcError::io("<stdin>", e))?;
                Ok((read > 0).then_some(line))
            }
            ChatInput::Editor(editor, history) => loop {
                match editor.readline(prompt) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                            if let Some(path) = history {
                                if let Some(dir) = path.parent() {
                                    let _ = std::fs::create_dir_all(dir);
                                }
                                let _ = editor.save_history(path);
                            }
                        }
                        return Ok(Some(line));
                    }
                    Err(ReadlineError::Interrupted) => continue,
                    Err(ReadlineError::Eof) => return Ok(None),
                    Err(e) => return Err(AigcError::io("<stdin>", std::io::Error::other(e.to_string()))),
                }
            },
        }
    }
}

fn chat(args: ChatArgs, device: Device) -> aigc::Result<()> {
    let model = service::text::text_model(&args.run, args.sampling.checkpoint(), &device)?;
    let request = service::text::ChatRequest {
        user: args.user.clone(),
        bot: args.bot.clone(),
        max_reply: args.max_tokens,
        sampling: args.sampling.config()?,
        seed: args.sampling.seed,
    };
    let mut chat = service::text::chat(&model, &request)?;
    eprintln!(
        "A {}-level model of {}'s dialogue: you are {}, it answers as {}. It continues the script; it does not understand you. Arrow keys recall earlier lines; an empty line or Ctrl-D ends.",
        if model.tokenizer.kind() == TokenizerKind::Bpe { "BPE-token" } else { "character" },
        model.data,
        chat.user,
        chat.bot
    );
    let mut input = ChatInput::open();
    let mut stdout = std::io::stdout();
    loop {
        let Some(line) = input.read_line(&format!("{}> ", chat.user))? else { break };
        if line.trim().is_empty() {
            break;
        }
        let _ = write!(stdout, "{}: ", chat.bot);
        match chat.reply(&line, |c| {
            let _ = write!(stdout, "{c}");
            let _ = stdout.flush();
            std::ops::ControlFlow::Continue(())
        }) {
            Ok(_) => {
                let _ = writeln!(stdout);
            }
            Err(e) => eprintln!("\nerror: {}", flags::explain(&e)),
        }
    }
    Ok(())
}

fn sample(args: SampleArgs, device: Device) -> aigc::Result<()> {
    let request = service::images::ImagesRequest {
        run: args.run.clone(),
        n: args.n,
        seed: args.seed,
        class: args.class,
        interpolate: args.interpolate,
        strip: args.strip,
        checkpoint: CheckpointChoice::parse(&args.checkpoint)?,
        sampler: args.sampling.settings(!args.quiet),
    };
    let images = service::images::images(&request, &device)?;
    let name = if images.interpolation {
        "interpolation"
    } else if args.strip {
        "denoising"
    } else {
        "sample"
    };
    let out = args.out.clone().unwrap_or_else(|| args.run.join(format!("{name}-seed{}.png", args.seed)));
    write_atomic(&out, &images.grid_png_scaled(args.scale))?;
    println!("grid: {}", out.display());
    if let Some(gif) = images.animation_gif()? {
        let path = out.with_extension("gif");
        write_atomic(&path, &gif)?;
        println!("animation: {}", path.display());
    }
    if let Some(dir) = &args.individual {
        for (i, png) in images.pngs(args.scale).iter().enumerate() {
            write_atomic(&dir.join(format!("{i:04}.png")), png)?;
        }
        println!("images: {}/", dir.display());
    }
    Ok(())
}

fn runs(dir: &Path) -> aigc::Result<()> {
    let summaries = service::runs::summarize_runs(dir)?;
    if summaries.is_empty() {
        println!("no runs under {}", dir.display());
        return Ok(());
    }
    println!("{:<40} {:<14} {:>8}  {:<34} best", "run", "family", "step", "last losses");
    for s in summaries {
        let losses: Vec<String> = s.last_losses.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let best = s.best_metric.map(|(k, v)| format!("{k} {v:.4}")).unwrap_or_else(|| "-".into());
        let step = s.step.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let family = match (&s.info, &s.baseline) {
            (Some(info), _) => format!("{} {}", info.family, info.arch),
            (None, Some(kind)) => format!("baseline {kind}"),
            (None, None) => "?".to_string(),
        };
        println!("{:<40} {:<14} {:>8}  {:<34} {}", s.path.display(), family, step, losses.join(", "), best);
        if let Some(problem) = &s.problem {
            println!("    {problem}");
        }
    }
    Ok(())
}

fn report(dir: &Path) -> aigc::Result<()> {
    let evaluated = service::runs::evaluated_runs(dir)?;
    if evaluated.is_empty() {
        println!("no evaluated runs under {} (run `aigc eval --run RUN` first)", dir.display());
        return Ok(());
    }
    print!("{}", service::runs::markdown_table(&evaluated));
    Ok(())
}

fn bench_cmd(args: BenchArgs, device_name: &str, device: Device) -> aigc::Result<()> {
    let framework = bench::framework_label(device_name);
    let result = match args.workload.as_str() {
        "w3" | "w4" => bench::lm_workload(&args.workload, args.steps, &device, &framework)?,
        "w5" => bench::diffusion_workload(args.steps, &device, &framework)?,
        "w4-sample" | "w4-sample-uncached" => {
            let (result, [filling, sliding]) = bench::lm_sampling_workload(args.steps, args.workload.ends_with("uncached"), &device, &framework)?;
            eprintln!(
                "info: {:.0} tokens/s ({} timed tokens of {}-token draws; mean per token {:.3} ms while the window fills, {sliding:.3} ms once it slides)",
                1e3 / result.mean_ms(),
                result.times_ms.len(),
                bench::DRAW_TOKENS,
                filling
            );
            result
        }
        "w5-sample" => {
            let result = bench::diffusion_sampling_workload(args.steps, &device, &framework)?;
            let per_draw_s = result.median_ms() * bench::SAMPLE_STEPS as f64 / 1e3;
            eprintln!("info: {:.1} images/s at {} DDIM steps, batch {}", bench::SAMPLE_BATCH as f64 / per_draw_s, bench::SAMPLE_STEPS, bench::SAMPLE_BATCH);
            result
        }
        other => bench::gan_workload(other, args.steps, &device, &framework)?,
    };
    println!("{}", result.result_line());
    Ok(())
}

fn eval(args: EvalArgs, device: Device) -> aigc::Result<()> {
    use service::eval::{Baseline, EvalRequest, RunEvaluation, baseline_dir, evaluate_baseline, evaluate_folders};
    if let Some(args::EvalCommand::Inpaint(a)) = &args.what {
        return eval_inpaint(a, device);
    }
    let cache = aigc::eval::feature_cache::cache_dir();
    if let (Some(real), Some(fake)) = (&args.real, &args.fake) {
        let request = service::eval::FoldersRequest {
            real: real.clone(),
            fake: fake.clone(),
            features: args.features.clone(),
            image_size: args.image_size,
            seed: args.seed,
            quiet: args.quiet,
        };
        let result = evaluate_folders(&request, &cache, &device)?;
        let out = args.out.clone().unwrap_or_else(|| PathBuf::from("eval-folders.json"));
        write_json(&out, &result)?;
        println!("{}; features: {}", result.summary(), result.features);
        println!("eval: {}", out.display());
        return Ok(());
    }
    let checkpoint = CheckpointChoice::parse(&args.checkpoint)?;
    let report = match (&args.run, &args.baseline) {
        (_, Some(kind)) => {
            let baseline = Baseline::parse(kind)?;
            let out = args.out.clone().unwrap_or_else(|| baseline_dir(kind));
            let settings = aigc::eval::images::ImageEvalSettings { n: args.n.unwrap_or(5000), seed: args.seed, quiet: args.quiet, cache };
            evaluate_baseline(baseline, &args.data, args.image_size, &out, &settings, &device)?
        }
        (Some(run), None) => {
            let request = EvalRequest { run: run.clone(), n: args.n, checkpoint, seed: args.seed, quiet: args.quiet, cache, sampler: args.sampling.settings(false) };
            match service::eval::evaluate(&request, &device)? {
                RunEvaluation::Images(report) => *report,
                RunEvaluation::Melodies(eval) => {
                    println!("{}", eval.row());
                    println!("eval: {}", RunDir::new(run).music_eval().display());
                    return Ok(());
                }
                RunEvaluation::Text(eval) => {
                    println!("{}", eval.summary());
                    println!("sample: {:?}", eval.example.chars().take(200).collect::<String>());
                    println!("eval: {}", RunDir::new(run).text_eval().display());
                    return Ok(());
                }
            }
        }
        (None, None) => unreachable!("clap requires --run, --baseline or --real/--fake"),
    };
    println!("{}", report.summary());
    println!("eval:          {}", report.run.join("eval.json").display());
    println!("closest pairs: {}", report.memorisation.closest_pairs.display());
    Ok(())
}

fn serve(runs: PathBuf, addr: std::net::SocketAddr, token: Option<String>, device: Device) -> aigc::Result<()> {
    if !runs.exists() {
        std::fs::create_dir_all(&runs).map_err(|e| AigcError::io(&runs, e))?;
    }
    let config = aigc_serve::ServeConfig { runs: runs.clone(), addr, token: token.clone(), device, queues: aigc_serve::QueueLimits::default() };
    let server = aigc_serve::spawn(&config)?;
    let count = service::runs::summarize_runs(&runs).map(|r| r.len()).unwrap_or(0);
    eprintln!("aigc serve: {count} runs under {}", runs.display());
    eprintln!("studio: http://{}/", server.addr);
    eprintln!("API:    http://{}/api/runs", server.addr);
    if token.is_some() {
        eprintln!("auth:   every /api request needs `Authorization: Bearer TOKEN` (the --token given)");
    } else {
        eprintln!("auth:   none; only this machine can connect ({}); off loopback --token is required", server.addr.ip());
    }
    eprintln!("Ctrl-C stops the server.");
    server.wait()
}

fn features_train(data: &str, image_size: u32, retrain: bool, quiet: bool, device: Device) -> aigc::Result<()> {
    use aigc::eval::feature_cache::{cache_dir, prepare_extractor};
    let splits = aigc::data::DataSource::parse(data).load(image_size)?;
    let extractor = prepare_extractor(data, &splits, &cache_dir(), &device, quiet, retrain)?;
    println!("feature network for {data}: {}", extractor.name());
    println!("cached in {}", cache_dir().join("features").display());
    Ok(())
}

fn data_sets() -> aigc::Result<()> {
    use aigc::data::catalog::{Kind, catalog};
    let sets = catalog();
    for (kind, heading) in [
        (Kind::Images, "images (train gan, train vae, train diffusion, eval; or --data FOLDER of PNG/JPEG, or an IDX file)"),
        (Kind::Text, "text (train text; or --data FILE.txt)"),
        (Kind::Music, "music (train music; or --data FILE.abc or a folder of .abc files)"),
        (Kind::Pictures, "pictures (style --content / --style; or any PNG/JPEG file)"),
    ] {
        println!("{heading}:");
        for d in sets.iter().filter(|d| d.kind == kind) {
            let state = match (d.available, d.install) {
                (true, None) => "embedded".to_string(),
                (true, Some(_)) => "installed".to_string(),
                (false, Some(how)) => format!("not installed: {how}"),
                (false, None) => "unavailable".to_string(),
            };
            println!("  {:<14} {}  [{state}]", d.name, d.about);
        }
    }
    println!("sources and licences: data/SOURCES.md");
    Ok(())
}

fn info(run: &Path) -> aigc::Result<()> {
    let description = service::runs::describe(run)?;
    let s = &description.summary;
    println!("run:      {}", s.path.display());
    match (&s.info, &s.baseline) {
        (Some(info), _) => {
            println!("family:   {} ({})", info.family, info.arch);
            let size = info.image_size.map(|px| format!(" at {px} px")).unwrap_or_default();
            println!("data:     {}{size}", info.data);
            let step = info.step.map_or_else(|| "no checkpoint yet".to_string(), |s| format!("step {s}"));
            println!("trained:  {step}");
        }
        (None, Some(kind)) => println!("baseline: {kind} (an `aigc eval --baseline` report, not a trained run)"),
        (None, None) => {}
    }
    if let Some(problem) = &s.problem {
        println!("problem:  {problem}");
    }
    for record in &description.last_records {
        println!("logged:   {}", compact_record(record));
    }
    if let Some((name, value)) = &s.best_metric {
        println!("best:     {name} {value:.4}");
    }
    if !description.config.is_empty() {
        println!("config ({}):", RunDir::new(run).config().display());
        for line in description.config.lines().filter(|l| !l.trim().is_empty()) {
            println!("  {line}");
        }
    }
    if !description.commands.is_empty() {
        println!("commands that fit it:");
        for c in &description.commands {
            println!("  {:<64} # {}", c.command, c.what);
        }
    }
    Ok(())
}

/// A metrics record as `key value` pairs, numbers rounded to four significant decimals.
fn compact_record(record: &serde_json::Value) -> String {
    let Some(fields) = record.as_object() else { return record.to_string() };
    fields
        .iter()
        .map(|(k, v)| match v.as_f64() {
            Some(x) if v.is_f64() => format!("{k} {x:.4}"),
            _ => format!("{k} {v}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

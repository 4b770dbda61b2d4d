//! The binary: bad flags and bad input give one clear line and a non-zero exit, never a panic;
//! a tiny training run, sampling and the runs listing work end to end.

use std::path::Path;
use std::process::{Command, Output};

fn aigc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aigc")).args(args).current_dir(cwd).output().expect("runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_clean_failure(out: &Output, expected: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "panic instead of an error: {err}");
    for needle in expected {
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    }
}

#[test]
fn bad_flags_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    assert_clean_failure(&aigc(&["train", "gan", "--loss", "hinge2"], cwd), &["--loss", "wgan-gp or r1"]);
    assert_clean_failure(&aigc(&["train", "text", "--arch", "rnn", "--out", "t"], cwd), &["--arch", "gpt, lstm or gru"]);
    assert_clean_failure(&aigc(&["train", "text", "--data", "nope.txt", "--out", "t"], cwd), &["nope.txt", "not found"]);
    assert_clean_failure(&aigc(&["generate", "--run", "missing-run"], cwd), &["missing-run", "not found"]);
    assert_clean_failure(&aigc(&["poem", "--run", "missing-run", "--form", "宋词"], cwd), &["missing-run"]);
    // A model size the data cannot have without resizing (the DCGAN is defined for 28, 32, 64 px).
    let dcgan_25 = aigc(&["train", "gan", "--arch", "dcgan", "--data", "faces-100", "--image-size", "25", "--out", "r"], cwd);
    assert_clean_failure(&dcgan_25, &["--image-size", "28, 32, 64", "25"]);
    // A conditional GAN needs labels; the embedded faces have none.
    let unlabelled = aigc(&["train", "gan", "--conditional", "--data", "faces-100", "--out", "r"], cwd);
    assert_clean_failure(&unlabelled, &["--conditional", "labelled"]);
    assert_clean_failure(&aigc(&["train", "gan", "--critic-norm", "group", "--out", "r"], cwd), &["--critic-norm", "batch, layer or none"]);
    assert_clean_failure(&aigc(&["train", "gan", "--steps", "ten"], cwd), &["--steps", "invalid digit"]);
    assert_clean_failure(&aigc(&["train", "gan", "--batch-size", "0", "--out", "r"], cwd), &["--batch-size", "at least 1"]);
    assert_clean_failure(&aigc(&["train", "gan", "--lr", "-1", "--out", "r"], cwd), &["--lr", "positive"]);
    assert_clean_failure(&aigc(&["train", "gan", "--arch", "vit", "--out", "r"], cwd), &["--arch", "unknown architecture"]);
    assert_clean_failure(&aigc(&["train", "gan", "--data", "no/such/dir", "--out", "r"], cwd), &["no/such/dir", "not found"]);
    assert_clean_failure(&aigc(&["--device", "tpu", "runs"], cwd), &["--device", "unknown device"]);
    if !cfg!(feature = "wgpu") {
        assert_clean_failure(&aigc(&["--device", "wgpu", "runs"], cwd), &["--device", "--features wgpu"]);
    }
    assert_clean_failure(&aigc(&["sample", "--run", "runs/missing"], cwd), &["runs/missing", "not found"]);
    assert_clean_failure(&aigc(&["train", "gan", "--resume", "--out", "fresh"], cwd), &["--resume", "no checkpoint"]);
    assert_clean_failure(&aigc(&["bench", "w9"], cwd), &["w9", "w1, w2, w3, w4, w4-sample, w4-sample-uncached, w5 or w5-sample"]);
    assert_clean_failure(&aigc(&["eval", "--run", "runs/missing"], cwd), &["runs/missing", "not found"]);
    assert_clean_failure(&aigc(&["eval", "--run", "r", "--checkpoint", "newest"], cwd), &["--checkpoint", "latest, best or a step"]);
    assert_clean_failure(&aigc(&["features", "train", "--data", "no/such"], cwd), &["no/such", "not found"]);
    assert_clean_failure(&aigc(&["train", "music", "--arch", "transformer", "--out", "m"], cwd), &["--arch", "gpt, lstm, gru or markov"]);
    assert_clean_failure(&aigc(&["train", "music", "--data", "no/tunes", "--out", "m"], cwd), &["no/tunes", "not found"]);
    assert_clean_failure(&aigc(&["train", "music", "--order", "0", "--out", "m"], cwd), &["--order", "between 1 and 32"]);
    std::fs::write(cwd.join("cut.mid"), b"MThd\0\0\0\x06\0\x01").unwrap();
    assert_clean_failure(&aigc(&["train", "music", "--data", "cut.mid", "--out", "m"], cwd), &["--data", "cut.mid", "truncated"]);
    assert_clean_failure(&aigc(&["compose", "--run", "missing-run"], cwd), &["missing-run", "not found"]);
    assert_clean_failure(&aigc(&["style", "--style", "nope.png", "--out", "s.png"], cwd), &["nope.png", "not found"]);
    assert_clean_failure(&aigc(&["style", "--style", "brick", "--features", "vgg19", "--out", "s.png"], cwd), &["--features", "--weights"]);
    assert_clean_failure(&aigc(&["style", "--style", "brick", "--size", "8", "--out", "s.png"], cwd), &["--size"]);
    assert_clean_failure(&aigc(&["inpaint", "--run", "missing-run", "--heldout", "1", "--out", "i.png"], cwd), &["missing-run"]);
    assert_clean_failure(&aigc(&["eval", "inpaint", "--run", "missing-run", "--masks", "star"], cwd), &["--masks", "centre, random or half"]);
    // Nothing was half-written by the failures above.
    assert!(!cwd.join("r").exists() && !cwd.join("fresh").join("config.toml").exists() && !cwd.join("m").exists());
    assert!(!cwd.join("s.png").exists() && !cwd.join("i.png").exists());
}

/// The Markov melody baseline trains in seconds; compose writes ABC, MIDI and WAV; bad keys,
/// meters and primers are explained; eval reports the melody metrics.
#[test]
fn music_trains_composes_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = aigc(&["train", "music", "--arch", "markov", "--out", "mk", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1838 tunes read, 2 skipped"), "{}", stdout(&out));
    let out = aigc(&["compose", "--run", "mk", "--key", "Ador", "--meter", "4/4", "--bars", "4", "--primer", "eA", "--out", "t"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("K:Ador") && stdout(&out).contains("M:4/4"), "{}", stdout(&out));
    for ext in ["abc", "mid", "wav"] {
        assert!(std::fs::metadata(cwd.join(format!("t.{ext}"))).unwrap().len() > 50, "t.{ext}");
    }
    assert_clean_failure(&aigc(&["compose", "--run", "mk", "--key", "H#"], cwd), &["--key", "ABC key"]);
    assert_clean_failure(&aigc(&["compose", "--run", "mk", "--meter", "7/0"], cwd), &["--meter"]);
    assert_clean_failure(&aigc(&["compose", "--run", "mk", "--meter", "11/16"], cwd), &["--meter", "not in the data the model learned"]);
    assert_clean_failure(&aigc(&["compose", "--run", "mk", "--primer", "c8", "--out", "u"], cwd), &["--primer", "crosses a bar line"]);
    assert!(!cwd.join("u.abc").exists());
    let out = aigc(&["eval", "--run", "mk", "--n", "5"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("notes in key") && cwd.join("mk/eval-music.json").exists(), "{}", stdout(&out));
}

#[test]
fn bad_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), "batch_sise = 32\n").unwrap();
    assert_clean_failure(&aigc(&["train", "gan", "--config", "c.toml"], dir.path()), &["c.toml", "unknown key \"batch_sise\""]);
    // The known keys include the optional ones (unset by default).
    assert_clean_failure(&aigc(&["train", "gan", "--config", "c.toml"], dir.path()), &["batch_size", " lr,", "r1_gamma", "steps"]);
    std::fs::write(dir.path().join("d.toml"), "batch_size = \"big\"\n").unwrap();
    assert_clean_failure(&aigc(&["train", "gan", "--config", "d.toml"], dir.path()), &["d.toml"]);
    std::fs::write(dir.path().join("e.toml"), "this is not toml").unwrap();
    assert_clean_failure(&aigc(&["train", "gan", "--config", "e.toml"], dir.path()), &["e.toml", "TOML"]);
}

#[test]
fn bad_image_data_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pics");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.png"), b"garbage").unwrap();
    let out = aigc(&["train", "gan", "--data", "pics", "--out", "r", "--steps", "1"], dir.path());
    assert_clean_failure(&out, &["a.png", "unreadable image"]);
    assert!(!dir.path().join("r").exists(), "no run directory for a failed start");
}

#[test]
fn train_sample_resume_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("small.toml"), "batch_size = 8\nsample_every = 2\ncheckpoint_every = 2\nlog_every = 1\n").unwrap();
    let args = ["train", "gan", "--config", "small.toml", "--steps", "2", "--out", "runs/tiny", "--quiet"];
    let out = aigc(&args, cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("runs/tiny/samples.png"));
    // A second start into the same run is refused; --resume continues it, with flags overriding.
    assert_clean_failure(&aigc(&args, cwd), &["--resume"]);
    let out = aigc(&["train", "gan", "--out", "runs/tiny", "--resume", "--steps", "4", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("trained 4 steps"), "{}", stdout(&out));
    let config = std::fs::read_to_string(cwd.join("runs/tiny/config.toml")).unwrap();
    assert!(config.contains("batch_size = 8") && config.contains("steps = 4"), "{config}");

    let out = aigc(&["sample", "--run", "runs/tiny", "--n", "9", "--seed", "3", "--out", "g.png", "--individual", "each"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let grid = image::open(cwd.join("g.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (3 * 30 + 2, 3 * 30 + 2));
    assert_eq!(std::fs::read_dir(cwd.join("each")).unwrap().count(), 9);
    assert_clean_failure(&aigc(&["sample", "--run", "runs/tiny", "--n", "0"], cwd), &["--n"]);
    assert_clean_failure(&aigc(&["sample", "--run", "runs/tiny", "--checkpoint", "3"], cwd), &["step-00000003", "no checkpoint"]);

    let out = aigc(&["runs"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(listing.contains("runs/tiny") && listing.contains("d_loss") && listing.contains(" 4 "), "{listing}");
    // Without any eval.json, the report says what to run.
    let out = aigc(&["report"], cwd);
    assert!(out.status.success() && stdout(&out).contains("aigc eval --run"), "{}", stdout(&out));
}

#[test]
fn conditional_dcgan_and_vae_train_sample_and_interpolate() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let gan = ["train", "gan", "--arch", "dcgan", "--loss", "wgan-gp", "--conditional", "--diffaugment", "--steps", "1"];
    let out = aigc(&[&gan[..], &["--batch-size", "4", "--out", "runs/cgan", "--quiet"]].concat(), cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    // One row per class (10 × 8) in the run's grid; `--class` draws one class.
    let grid = image::open(cwd.join("runs/cgan/samples.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (8 * 30 + 2, 10 * 30 + 2));
    let out = aigc(&["sample", "--run", "runs/cgan", "--class", "7", "--n", "4", "--out", "sevens.png"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_clean_failure(&aigc(&["sample", "--run", "runs/cgan", "--class", "10"], cwd), &["--class", "0..9"]);

    let out = aigc(&["train", "vae", "--arch", "conv", "--steps", "2", "--batch-size", "8", "--out", "runs/vae", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("held-out -ELBO"), "{}", stdout(&out));
    assert!(cwd.join("runs/vae/reconstructions.png").is_file());
    let out = aigc(&["sample", "--run", "runs/vae", "--interpolate", "--n", "30"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let strips = image::open(cwd.join("runs/vae/interpolation-seed1.png")).unwrap();
    assert_eq!((strips.width(), strips.height()), (10 * 30 + 2, 3 * 30 + 2));
    assert!(cwd.join("runs/vae/interpolation-seed1.gif").is_file());
    assert_clean_failure(&aigc(&["sample", "--run", "runs/vae", "--class", "1"], cwd), &["--class", "not a conditional run"]);
    assert_clean_failure(&aigc(&["train", "vae", "--arch", "gru", "--out", "r"], cwd), &["--arch", "mlp or conv"]);

    // A diffusion run samples like the others, plus its sampler's flags; they are errors elsewhere.
    let out = aigc(&["train", "diffusion", "--widths", "16,32", "--steps", "2", "--batch-size", "8", "--sample-steps", "3", "--out", "runs/diff", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("loss") && cwd.join("runs/diff/denoising.png").is_file(), "{}", stdout(&out));
    let out = aigc(&["sample", "--run", "runs/diff", "--strip", "--n", "2", "--sampler", "heun", "--sample-steps", "2", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let strip = image::open(cwd.join("runs/diff/denoising-seed1.png")).unwrap();
    assert_eq!((strip.width(), strip.height()), (10 * 30 + 2, 30 + 2));
    assert_clean_failure(&aigc(&["sample", "--run", "runs/diff", "--sample-steps", "0"], cwd), &["--sample-steps", "at least 1"]);
    assert_clean_failure(&aigc(&["sample", "--run", "runs/diff", "--guidance", "2"], cwd), &["--guidance", "class-conditional"]);
    assert_clean_failure(&aigc(&["sample", "--run", "runs/diff", "--sampler", "ddim"], cwd), &["--sampler", "euler or heun"]);
    assert_clean_failure(&aigc(&["sample", "--run", "runs/vae", "--sample-steps", "10"], cwd), &["--sample-steps", "only diffusion"]);
    assert_clean_failure(&aigc(&["train", "diffusion", "--widths", "16,32,64,128", "--out", "r"], cwd), &["--widths", "28 px"]);
}

#[test]
fn bench_prints_the_reference_result_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = aigc(&["bench", "w1", "--steps", "2"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.starts_with("RESULT aigc-burn-flex") && line.contains(" w1 median_ms=") && line.contains("params=2946577"), "{line}");
    // W2 counts trainable parameters as PyTorch does (../shared/peers/SPEC.md).
    let out = aigc(&["bench", "w2", "--steps", "1"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(" w2 median_ms=") && stdout(&out).contains("params=1932994"), "{}", stdout(&out));
    // W5's sampling: TinyUNet's parameters, and the throughput it implies.
    let out = aigc(&["bench", "w5-sample", "--steps", "1"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(" w5-sample median_ms=") && stdout(&out).contains("params=2116705"), "{}", stdout(&out));
    assert!(stderr(&out).contains("images/s at 50 DDIM steps, batch 250"), "{}", stderr(&out));
}

/// Style transfer writes its image (and intermediate ones); inpainting with a VAE run repairs a
/// held-out digit or a PNG, and explains bad masks, a method the run does not have and a
/// diffusion-only flag.
#[test]
fn style_and_inpaint_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = aigc(&["style", "--content", "chelsea", "--style", "brick", "--size", "32", "--steps", "6", "--every", "3", "--out", "s.png", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("style loss") && stdout(&out).contains("× lower"), "{}", stdout(&out));
    assert_eq!(image::open(cwd.join("s.png")).unwrap().width(), 32);
    assert!(cwd.join("s-00003.png").exists());
    let out = aigc(&["train", "vae", "--epochs", "1", "--out", "v", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = aigc(&["inpaint", "--run", "v", "--heldout", "0", "--mask-rect", "7,7,14,14", "--samples", "2", "--out", "i.png"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("196 hole pixels"), "{}", stdout(&out));
    assert_eq!(image::open(cwd.join("i.png")).unwrap().width() > 28 * 3, true);
    image::GrayImage::from_pixel(28, 28, image::Luma([0])).save(cwd.join("digit.png")).unwrap();
    image::GrayImage::from_pixel(20, 20, image::Luma([255])).save(cwd.join("small.png")).unwrap();
    image::GrayImage::from_pixel(28, 28, image::Luma([0])).save(cwd.join("black.png")).unwrap();
    let run = |extra: &[&str]| aigc(&[&["inpaint", "--run", "v", "--image", "digit.png", "--out", "j.png"], extra].concat(), cwd);
    assert_clean_failure(&run(&["--mask", "small.png"]), &["small.png", "20×20", "28×28"]);
    assert_clean_failure(&run(&["--mask", "black.png"]), &["no hole"]);
    assert_clean_failure(&run(&["--method", "latent"]), &["--method", "supports vae"]);
    assert_clean_failure(&run(&["--sample-steps", "10"]), &["--sample-steps", "only for diffusion runs", "vae"]);
    assert_clean_failure(&aigc(&["inpaint", "--run", "v", "--image", "small.png", "--out", "j.png"], cwd), &["small.png", "20×20"]);
    assert!(!cwd.join("j.png").exists());
    assert!(run(&[]).status.success());
}

//! aigc as a hostile or clumsy user meets it: it never replaces what is not its own, refuses a
//! second writer, verifies checkpoints and falls back past a damaged one, bounds what it
//! allocates, explains wrong-family runs, and a training killed at random moments resumes to the
//! same weights. Each refusal is a clear one-line error, fast, with nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn aigc_command(args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aigc"));
    command.args(args).current_dir(cwd).env("AIGC_CACHE_DIR", cwd.join("cache"));
    command
}

fn aigc(args: &[&str], cwd: &Path) -> Output {
    aigc_command(args, cwd).output().expect("runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The most memory a refusal may take.
const REFUSAL_MIB: u64 = 200;

/// Runs aigc and measures its peak resident memory in MiB (where the OS reports it).
fn aigc_measured(args: &[&str], cwd: &Path) -> (Output, Option<u64>) {
    #[cfg(target_os = "linux")]
    {
        use std::io::Read;
        use std::os::unix::process::ExitStatusExt;
        let mut child = aigc_command(args, cwd).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("runs");
        let read = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                pipe.read_to_end(&mut bytes).map(|_| bytes).unwrap_or_default()
            })
        };
        let (out, err) = (read(Box::new(child.stdout.take().unwrap())), read(Box::new(child.stderr.take().unwrap())));
        let mut status = 0;
        // SAFETY: waits for our own child; `usage` is plain data the kernel fills in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
        assert!(waited > 0, "wait4 failed");
        let output = Output { status: std::process::ExitStatus::from_raw(status), stdout: out.join().unwrap(), stderr: err.join().unwrap() };
        (output, Some(usage.ru_maxrss as u64 / 1024))
    }
    #[cfg(not(target_os = "linux"))]
    (aigc(args, cwd), None)
}

/// A clean failure within `seconds` and [`REFUSAL_MIB`], naming every `expected` part.
fn refused(args: &[&str], cwd: &Path, expected: &[&str], seconds: f64) -> String {
    let started = Instant::now();
    let (out, peak) = aigc_measured(args, cwd);
    let elapsed = started.elapsed().as_secs_f64();
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} should fail: {err}");
    assert!(!err.contains("panicked"), "{args:?}: panic instead of an error: {err}");
    for needle in expected {
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in: {err}");
    }
    assert!(elapsed < seconds, "{args:?} took {elapsed:.1} s to refuse");
    assert!(peak.is_none_or(|mib| mib < REFUSAL_MIB), "{args:?} took {peak:?} MiB to refuse");
    eprintln!("refused in {elapsed:.2} s, {} MiB: {args:?}", peak.map_or("?".into(), |m| m.to_string()));
    err
}

/// A finished 4-step MLP GAN run with a checkpoint every 2 steps.
fn tiny_gan(cwd: &Path, out: &str) -> PathBuf {
    let run = cwd.join(out);
    let ok = aigc(&["train", "gan", "--steps", "4", "--batch-size", "8", "--checkpoint-every", "2", "--sample-every", "2", "--out", out, "--quiet"], cwd);
    assert!(ok.status.success(), "{}", stderr(&ok));
    run
}

#[test]
fn outputs_never_replace_what_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    tiny_gan(cwd, "g");
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        refused(&["sample", "--run", "g", "--n", "4", "--out", "/dev/null"], cwd, &["/dev/null", "not a regular file"], 30.0);
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null is still a device");
        std::fs::write(cwd.join("mine.txt"), "keep").unwrap();
        std::os::unix::fs::symlink(cwd.join("mine.txt"), cwd.join("link.png")).unwrap();
        refused(&["sample", "--run", "g", "--n", "4", "--out", "link.png"], cwd, &["link.png", "symbolic link"], 30.0);
        assert_eq!(std::fs::read_to_string(cwd.join("mine.txt")).unwrap(), "keep");
    }
    // A folder of the user's is not a run: refused, untouched, unless --force.
    std::fs::create_dir(cwd.join("notes")).unwrap();
    std::fs::write(cwd.join("notes/config.txt"), "my notes").unwrap();
    refused(&["train", "gan", "--steps", "1", "--out", "notes"], cwd, &["--out", "not empty and not a run", "--force"], 10.0);
    assert_eq!(std::fs::read_dir(cwd.join("notes")).unwrap().count(), 1);
    refused(&["train", "gan", "--steps", "1", "--out", "/"], cwd, &["--out", "not empty and not a run"], 10.0);
    let forced = aigc(&["train", "gan", "--steps", "1", "--batch-size", "4", "--out", "notes", "--force", "--quiet"], cwd);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(std::fs::read_to_string(cwd.join("notes/config.txt")).unwrap(), "my notes");
}

#[test]
fn a_second_writer_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let mut first = aigc_command(&["train", "gan", "--steps", "100000", "--batch-size", "8", "--out", "busy", "--quiet"], cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !cwd.join("busy/samples/step-000000.png").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the first training never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its first checkpoint is far away: a fresh start sees no checkpoint but must not write.
    refused(&["train", "gan", "--steps", "2", "--out", "busy", "--force"], cwd, &["--out", "being written by another aigc process"], 10.0);
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn damaged_checkpoints_are_detected_and_the_newest_good_one_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let run = tiny_gan(cwd, "g");
    let newest = run.join("checkpoints/step-00000004");
    let mut bytes = std::fs::read(newest.join("generator-ema.bpk")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(newest.join("generator-ema.bpk"), &bytes).unwrap();
    refused(&["sample", "--run", "g", "--checkpoint", "4", "--out", "x.png"], cwd, &["generator-ema.bpk", "damaged", "checksum"], 30.0);
    let out = aigc(&["sample", "--run", "g", "--n", "4", "--out", "fallback.png"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("step-00000002"), "the fallback is said: {}", stderr(&out));
    // --resume continues from step 2 and rewrites step 4.
    let out = aigc(&["train", "gan", "--out", "g", "--resume", "--quiet"], cwd);
    assert!(out.status.success() && stdout(&out).contains("trained 4 steps"), "{}", stderr(&out));
    assert!(aigc(&["sample", "--run", "g", "--checkpoint", "4", "--n", "4", "--out", "y.png"], cwd).status.success());
    // A truncated state file is a damaged checkpoint too.
    std::fs::write(run.join("checkpoints/step-00000004/state.json"), "{\"step\": 4").unwrap();
    assert!(aigc(&["sample", "--run", "g", "--n", "4", "--out", "z.png"], cwd).status.success());
    // Without its config a run is not resumed with default settings.
    std::fs::write(run.join("config.toml"), "").unwrap();
    refused(&["train", "gan", "--out", "g", "--resume"], cwd, &["config.toml", "empty"], 10.0);
    std::fs::remove_file(run.join("config.toml")).unwrap();
    refused(&["train", "gan", "--out", "g", "--resume"], cwd, &["config.toml"], 10.0);
}

/// The header (tensor names, shapes, offsets; not burn's metadata) and the data of a run's
/// exported generator.
fn safetensors(run: &str, cwd: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(cwd.join(run).join("generator.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header.as_object_mut().unwrap().remove("__metadata__");
    (header, bytes[8 + n..].to_vec())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sizes_are_bounded_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    refused(&["train", "gan", "--image-size", "100000", "--out", "a"], cwd, &["--image-size", "limit"], 5.0);
    std::fs::write(cwd.join("wide.toml"), "latent_dim = 10000000\n").unwrap();
    refused(&["train", "gan", "--config", "wide.toml", "--out", "b"], cwd, &["--latent-dim: training would need about", "GiB"], 5.0);
    refused(&["train", "text", "--n-embd", "100000", "--out", "c"], cwd, &["--n-embd", "training would need about"], 5.0);
    refused(&["train", "text", "--batch-size", "1000000", "--out", "d"], cwd, &["--batch-size", "training would need about", "--memory-limit-gib"], 5.0);
    // An explicit limit replaces the machine's: a small model that fits is refused under 1 GiB of a
    // limit only when it needs more.
    refused(&["--memory-limit-gib", "1", "train", "text", "--n-embd", "2048", "--out", "d"], cwd, &["--n-embd", "1.0 GiB are available"], 5.0);
    tiny_gan(cwd, "g");
    refused(&["sample", "--run", "g", "--n", "100000000"], cwd, &["--n", "more than"], 10.0);
    refused(&["eval", "--run", "g", "--n", "100000000"], cwd, &["--n", "between 2 and 100000"], 10.0);
    #[cfg(unix)]
    {
        refused(&["train", "gan", "--config", "/dev/zero", "--out", "e"], cwd, &["/dev/zero", "not a regular file"], 5.0);
        refused(&["style", "--style", "brick", "--features", "vgg19", "--weights", "/dev/zero", "--out", "s.png"], cwd, &["/dev/zero", "not a regular file"], 5.0);
        // A FIFO where the metrics log should be neither hangs the listing nor hides the run.
        let fifo = cwd.join("g/metrics.jsonl");
        std::fs::remove_file(&fifo).unwrap();
        let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
        let started = Instant::now();
        let out = aigc(&["runs", "."], cwd);
        let listing = stdout(&out);
        assert!(out.status.success() && started.elapsed() < Duration::from_secs(5), "{}", stderr(&out));
        assert!(listing.contains("gan mlp") && listing.contains("metrics.jsonl") && listing.contains("not a regular file"), "{listing}");
    }
    // A gzip IDX whose data inflates far past what its header declares stops at the header's size.
    let mut header = vec![0u8, 0, 8, 3];
    for d in [10u32, 28, 28] {
        header.extend_from_slice(&d.to_be_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &header).unwrap();
    for _ in 0..64 {
        std::io::Write::write_all(&mut gz, &vec![0u8; 1 << 20]).unwrap();
    }
    std::fs::create_dir(cwd.join("bomb")).unwrap();
    std::fs::write(cwd.join("bomb/train-images-idx3-ubyte.gz"), gz.finish().unwrap()).unwrap();
    refused(&["train", "gan", "--data", "bomb", "--out", "f"], cwd, &["train-images-idx3-ubyte.gz", "longer than its dimensions"], 5.0);
    for run in ["a", "b", "c", "d", "e", "f"] {
        assert!(!cwd.join(run).exists(), "{run}: a failed start writes nothing");
    }
}

#[test]
fn wrong_family_runs_say_what_they_are_and_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    tiny_gan(cwd, "g");
    for command in ["generate", "poem", "compose"] {
        refused(&[command, "--run", "g"], cwd, &["a gan (mlp) run cannot", "aigc sample --run g"], 10.0);
    }
    assert!(aigc(&["train", "music", "--arch", "markov", "--out", "m", "--quiet"], cwd).status.success());
    refused(&["sample", "--run", "m"], cwd, &["a music (markov) run cannot draw images", "aigc compose --run m"], 10.0);
    refused(&["inpaint", "--run", "m", "--heldout", "0"], cwd, &["cannot inpaint images", "aigc compose"], 10.0);
    // Nine tunes are enough: one is held out.
    let tunes: String = (1..=9).map(|i| format!("X:{i}\nT:t{i}\nM:6/8\nL:1/8\nK:G\nGAB cde|dcB AGF|G3 G3|]\n\n")).collect();
    std::fs::write(cwd.join("nine.abc"), tunes).unwrap();
    let out = aigc(&["train", "music", "--arch", "markov", "--data", "nine.abc", "--out", "n", "--quiet"], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    // Control characters of a data file reach the terminal escaped.
    std::fs::write(cwd.join("bad\u{1b}[31m.abc"), "X:1\nT:only a header\n").unwrap();
    let err = refused(&["train", "music", "--data", "bad\u{1b}[31m.abc", "--out", "o"], cwd, &["\\u{1b}"], 10.0);
    assert!(!err.contains('\u{1b}'), "a raw escape reached the terminal: {err:?}");
}

/// A training killed (SIGKILL) at random moments, checkpoint writes included, and resumed each
/// time ends with exactly the weights, grid and metrics of an uninterrupted run.
#[test]
fn a_training_killed_at_random_moments_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let args = |out: &str, resume: bool| {
        let mut a = vec!["train", "gan", "--steps", "300", "--batch-size", "32", "--checkpoint-every", "3", "--sample-every", "100", "--out", out, "--quiet"];
        if resume {
            a.push("--resume");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: &[String]| aigc(&a.iter().map(String::as_str).collect::<Vec<_>>(), cwd);
    assert!(run(&args("straight", false)).status.success());
    // Kill after 1.2 s, 1.6 s, 2.0 s, … of each attempt (starting takes about a second).
    let (mut kills, mut finished) = (0, false);
    let has_checkpoint = || {
        std::fs::read_dir(cwd.join("killed/checkpoints")).is_ok_and(|mut d| d.any(|e| e.unwrap().file_name().to_string_lossy().starts_with("step-")))
    };
    for attempt in 0..20 {
        let a = args("killed", has_checkpoint());
        let mut child = aigc_command(&a.iter().map(String::as_str).collect::<Vec<_>>(), cwd).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(1200 + 400 * attempt));
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "attempt {attempt} failed");
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    if !finished {
        let last = run(&args("killed", has_checkpoint()));
        assert!(last.status.success(), "{}", stderr(&last));
    }
    assert!(kills >= 2, "only {kills} kills happened");
    eprintln!("{kills} kills survived");
    assert_eq!(safetensors("straight", cwd), safetensors("killed", cwd), "generator weights differ after {kills} kills");
    let grid = |run: &str| std::fs::read(cwd.join(run).join("samples.png")).unwrap();
    assert_eq!(grid("straight"), grid("killed"));
    let losses = |run: &str| -> Vec<String> {
        std::fs::read_to_string(cwd.join(run).join("metrics.jsonl")).unwrap().lines().map(|l| l.split("\"elapsed_s\"").next().unwrap().to_string()).collect()
    };
    assert_eq!(losses("straight"), losses("killed"), "the metrics log repeats or misses lines");
}

/// A disk that fills up mid-checkpoint: the run stops with an error naming the file, and its last
/// committed checkpoint stays intact (it samples). Needs a mount namespace (`unshare -rm`, root
/// or unprivileged user namespaces) for a small tmpfs.
#[test]
fn a_full_disk_keeps_the_last_checkpoint() {
    if !Command::new("unshare").args(["-rm", "true"]).status().is_ok_and(|s| s.success()) {
        eprintln!("skipped: this machine gives no mount namespace for a small tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let aigc = env!("CARGO_BIN_EXE_aigc");
    // An MLP VAE checkpoint (model and Adam state) is 7.8 MB: the third does not fit in 20 MB.
    let script = format!(
        "mount -t tmpfs -o size=20m tmpfs '{disk}' && cd '{disk}' && \
         '{aigc}' train vae --steps 40 --batch-size 16 --checkpoint-every 5 --sample-every 5 --out v --quiet; echo \"train=$?\"; \
         '{aigc}' sample --run v --n 4 --out ../s.png; echo \"sample=$?\"",
        disk = disk.display()
    );
    let out = Command::new("unshare").args(["-rm", "sh", "-c", &script]).env("AIGC_CACHE_DIR", dir.path().join("cache")).output().unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("train=1"), "training should stop: {text} {err}");
    assert!(err.contains("No space left on device") && !err.contains("panicked"), "{err}");
    assert!(text.contains("sample=0") && dir.path().join("s.png").is_file(), "the last checkpoint samples: {text} {err}");
}

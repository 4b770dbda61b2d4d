//! Runs written before the run manifest (by commit 8f68984; `tests/fixtures/runs-v0`, see its
//! README) still open through the one dispatch, for every family: they sample, interpolate,
//! inpaint, evaluate, generate, compose, list, and a text run even resumes.

use std::path::{Path, PathBuf};

use aigc::burn::tensor::Device;
use aigc::families::{self, Capability};
use aigc::run::{CheckpointChoice, RunDir};
use aigc::sample::text::SamplingConfig;
use aigc::service;

/// A copy of the fixtures (evaluations write into the run directories).
fn fixtures() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs-v0");
    copy_dir(&src, dir.path());
    let root = dir.path().to_path_buf();
    (dir, root)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() { copy_dir(&path, &target) } else { std::fs::copy(&path, &target).map(|_| ()).unwrap() }
    }
}

fn sampling() -> SamplingConfig {
    SamplingConfig { temperature: 0.8, top_k: 0, top_p: 1.0 }
}

#[test]
fn old_runs_are_listed_with_their_family() {
    let (_keep, root) = fixtures();
    let summaries = service::runs::summarize_runs(&root).unwrap();
    let families: Vec<(String, &str, String)> = summaries
        .iter()
        .map(|s| {
            let info = s.info.as_ref().unwrap_or_else(|| panic!("{}: {:?}", s.path.display(), s.problem));
            (s.path.file_name().unwrap().to_string_lossy().into_owned(), info.family, info.arch.clone())
        })
        .collect();
    let expected = [("gan-mlp", "gan", "mlp"), ("music-lstm", "music", "lstm"), ("music-markov", "music", "markov"), ("text-gpt", "text", "gpt"), ("text-lstm", "text", "lstm"), ("vae-mlp", "vae", "mlp")];
    let expected: Vec<(String, &str, String)> = expected.iter().map(|(n, f, a)| (n.to_string(), *f, a.to_string())).collect();
    assert_eq!(families, expected);
    assert_eq!(summaries[0].step, Some(20));
}

#[test]
fn old_image_runs_sample_interpolate_inpaint_and_evaluate() {
    let (_keep, root) = fixtures();
    let device = Device::flex();
    let (gan, vae) = (root.join("gan-mlp"), root.join("vae-mlp"));
    let request = |run: &Path, interpolate| service::images::ImagesRequest {
        run: run.to_path_buf(),
        n: 16,
        seed: 3,
        class: None,
        interpolate,
        strip: false,
        checkpoint: CheckpointChoice::Latest,
        sampler: Default::default(),
    };
    // The conditional GAN draws one row per class, rounded up: 2 columns × 10 classes.
    let images = service::images::images(&request(&gan, false), &device).unwrap();
    assert_eq!((images.count(), images.cols, images.step, images.shape.height), (20, 2, 20, 8));
    assert!(images.values.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(images.values.iter().any(|&v| v != images.values[0]), "not a blank grid");
    let strips = service::images::images(&request(&vae, true), &device).unwrap();
    assert_eq!((strips.count(), strips.cols), (20, 10));
    // Inpainting is offered by the unconditional VAE only.
    let opened = families::open(&gan).unwrap();
    assert!(!opened.info().capabilities.contains(&Capability::Inpainting));
    assert!(opened.inpainter(CheckpointChoice::Latest, &device).is_err());
    let inpaint = service::inpaint::InpaintRequest {
        run: vae.clone(),
        image: service::inpaint::InpaintImage::Heldout(0),
        mask: service::inpaint::InpaintMask::Centre,
        method: None,
        samples: 2,
        settings: Default::default(),
    };
    let repaired = service::inpaint::inpaint(&inpaint, &device).unwrap();
    assert_eq!((repaired.method, repaired.holes, repaired.columns), ("vae", 16, 4));
    // Both evaluate with the digits' feature network at 8 px (trained once, shared).
    let cache = root.join("cache");
    for run in [&gan, &vae] {
        let request = service::eval::EvalRequest { run: run.clone(), n: Some(100), checkpoint: CheckpointChoice::Latest, seed: 1, quiet: true, cache: cache.clone(), sampler: Default::default() };
        let service::eval::RunEvaluation::Images(report) = service::eval::evaluate(&request, &device).unwrap() else { panic!("an image run") };
        assert_eq!((report.step, report.comparison.generated), (20, 100));
        assert!(report.comparison.fid.is_finite() && RunDir::new(run).image_eval().is_file());
        assert_eq!(report.label_accuracy.is_some(), run == &gan, "the conditional GAN reports label accuracy");
    }
}

#[test]
fn old_text_runs_generate_and_resume() {
    let (_keep, root) = fixtures();
    let device = Device::flex();
    for name in ["text-gpt", "text-lstm"] {
        let model = service::text::text_model(&root.join(name), CheckpointChoice::Latest, &device).unwrap();
        let request = service::text::GenerateRequest { prompt: "ROMEO:".into(), max_tokens: 30, sampling: sampling(), seed: 2 };
        let generated = service::text::generate(&model, &request, |_| std::ops::ControlFlow::Continue(())).unwrap();
        assert_eq!((generated.tokens, generated.text.chars().count()), (30, 30), "{name}");
        let best = service::text::text_model(&root.join(name), CheckpointChoice::Best, &device);
        assert!(best.is_ok(), "{name}: best/ opens too");
    }
    // The old checkpoint resumes; the manifest gains its family.
    let run = root.join("text-gpt");
    let config = aigc::families::lm::saved_config(&RunDir::new(&run)).unwrap();
    let options = aigc::train::TrainOptions { resume: true, force: false, quiet: true, device: device.clone(), feature_cache: None, control: None };
    let outcome = aigc::families::lm::train(&config.with_steps(24), &run, &options).unwrap();
    assert_eq!(outcome.steps, 24);
    assert_eq!(RunDir::new(&run).manifest().unwrap().family.as_deref(), Some("text"));
}

#[test]
fn old_music_runs_compose_and_evaluate() {
    let (_keep, root) = fixtures();
    let device = Device::flex();
    for name in ["music-markov", "music-lstm"] {
        let run = root.join(name);
        let request = service::music::CompositionRequest {
            run: run.clone(),
            key: "D".into(),
            meter: "6/8".into(),
            bars: 4,
            primer: None,
            sampling: sampling(),
            seed: 4,
            tempo: 120.0,
            program: 73,
        };
        let composition = service::music::compose(&request, &device).unwrap();
        assert!(composition.abc.contains("K:D") && composition.abc.contains("M:6/8"), "{name}: {}", composition.abc);
        assert!(composition.midi.starts_with(b"MThd") && composition.wav.starts_with(b"RIFF"), "{name}");
        assert!((composition.seconds - 4.0 * 0.75 * 2.0).abs() < 1e-9, "{name}: four bars of 6/8 at 120 qpm");
        let request = service::eval::EvalRequest { run: run.clone(), n: Some(2), checkpoint: CheckpointChoice::Latest, seed: 1, quiet: true, cache: root.join("cache"), sampler: Default::default() };
        let service::eval::RunEvaluation::Melodies(eval) = service::eval::evaluate(&request, &device).unwrap() else { panic!("a melody run") };
        assert_eq!(eval.generated.stats.tunes, 2, "{name}");
        assert!(eval.summary.nll_per_event.is_finite() && RunDir::new(&run).music_eval().is_file(), "{name}");
    }
    // Asking a melody run for images names what it can do instead.
    let err = families::open(&root.join("music-markov")).unwrap().images(CheckpointChoice::Latest, &device).err().unwrap().to_string();
    assert!(err.contains("cannot draw images") && err.contains("compose melodies"), "{err}");
}

//! Seeded fuzzing of every parser a user can feed (stable Rust: a ChaCha-driven mutation loop
//! over a seed corpus, no cargo-fuzz): seeds made here plus the committed hostile inputs of
//! `tests/fixtures/fuzz`. Each case must give a value or an error — never a panic —
//! and the whole binary stays under a stated peak memory. The counts printed here are the
//! README's reliability table (`cargo test --release --test fuzz -- --nocapture`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Cases per parser (each a mutation of a seed input).
const CASES: usize = 400;

/// Mutates `seed`: flipped bits, overwritten, inserted or deleted bytes, truncation, repeats.
fn mutate(seed: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        let len = out.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = [0u8, 0xff, 0x7f, 0x80, b'\n', b'=', b'"', b'['][rng.random_range(0..8)];
            }
            2 => {
                let i = rng.random_range(0..=len);
                let bytes: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                out.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(32));
                out.drain(i..i + n);
            }
            4 if len > 0 => out.truncate(rng.random_range(0..len)),
            5 if len > 0 && len < 1 << 16 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(64));
                let chunk = out[i..i + n].to_vec();
                for _ in 0..rng.random_range(1..8) {
                    out.splice(i..i, chunk.iter().copied());
                }
            }
            _ => {
                // a big-endian u32 somewhere set to an extreme (sizes, dimensions, lengths)
                if len >= 4 {
                    let i = rng.random_range(0..len - 3);
                    let v: u32 = [u32::MAX, 1 << 31, 0, 65_535, 1 << 20][rng.random_range(0..5)];
                    out[i..i + 4].copy_from_slice(&v.to_be_bytes());
                }
            }
        }
    }
    out
}

/// Runs `parse` on `CASES` mutations of each seed; returns (cases, errors) and fails on a panic.
fn fuzz(name: &str, seeds: &[Vec<u8>], mut parse: impl FnMut(&[u8]) -> bool) -> (usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED ^ name.len() as u64);
    let (mut cases, mut errors) = (0, 0);
    for seed in seeds {
        for case in 0..CASES / seeds.len().max(1) {
            let input = if case == 0 { seed.clone() } else { mutate(seed, &mut rng) };
            match catch_unwind(AssertUnwindSafe(|| parse(&input))) {
                Ok(ok) => errors += usize::from(!ok),
                Err(_) => panic!("{name}: case {case} panicked on {} bytes: {:?}", input.len(), String::from_utf8_lossy(&input[..input.len().min(200)])),
            }
            cases += 1;
        }
    }
    println!("| {name} | {cases} | {errors} | 0 |");
    (cases, errors)
}

/// The committed seeds (`tests/fixtures/fuzz`, made by its `make.py`) whose names end in one of
/// `suffixes`: the hostile inputs of the robustness issue.
fn committed(suffixes: &[&str]) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    names.into_iter().filter(|p| suffixes.iter().any(|s| p.to_string_lossy().ends_with(s))).map(|p| std::fs::read(p).unwrap()).collect()
}

/// `generated` seeds followed by the committed ones.
fn seeds(generated: Vec<Vec<u8>>, suffixes: &[&str]) -> Vec<Vec<u8>> {
    let committed = committed(suffixes);
    assert!(!committed.is_empty(), "no committed seeds for {suffixes:?}");
    generated.into_iter().chain(committed).collect()
}

fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

fn png(width: u32, height: u32, rgb: bool) -> Vec<u8> {
    let image = if rgb {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7])))
    } else {
        image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(width, height, |x, y| image::Luma([(x * y) as u8])))
    };
    aigc::report::png_bytes(&image)
}

/// One test so the cases run one after the other and the peak memory is this binary's.
#[test]
fn every_parser_survives_mutated_input() {
    use aigc::data::idx::{encode_idx, parse_idx};
    println!("| input | cases | clean errors | panics |\n|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);

    let idx = encode_idx(&[3, 4, 4], &[9u8; 48]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &idx).unwrap();
    fuzz("IDX (raw and gzip)", &seeds(vec![idx.clone(), gz.finish().unwrap()], &[".idx", ".idx.gz"]), |b| parse_idx(b, Path::new("fuzz.idx")).is_ok());

    let pictures = seeds(vec![png(6, 5, false), png(4, 4, true)], &[".png"]);
    fuzz("pictures (PNG)", &pictures, |b| aigc::data::folder::decode_picture(b, Path::new("fuzz.png")).is_ok());
    let folder = path("pictures");
    fuzz("image folders", &pictures, |b| {
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("a.png"), b).unwrap();
        std::fs::write(folder.join("b.png"), &pictures[0]).unwrap();
        aigc::data::folder::load_image_folder(&folder, aigc::data::folder::FolderOptions { size: 8, channels: None }).is_ok()
    });

    let abc = b"X:1\nT:Fuzz\nM:6/8\nL:1/8\nQ:1/4=120\nK:Ador\n|:e2A A2B|c3 z (3Bcd|[1e>f g2-g/a/:|[2 {g}e2d ^c2=B|]\nX:2\nT:Two\nM:C|\nK:Bb\n[K:D] \"Am\"ABc !trill!d2 z4|\n".to_vec();
    fuzz("ABC", &seeds(vec![abc.clone()], &[".abc"]), |b| {
        let text = String::from_utf8_lossy(b);
        let (tunes, _) = aigc::music::abc::parse_collection(&text);
        for tune in &tunes {
            // what parses writes back to ABC that parses again
            let again = aigc::music::abc::write_abc(tune);
            assert!(aigc::music::abc::parse_tune(&again).is_ok(), "written ABC does not parse: {again}");
        }
        !tunes.is_empty()
    });

    let tune = aigc::music::abc::parse_tune("X:1\nM:3/4\nL:1/8\nK:G\nGAB c2d|e4 z2|]\n").unwrap();
    let midi = aigc::music::midi::write_midi(&tune, 100.0, 73);
    fuzz("MIDI", &seeds(vec![midi], &[".mid"]), |b| aigc::music::midi::read_midi(b).is_ok());

    let gan = aigc::run::Manifest::new("gan", &aigc::families::gan::GanTrainConfig::new()).unwrap().to_toml().into_bytes();
    let text = aigc::run::Manifest::new("text", &aigc::families::lm::TextTrainConfig::new()).unwrap().to_toml().into_bytes();
    let music = aigc::run::Manifest::new("music", &aigc::families::music::MusicTrainConfig::default()).unwrap().to_toml().into_bytes();
    fuzz("configs and run manifests", &seeds(vec![gan, text, music], &[".toml"]), |b| {
        std::fs::write(path("config.toml"), b).unwrap();
        let run = aigc::run::RunDir::new(dir.path());
        // through the one dispatch, then each family's typed reader
        let opened = aigc::families::open(dir.path()).is_ok();
        let typed = aigc::families::gan::saved_config(&run).is_ok() | aigc::families::lm::saved_config(&run).is_ok() | aigc::families::music::saved_config(&run).is_ok();
        opened || typed
    });

    let checkpoints = aigc::run::Checkpoints::new(path("checkpoints"), 3);
    let state = aigc::run::TrainState { step: 7, batches_seen: 9, rng_word_pos: 1 << 70, elapsed_s: 1.5 };
    let saved = checkpoints.save(&state, |d| Ok(std::fs::write(d.join("model.bpk"), b"weights").unwrap())).unwrap();
    let state_json = std::fs::read(saved.join("state.json")).unwrap();
    fuzz("checkpoint state", &seeds(vec![state_json], &["state.json", "checksum.json"]), |b| {
        std::fs::write(saved.join("state.json"), b).unwrap();
        checkpoints.at_step(7).is_ok()
    });

    let chars = aigc::data::text::CharVocab::from_text("ROMEO: 春").to_json().into_bytes();
    fuzz("text vocabularies", &seeds(vec![chars], &[".vocab.json"]), |b| {
        std::fs::write(path("vocab.json"), b).unwrap();
        aigc::data::text::CharVocab::load(&path("vocab.json")).is_ok()
    });
    let tokens = aigc::music::tokens::MusicVocab::from_tunes([&tune]).to_json().into_bytes();
    fuzz("music vocabularies", &seeds(vec![tokens], &[".vocab.json"]), |b| aigc::music::tokens::MusicVocab::from_json(&String::from_utf8_lossy(b)).is_ok());

    let weights = {
        use safetensors::tensor::{Dtype, TensorView};
        let data = vec![0u8; 4 * 64 * 3 * 3 * 3];
        let bias = vec![0u8; 4 * 64];
        let views = vec![
            ("features.0.weight".to_string(), TensorView::new(Dtype::F32, vec![64, 3, 3, 3], &data).unwrap()),
            ("features.0.bias".to_string(), TensorView::new(Dtype::F32, vec![64], &bias).unwrap()),
        ];
        safetensors::serialize(views, None).unwrap()
    };
    let device = aigc::burn::tensor::Device::flex();
    fuzz("safetensors weights", &seeds(vec![weights], &[".safetensors"]), |b| {
        std::fs::write(path("vgg.safetensors"), b).unwrap();
        aigc::apps::style::FeatureNet::vgg19(&path("vgg.safetensors"), &device).is_ok()
    });

    let peak = peak_memory_mib();
    println!("peak memory of the fuzzing binary: {peak:?} MiB");
    assert!(peak.is_none_or(|mib| mib < 400), "peak memory {peak:?} MiB");
}

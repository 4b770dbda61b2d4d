//! Metrics for unlabelled images (issue: faces borrowed the digits' network, and a 300-step GAN
//! of noise texture scored better than a GAN with visible faces). The faces' self-supervised
//! feature network ranks real faces above a trained model's faces, those above a 300-step GAN's
//! noise texture, and all above uniform noise, for FID and KID; noise and blur raise both
//! monotonically, as on the digits; colour photo folders without labels are measured too.

use std::sync::OnceLock;

use aigc::burn::tensor::Device;
use aigc::data::{DataSplits, embedded};
use aigc::eval::feature_cache::encoder_network;
use aigc::eval::{EncoderFeatures, FeatureExtractor, fid, kid};
use aigc::families;
use aigc::run::CheckpointChoice;
use aigc::sample::SampleLabels;
use aigc::train::TrainOptions;

struct Shared {
    splits: DataSplits,
    extractor: EncoderFeatures,
    _cache: tempfile::TempDir,
}

/// The faces and their encoder, trained once (the default config, as `aigc eval` trains it).
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let splits = embedded::faces_100().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let extractor = encoder_network(cache.path(), "faces-100", &splits, &Device::flex(), true, false).unwrap();
        eprintln!("{} in {:.1} s", extractor.name(), started.elapsed().as_secs_f64());
        // Cached: a second request loads the same network.
        let again = encoder_network(cache.path(), "faces-100", &splits, &Device::flex(), true, false).unwrap();
        assert_eq!(again.report.view_retrieval, extractor.report.view_retrieval);
        Shared { splits, extractor, _cache: cache }
    })
}

fn options() -> TrainOptions {
    TrainOptions { resume: false, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }
}

fn samples(run: &std::path::Path, n: usize) -> Vec<f32> {
    let generator = families::open(run).unwrap().images(CheckpointChoice::Latest, &Device::flex()).unwrap();
    generator.generate(n, 7, SampleLabels::Balanced)
}

/// The faces in two halves: the first is "real", the second the reference everything is
/// measured against.
fn halves() -> (Vec<f32>, Vec<f32>) {
    let train = &shared().splits.train;
    let faces = train.batch_values(&(0..train.len()).collect::<Vec<_>>());
    let half = faces.len() / 2;
    (faces[..half].to_vec(), faces[half..].to_vec())
}

/// FID and KID (unbiased, one subset of all 50) against the reference half.
fn scores(reference: &[f32], values: &[f32]) -> (f64, f64) {
    let e = &shared().extractor;
    let (r, f) = (e.features(reference), e.features(values));
    (fid(&r, &f), kid(&r, &f, 1, r.n, 1).mean)
}

#[test]
fn faces_rank_real_above_a_model_above_noise_texture_and_noise() {
    let s = shared();
    let (real, reference) = halves();
    let n = reference.len() / s.splits.train.shape.len();
    let vae = tempfile::tempdir().unwrap();
    let config = families::vae::VaeTrainConfig::new().with_data("faces-100".into()).with_image_size(25).with_steps(Some(1500)).with_batch_size(32);
    families::vae::train(&config, vae.path(), &options()).unwrap();
    // The noise texture: a GAN stopped after 300 steps.
    let early = tempfile::tempdir().unwrap();
    let config = families::gan::GanTrainConfig::new().with_data("faces-100".into()).with_image_size(25).with_steps(Some(300)).with_batch_size(32);
    families::gan::train(&config, early.path(), &options()).unwrap();
    let uniform: Vec<f32> = (0..reference.len()).map(hashed).collect();
    let ranked = [
        ("real faces", scores(&reference, &real)),
        ("VAE faces", scores(&reference, &samples(vae.path(), n))),
        ("300-step GAN", scores(&reference, &samples(early.path(), n))),
        ("uniform noise", scores(&reference, &uniform)),
    ];
    for (name, (fid, kid)) in &ranked {
        eprintln!("{name:>14}: FID {fid:8.3}  KID {kid:8.4}");
    }
    for pair in ranked.windows(2) {
        let ((better, (fid_a, kid_a)), (worse, (fid_b, kid_b))) = (pair[0], pair[1]);
        assert!(fid_a < fid_b, "FID: {better} {fid_a} should beat {worse} {fid_b}");
        assert!(kid_a < kid_b, "KID: {better} {kid_a} should beat {worse} {kid_b}");
    }
}

#[test]
fn noise_and_blur_raise_fid_and_kid_on_faces() {
    let s = shared();
    let (real, reference) = halves();
    let side = s.splits.train.shape.width;
    let check = |name: &str, disturbed: Vec<Vec<f32>>| {
        let measured: Vec<(f64, f64)> = disturbed.iter().map(|d| scores(&reference, d)).collect();
        eprintln!("{name}: {measured:.4?}");
        assert!(measured.windows(2).all(|w| w[1].0 > w[0].0), "{name}: FID not increasing {measured:?}");
        assert!(measured.windows(2).all(|w| w[1].1 > w[0].1), "{name}: KID not increasing {measured:?}");
    };
    let noisy = |level: f32| real.iter().enumerate().map(|(i, v)| (v + level * hashed(i)).clamp(-1.0, 1.0)).collect();
    check("noise", [0.0, 0.25, 0.5, 1.0].iter().map(|&l| noisy(l)).collect());
    check("blur", [0, 1, 2, 3].iter().map(|&r| box_blur(&real, side, r)).collect());
}

/// Colour photographs without labels: `aigc eval --real --fake` with `--features real` trains
/// an encoder on the real folder; crops of the same photographs score far better than crops
/// of textures and than colour noise.
#[test]
fn colour_folders_without_labels_are_measured_by_their_own_encoder() {
    use aigc::service::eval::{FoldersRequest, REAL_FEATURES, evaluate_folders};
    let dir = tempfile::tempdir().unwrap();
    let crops = |pictures: &[&str], n: usize, seed: usize, folder: &str| {
        let out = dir.path().join(folder);
        std::fs::create_dir_all(&out).unwrap();
        for i in 0..n {
            let picture = aigc::apps::style::load_picture(pictures[i % pictures.len()], "test").unwrap().to_rgb8();
            let k = (i * 7 + seed) * 2_654_435_761;
            let (x, y, size) = (k % 160, (k / 160) % 160, 64 + (k / 25_600) % 32);
            let crop = image::imageops::crop_imm(&picture, x as u32, y as u32, size as u32, size as u32).to_image();
            crop.save(out.join(format!("{i:03}.png"))).unwrap();
        }
        out
    };
    let photos = ["astronaut", "chelsea", "coffee"];
    let real = crops(&photos, 150, 1, "real");
    let more_real = crops(&photos, 60, 99, "more-real");
    let textures = crops(&["brick", "grass", "gravel"], 60, 5, "textures");
    let noise = dir.path().join("noise");
    std::fs::create_dir_all(&noise).unwrap();
    for i in 0..60 {
        let img = image::RgbImage::from_fn(24, 24, |x, y| {
            let h = |c: u32| (hashed((i * 24 * 24 + (y * 24 + x) as usize) * 3 + c as usize) * 127.5 + 127.5) as u8;
            image::Rgb([h(0), h(1), h(2)])
        });
        img.save(noise.join(format!("{i:03}.png"))).unwrap();
    }
    let cache = dir.path().join("cache");
    let measure = |fake: &std::path::Path| {
        let request = FoldersRequest { real: real.clone(), fake: fake.to_path_buf(), features: REAL_FEATURES.into(), image_size: 24, seed: 1, quiet: true };
        evaluate_folders(&request, &cache, &Device::flex()).unwrap()
    };
    let (same, texture, noise) = (measure(&more_real), measure(&textures), measure(&noise));
    eprintln!("colour crops: same photos FID {:.3} KID {:.4}; textures FID {:.3} KID {:.4}; noise FID {:.3} KID {:.4}", same.fid, same.kid.mean, texture.fid, texture.kid.mean, noise.fid, noise.kid.mean);
    assert!(same.features.starts_with("simclr-encoder:"), "{}", same.features);
    assert!(same.inception_score.is_none(), "an encoder has no classes");
    assert_eq!((same.real, same.generated), (150, 60));
    assert!(same.fid < texture.fid && same.fid < noise.fid);
    assert!(same.kid.mean < texture.kid.mean && same.kid.mean < noise.kid.mean);
    assert!(!same.warnings.is_empty(), "60 generated images are below the stated minimum");
}

/// Deterministic "noise" in [-1, 1] (a hash of the position).
fn hashed(i: usize) -> f32 {
    ((i.wrapping_mul(2_654_435_761) % 10_000) as f32 / 5_000.0) - 1.0
}

fn box_blur(values: &[f32], side: usize, radius: isize) -> Vec<f32> {
    let s = side as isize;
    let mut out = values.to_vec();
    for (img, dst) in values.chunks_exact(side * side).zip(out.chunks_exact_mut(side * side)) {
        for y in 0..s {
            for x in 0..s {
                let (mut sum, mut count) = (0.0, 0.0);
                for dy in -radius..=radius {
                    for dx in -radius..=radius {
                        let (yy, xx) = (y + dy, x + dx);
                        if (0..s).contains(&yy) && (0..s).contains(&xx) {
                            sum += img[(yy * s + xx) as usize];
                            count += 1.0;
                        }
                    }
                }
                dst[(y * s + x) as usize] = sum / count;
            }
        }
    }
    out
}

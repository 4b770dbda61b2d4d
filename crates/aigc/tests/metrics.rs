//! The metrics themselves: FID and KID against an independent numpy/scipy computation
//! (`data/scripts/make_metric_fixture.py`), and each metric's behaviour on cases with known answers.

use aigc::eval::{Features, class_coverage, fid, inception_score, kid, precision_recall};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

#[derive(serde::Deserialize)]
struct Fixture {
    dim: usize,
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    fid: f64,
    kid: f64,
}

fn fixture() -> (Features, Features, Fixture) {
    let text = include_str!("fixtures/metric_reference.json");
    let fx: Fixture = serde_json::from_str(text).unwrap();
    let to_features = |rows: &Vec<Vec<f64>>| Features::new(rows.len(), fx.dim, rows.concat());
    (to_features(&fx.a), to_features(&fx.b), fx)
}

fn gaussian(n: usize, d: usize, shift: f64, scale: f64, seed: u64) -> Features {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Features::new(n, d, (0..n * d).map(|_| shift + scale * rng.sample::<f64, _>(StandardNormal)).collect())
}

#[test]
fn fid_matches_scipy_reference() {
    let (a, b, fx) = fixture();
    let ours = fid(&a, &b);
    assert!(((ours - fx.fid) / fx.fid).abs() < 1e-3, "aigc {ours} vs scipy {}", fx.fid);
    assert!(fid(&a, &a).abs() < 1e-8, "FID of a set with itself: {}", fid(&a, &a));
}

#[test]
fn kid_matches_reference_and_is_zero_on_itself() {
    let (a, b, fx) = fixture();
    // One subset holding every sample is the full unbiased MMD² the script computes.
    let whole = kid(&a, &b, 1, a.n, 0);
    assert!(((whole.mean - fx.kid) / fx.kid).abs() < 1e-9, "aigc {} vs numpy {}", whole.mean, fx.kid);
    assert_eq!(whole.n, 300);
    // Two disjoint halves of one set: the unbiased estimate is ~0, far below KID(a, b).
    // (Subsets drawn from the *same* rows would share samples and bias the estimate negative.)
    let first: Vec<usize> = (0..150).collect();
    let second: Vec<usize> = (150..300).collect();
    let itself = kid(&a.select(&first), &a.select(&second), 20, 100, 1);
    let between = kid(&a, &b, 20, 100, 1);
    assert!(itself.mean.abs() < 0.1 * between.mean, "KID(a1, a2) = {itself:?}, KID(a, b) = {between:?}");
    assert!(itself.std > 0.0 && between.mean > 3.0 * between.std / 20f64.sqrt());
}

#[test]
fn fid_and_kid_grow_with_the_disturbance() {
    let real = gaussian(400, 8, 0.0, 1.0, 1);
    let mut last = (-1.0, -1.0);
    for (i, shift) in [0.0, 0.2, 0.5, 1.0, 2.0].into_iter().enumerate() {
        let fake = gaussian(400, 8, shift, 1.0 + shift, 100 + i as u64);
        let (f, k) = (fid(&real, &fake), kid(&real, &fake, 10, 200, 3).mean);
        assert!(f > last.0 && k > last.1, "shift {shift}: fid {f} kid {k} after {last:?}");
        last = (f, k);
    }
}

#[test]
fn precision_and_recall_separate_quality_from_coverage() {
    let real = gaussian(300, 4, 0.0, 1.0, 7);
    let same = gaussian(300, 4, 0.0, 1.0, 8);
    let (p, r) = precision_recall(&real, &same, 3);
    assert!(p > 0.8 && r > 0.8, "same distribution: {p} {r}");
    // Mode collapse: every sample near the centre. Realistic (high precision), poor coverage.
    let collapsed = gaussian(300, 4, 0.0, 0.05, 9);
    let (p, r) = precision_recall(&real, &collapsed, 3);
    assert!(p > 0.9 && r < 0.2, "collapsed: {p} {r}");
    // Far away: neither.
    let off = gaussian(300, 4, 6.0, 1.0, 10);
    let (p, r) = precision_recall(&real, &off, 3);
    assert!(p < 0.05 && r < 0.05, "off: {p} {r}");
}

#[test]
fn inception_score_known_cases() {
    // Confident and uniform over 4 classes: IS = 4. All one class: IS = 1.
    let confident: Vec<f64> = (0..40).flat_map(|i| (0..4).map(move |c| if c == i % 4 { 1.0 } else { 0.0 })).collect();
    let is = inception_score(&Features::new(40, 4, confident), 2);
    assert!((is.mean - 4.0).abs() < 1e-9 && is.n == 40, "{is:?}");
    let single: Vec<f64> = (0..40).flat_map(|_| [1.0, 0.0, 0.0, 0.0]).collect();
    assert!((inception_score(&Features::new(40, 4, single), 2).mean - 1.0).abs() < 1e-9);
}

#[test]
fn class_coverage_counts_modes() {
    let uniform = [0.25; 4];
    let all = class_coverage(&[0, 1, 2, 3, 0, 1, 2, 3], &uniform);
    assert_eq!((all.covered, all.histogram.clone()), (4, vec![2, 2, 2, 2]));
    assert!(all.kl_to_data.abs() < 1e-12);
    let collapsed = class_coverage(&[1; 100], &uniform);
    assert_eq!(collapsed.covered, 1);
    assert!(collapsed.kl_to_data > 2.0, "{}", collapsed.kl_to_data);
}

/// The blocked matrix-product nearest-neighbour search agrees with brute force (indices exactly,
/// distances to float precision), across block boundaries (9,000 references > one block).
#[test]
fn nearest_neighbours_match_brute_force() {
    use aigc::eval::nearest::nearest_neighbours;
    let data = aigc::data::embedded::mnist_digits().unwrap();
    let reference = data.train;
    let samples: Vec<f32> = data.heldout.batch_values(&(0..40).collect::<Vec<_>>());
    let all = reference.batch_values(&(0..reference.len()).collect::<Vec<_>>());
    let found = nearest_neighbours(&samples, 784, &reference);
    for (s, &(index, distance)) in samples.chunks_exact(784).zip(&found) {
        let (best, squared) = all
            .chunks_exact(784)
            .map(|r| s.iter().zip(r).map(|(a, b)| ((a - b) * (a - b)) as f64).sum::<f64>())
            .enumerate()
            .fold((0, f64::INFINITY), |b, (i, d)| if d < b.1 { (i, d) } else { b });
        assert_eq!(index, best);
        assert!((distance as f64 - squared.sqrt()).abs() < 1e-3, "{distance} vs {}", squared.sqrt());
    }
}

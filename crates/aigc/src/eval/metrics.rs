//! Distribution metrics on feature sets.
//!
//! * FID (Heusel et al. 2017): ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), with Tr(Σ₁Σ₂)^½ computed as
//!   Tr(Σ₁^½ Σ₂ Σ₁^½)^½ through symmetric eigendecompositions (nalgebra).
//! * KID (Bińkowski et al. 2018): unbiased MMD² with the kernel k(x, y) = (x·y/d + 1)³, mean ± std
//!   over random subsets.
//! * Precision and recall (Kynkäänniemi et al. 2019): the share of generated samples inside the
//!   real k-NN manifold, and of real samples inside the generated one.
//! * Inception Score (Salimans et al. 2016) from class probabilities, and class coverage.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::{Features, squared_distance};

/// A metric estimated over repetitions: mean, standard deviation and how many samples it used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub mean: f64,
    pub std: f64,
    /// Samples per set that went into the estimate.
    pub n: usize,
    /// Distinct repetitions (subsets, splits); 1 when the sets were no larger than a subset, so
    /// that every repetition would have been the same. 0 in reports written before it was kept.
    #[serde(default)]
    pub repetitions: usize,
}

impl Estimate {
    /// The spread over repetitions, when there was more than one.
    pub fn error(&self) -> Option<f64> {
        (self.repetitions != 1).then_some(self.std)
    }

    /// `mean ± std`, or `mean (one subset of n)` when a spread cannot be told.
    pub fn show(&self, decimals: usize) -> String {
        match self.error() {
            Some(std) => format!("{:.decimals$} ± {std:.decimals$}", self.mean),
            None => format!("{:.decimals$} (one subset of {}: no error estimate)", self.mean, self.n),
        }
    }
}

/// Mean and (unbiased) covariance of a feature set.
pub fn mean_covariance(f: &Features) -> (DVector<f64>, DMatrix<f64>) {
    let x = DMatrix::from_row_slice(f.n, f.d, &f.data);
    let mean = x.row_mean().transpose();
    let mut centred = x;
    for mut row in centred.row_iter_mut() {
        row -= mean.transpose();
    }
    let cov = centred.transpose() * &centred / (f.n.max(2) - 1) as f64;
    (mean, cov)
}

/// Square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding
/// are clipped to 0).
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (m + m.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym);
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// The Fréchet distance between two Gaussians.
pub fn frechet_distance(mu1: &DVector<f64>, s1: &DMatrix<f64>, mu2: &DVector<f64>, s2: &DMatrix<f64>) -> f64 {
    let diff = mu1 - mu2;
    let s1_half = sqrt_psd(s1);
    let inner = &s1_half * s2 * &s1_half;
    let inner = (&inner + inner.transpose()) * 0.5;
    let trace_sqrt: f64 = SymmetricEigen::new(inner).eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum();
    diff.dot(&diff) + s1.trace() + s2.trace() - 2.0 * trace_sqrt
}

/// FID between two feature sets.
pub fn fid(a: &Features, b: &Features) -> f64 {
    let (mu1, s1) = mean_covariance(a);
    let (mu2, s2) = mean_covariance(b);
    frechet_distance(&mu1, &s1, &mu2, &s2)
}

fn poly_kernel(x: &[f64], y: &[f64], d: f64) -> f64 {
    let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    (dot / d + 1.0).powi(3)
}

/// Unbiased MMD² with the cubic polynomial kernel between two sets of equal size.
pub fn mmd2_unbiased(a: &Features, b: &Features) -> f64 {
    let m = a.n.min(b.n);
    let d = a.d as f64;
    let (mut kxx, mut kyy, mut kxy) = (0.0, 0.0, 0.0);
    for i in 0..m {
        for j in 0..m {
            if i != j {
                kxx += poly_kernel(a.row(i), a.row(j), d);
                kyy += poly_kernel(b.row(i), b.row(j), d);
            }
            kxy += poly_kernel(a.row(i), b.row(j), d);
        }
    }
    let pairs = (m * (m - 1)) as f64;
    kxx / pairs + kyy / pairs - 2.0 * kxy / (m * m) as f64
}

/// KID: [`mmd2_unbiased`] over `subsets` random subsets of `subset_size` (capped at the smaller
/// set), seeded.
pub fn kid(a: &Features, b: &Features, subsets: usize, subset_size: usize, seed: u64) -> Estimate {
    let size = subset_size.min(a.n).min(b.n).max(2);
    // Subsets as large as both sets are the sets themselves: one value, no spread.
    let subsets = if size >= a.n && size >= b.n { 1 } else { subsets.max(1) };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f64> = (0..subsets)
        .map(|_| {
            let ia = sample(&mut rng, a.n, size).into_vec();
            let ib = sample(&mut rng, b.n, size).into_vec();
            mmd2_unbiased(&a.select(&ia), &b.select(&ib))
        })
        .collect();
    let (mean, std) = mean_std(&values);
    Estimate { mean, std, n: size, repetitions: subsets }
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// Squared distance from each row of `f` to its k-th nearest other row.
fn kth_neighbour_radii(f: &Features, k: usize) -> Vec<f64> {
    (0..f.n)
        .map(|i| {
            let mut d: Vec<f64> = (0..f.n).filter(|&j| j != i).map(|j| squared_distance(f.row(i), f.row(j))).collect();
            let k = k.min(d.len()).max(1) - 1;
            d.select_nth_unstable_by(k, f64::total_cmp);
            d[k]
        })
        .collect()
}

/// Share of `queries` inside the manifold of `support` (the union of balls around each support
/// sample reaching its k-th nearest support neighbour).
fn manifold_coverage(support: &Features, radii: &[f64], queries: &Features) -> f64 {
    let inside = queries
        .rows()
        .filter(|q| (0..support.n).any(|j| squared_distance(q, support.row(j)) <= radii[j]))
        .count();
    inside as f64 / queries.n.max(1) as f64
}

/// Improved precision and recall (k = 3 in the paper).
pub fn precision_recall(real: &Features, fake: &Features, k: usize) -> (f64, f64) {
    let real_radii = kth_neighbour_radii(real, k);
    let fake_radii = kth_neighbour_radii(fake, k);
    (manifold_coverage(real, &real_radii, fake), manifold_coverage(fake, &fake_radii, real))
}

/// Inception Score exp(E KL(p(y|x) ‖ p(y))), mean ± std over `splits` splits; `probs` is n × C.
pub fn inception_score(probs: &Features, splits: usize) -> Estimate {
    let splits = splits.clamp(1, probs.n.max(1));
    let per = probs.n / splits;
    let scores: Vec<f64> = (0..splits)
        .map(|s| {
            let part: Vec<&[f64]> = (s * per..(s + 1) * per).map(|i| probs.row(i)).collect();
            let marginal: Vec<f64> =
                (0..probs.d).map(|c| part.iter().map(|p| p[c]).sum::<f64>() / part.len() as f64).collect();
            let kl: f64 = part
                .iter()
                .map(|p| p.iter().zip(&marginal).filter(|(pc, _)| **pc > 0.0).map(|(pc, mc)| pc * (pc / mc).ln()).sum::<f64>())
                .sum::<f64>()
                / part.len() as f64;
            kl.exp()
        })
        .collect();
    let (mean, std) = mean_std(&scores);
    Estimate { mean, std, n: per * splits, repetitions: splits }
}

/// Which classes generated samples fall in, against the data's class distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCoverage {
    /// Predicted-class counts of the generated samples.
    pub histogram: Vec<usize>,
    /// Classes that received at least `min_share` of a uniform share of the samples.
    pub covered: usize,
    pub classes: usize,
    /// KL(data classes ‖ generated classes), in nats (smoothed by half a count per class).
    pub kl_to_data: f64,
}

/// Mode coverage: a class counts as covered when it gets at least 20% of its fair share
/// (`n / classes`), so a handful of stray samples does not count.
pub fn class_coverage(predicted: &[usize], data_distribution: &[f64]) -> ClassCoverage {
    let classes = data_distribution.len();
    let mut histogram = vec![0usize; classes];
    for &c in predicted {
        if c < classes {
            histogram[c] += 1;
        }
    }
    let n = predicted.len().max(1) as f64;
    let fair = n / classes.max(1) as f64;
    let covered = histogram.iter().filter(|&&h| h as f64 >= 0.2 * fair).count();
    let smoothed: Vec<f64> = histogram.iter().map(|&h| (h as f64 + 0.5) / (n + 0.5 * classes as f64)).collect();
    let kl_to_data =
        data_distribution.iter().zip(&smoothed).filter(|(p, _)| **p > 0.0).map(|(p, q)| p * (p / q).ln()).sum();
    ClassCoverage { histogram, covered, classes, kl_to_data }
}

//! Filling a hole without learning (mean and harmonic fill, the baselines) and Poisson blending
//! of a generated completion into the known pixels (Pérez et al. 2003).

use super::mask::Mask;

/// Baseline: the hole filled with the mean of the image's known pixels (per channel).
pub fn mean_fill(image: &[f32], mask: &Mask) -> Vec<f32> {
    let n = mask.hole.len();
    let mut out = image.to_vec();
    for ch in out.chunks_mut(n) {
        let known: Vec<f32> = ch.iter().zip(&mask.hole).filter(|(_, h)| !**h).map(|(v, _)| *v).collect();
        let mean = known.iter().sum::<f32>() / known.len().max(1) as f32;
        ch.iter_mut().zip(&mask.hole).filter(|(_, h)| **h).for_each(|(v, _)| *v = mean);
    }
    out
}

/// Solves Δu = Δguide in the hole (per channel) with u = image outside it, by successive
/// over-relaxation; `guide = None` solves Δu = 0 (harmonic fill). Pixels outside the image are
/// treated as absent (Neumann border).
fn poisson(image: &[f32], guide: Option<&[f32]>, mask: &Mask) -> Vec<f32> {
    let (h, w, n) = (mask.height, mask.width, mask.hole.len());
    let mut out = match guide {
        Some(g) => image.iter().zip(g).enumerate().map(|(i, (&x, &g))| if mask.hole[i % n] { g } else { x }).collect(),
        None => mean_fill(image, mask),
    };
    let holes: Vec<usize> = (0..n).filter(|&i| mask.hole[i]).collect();
    let neighbours = |i: usize| {
        let (r, c) = (i / w, i % w);
        [(r > 0).then(|| i - w), (r + 1 < h).then(|| i + w), (c > 0).then(|| i - 1), (c + 1 < w).then(|| i + 1)]
    };
    let omega = 1.9f32;
    for ch in 0..out.len() / n {
        let base = ch * n;
        for _ in 0..2000 {
            let mut change = 0f32;
            for &i in &holes {
                let (mut sum, mut count, mut lap) = (0f32, 0f32, 0f32);
                for j in neighbours(i).into_iter().flatten() {
                    sum += out[base + j];
                    count += 1.0;
                    if let Some(g) = guide {
                        lap += g[base + i] - g[base + j];
                    }
                }
                let target = (sum + lap) / count;
                let delta = omega * (target - out[base + i]);
                out[base + i] += delta;
                change = change.max(delta.abs());
            }
            if change < 1e-5 {
                break;
            }
        }
    }
    out
}

/// Baseline: the harmonic (diffusion) fill of the hole.
pub fn harmonic_fill(image: &[f32], mask: &Mask) -> Vec<f32> {
    poisson(image, None, mask)
}

/// The known pixels of `image`, and the Poisson blend of `generated` in the hole.
pub fn blend(image: &[f32], generated: &[f32], mask: &Mask) -> Vec<f32> {
    poisson(image, Some(generated), mask).into_iter().map(|v| v.clamp(-1.0, 1.0)).collect()
}


//! How close a completion is to the truth inside the hole: PSNR and SSIM.

use super::mask::Mask;

/// PSNR (dB, values in [-1, 1] mapped to [0, 1]) over the hole pixels of each channel.
pub fn psnr_in_hole(truth: &[f32], completed: &[f32], mask: &Mask) -> f64 {
    let n = mask.hole.len();
    let (mut se, mut count) = (0f64, 0usize);
    for (i, (a, b)) in truth.iter().zip(completed).enumerate() {
        if mask.hole[i % n] {
            let d = (*a as f64 - *b as f64) / 2.0;
            se += d * d;
            count += 1;
        }
    }
    let mse = se / count.max(1) as f64;
    if mse == 0.0 { 99.0 } else { -10.0 * mse.log10() }
}

/// SSIM (Wang et al. 2004; 7×7 uniform windows, C₁ = (0.01)², C₂ = (0.03)² for values in
/// [0, 1]) averaged over the hole pixels (window centres) of each channel.
pub fn ssim_in_hole(truth: &[f32], completed: &[f32], mask: &Mask) -> f64 {
    let (h, w, n) = (mask.height as isize, mask.width as isize, mask.hole.len());
    let (c1, c2) = (1e-4f64, 9e-4f64);
    let (mut total, mut count) = (0f64, 0usize);
    for ch in 0..truth.len() / n {
        let (a, b) = (&truth[ch * n..(ch + 1) * n], &completed[ch * n..(ch + 1) * n]);
        for r in 0..h {
            for c in 0..w {
                if !mask.hole[(r * w + c) as usize] {
                    continue;
                }
                let (mut sa, mut sb, mut saa, mut sbb, mut sab, mut k) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
                for rr in (r - 3).max(0)..(r + 4).min(h) {
                    for cc in (c - 3).max(0)..(c + 4).min(w) {
                        let i = (rr * w + cc) as usize;
                        let (x, y) = ((a[i] as f64 + 1.0) / 2.0, (b[i] as f64 + 1.0) / 2.0);
                        sa += x;
                        sb += y;
                        saa += x * x;
                        sbb += y * y;
                        sab += x * y;
                        k += 1.0;
                    }
                }
                let (ma, mb) = (sa / k, sb / k);
                let (va, vb, cov) = (saa / k - ma * ma, sbb / k - mb * mb, sab / k - ma * mb);
                total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                count += 1;
            }
        }
    }
    total / count.max(1) as f64
}


//! Element types the kernels run in (f32 for training, f64 for gradient checks) and the
//! transcendental functions they need, written branch-free for f32 so loops over them vectorise
//! (libm's scalar `tanhf`, `expf` and `erff` took 16% of a W3 step and 12% of a W4 step).

/// f32 or f64, with fast versions of tanh, exp and erf (exact libm calls for f64).
pub(crate) trait Real: Copy + Default + Send + Sync + burn::tensor::Element + bytemuck::Pod + num_traits::Float + 'static {
    fn fast_tanh(self) -> Self;
    fn fast_exp(self) -> Self;
    fn fast_erf(self) -> Self;
    fn lit(v: f64) -> Self;
}

impl Real for f32 {
    /// Eigen's rational approximation of tanh for f32 (`ptanh_float`): odd polynomials of degree
    /// 13 over 6 on [−7.9, 7.9], saturating beyond; error within a few ulp of f32.
    #[inline(always)]
    fn fast_tanh(self) -> f32 {
        let x = self.clamp(-7.905_311, 7.905_311);
        let x2 = x * x;
        let mut p = x2 * -2.760_768_5e-16 + 2.000_187_9e-13;
        p = x2 * p + -8.604_671_5e-11;
        p = x2 * p + 5.122_297e-8;
        p = x2 * p + 1.485_722_4e-5;
        p = x2 * p + 6.372_619_3e-4;
        p = x2 * p + 4.893_524_6e-3;
        p *= x;
        let mut q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
        q = x2 * q + 2.268_434_6e-3;
        q = x2 * q + 4.893_525_2e-3;
        p / q
    }

    /// Cephes' `expf`: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for exactness), a degree-6
    /// polynomial for eʳ, and 2ⁿ built in the exponent bits. Relative error below 1e-6 (tested); inputs are clamped
    /// to [−87.3, 88.7], so far below it gives ≈ 1e-38 and far above ≈ 3e38 (finite).
    #[inline(always)]
    fn fast_exp(self) -> f32 {
        let x = self.clamp(-87.3, 88.7);
        let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let mut p = 1.987_569_1e-4f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 5.000_000_1e-1;
        let e = p * r * r + r + 1.0;
        // n ∈ [−126, 128]: 2ⁿ as bits; n = 128 only for x ≥ 88.37, where 2¹²⁷·2·eʳ is still finite
        // when split as 2¹²⁷ · (2·eʳ).
        let n = n as i32;
        let (n, e) = if n > 127 { (127, e * 2.0) } else { (n, e) };
        e * f32::from_bits(((n + 127).max(0) as u32) << 23)
    }

    /// Eigen's `generic_fast_erf_float`: erf(x) as an odd rational function of degree 13 over 8
    /// on [−4, 4], ±1 beyond; absolute error below 1e-6 (tested).
    #[inline(always)]
    fn fast_erf(self) -> f32 {
        let x = self.clamp(-4.0, 4.0);
        let x2 = x * x;
        let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
        p = x2 * p + -2.101_024e-6;
        p = x2 * p + -5.692_506_4e-5;
        p = x2 * p + -7.349_906_3e-4;
        p = x2 * p + -2.954_600e-3;
        p = x2 * p + -1.609_603_3e-2;
        p *= x;
        let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
        q = x2 * q + -1.682_827e-3;
        q = x2 * q + -7.373_329e-3;
        q = x2 * q + -1.426_474e-2;
        p / q
    }

    #[inline(always)]
    fn lit(v: f64) -> f32 {
        v as f32
    }
}

impl Real for f64 {
    #[inline(always)]
    fn fast_tanh(self) -> f64 {
        self.tanh()
    }

    #[inline(always)]
    fn fast_exp(self) -> f64 {
        self.exp()
    }

    #[inline(always)]
    fn fast_erf(self) -> f64 {
        libm::erf(self)
    }

    #[inline(always)]
    fn lit(v: f64) -> f64 {
        v
    }
}

/// σ(x) = (1 + tanh(x/2)) / 2.
#[inline(always)]
pub(crate) fn fast_sigmoid<E: Real>(x: E) -> E {
    let half = E::lit(0.5);
    half + half * (x * half).fast_tanh()
}

/// Σ f(i) for i < n, accumulated in 16 independent lanes so the loop vectorises (a plain
/// floating-point fold cannot be reordered, hence not vectorised).
#[inline(always)]
pub(crate) fn lane_sum<E: Real>(n: usize, f: impl Fn(usize) -> E) -> E {
    const LANES: usize = 16;
    let mut acc = [E::zero(); LANES];
    let full = n / LANES * LANES;
    for base in (0..full).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a = *a + f(base + l);
        }
    }
    let tail = (full..n).fold(E::zero(), |s, i| s + f(i));
    acc.iter().fold(tail, |s, &a| s + a)
}

/// Runs `f` compiled for AVX-512 or AVX2+FMA when the CPU has them (the crate itself is built
/// for baseline x86-64, where loops vectorise only to SSE2 width); `f` is inlined into the
/// feature-enabled function, so its loops vectorise at the wider width. Callers mark the closure
/// `#[inline(always)]`: without it LLVM may keep it a separate, baseline-compiled function.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        fn v4<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn v3<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU has the features `v4` is compiled for.
            return unsafe { v4(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above, for `v3`.
            return unsafe { v3(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst(f: impl Fn(f32) -> (f32, f64), range: std::ops::RangeInclusive<i32>, step: f32) -> f64 {
        range
            .map(|i| {
                let (fast, exact) = f(i as f32 * step);
                (fast as f64 - exact).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn fast_functions_are_accurate_in_f32() {
        let tanh = worst(|x| (x.fast_tanh(), (x as f64).tanh()), -20_000..=20_000, 1e-3);
        assert!(tanh < 2e-6, "max |fast_tanh − tanh| = {tanh}");
        assert_eq!(100.0f32.fast_tanh(), 1.0);
        assert!((fast_sigmoid(0.3f32) - 1.0 / (1.0 + (-0.3f32).exp())).abs() < 1e-6);
        let erf = worst(|x| (x.fast_erf(), libm::erf(x as f64)), -60_000..=60_000, 1e-4);
        assert!(erf < 1e-6, "max |fast_erf − erf| = {erf}");
        assert!((9.0f32.fast_erf() - 1.0).abs() < 1e-6);
        // exp: relative error over the whole range, exact-ish at 0, 0 far below, finite far above.
        let rel = (-8_700..=8_800)
            .map(|i| {
                let x = i as f32 * 0.01;
                let exact = (x as f64).exp();
                ((x.fast_exp() as f64 - exact) / exact).abs()
            })
            .fold(0.0, f64::max);
        assert!(rel < 1e-6, "max relative error of fast_exp = {rel}");
        assert_eq!(0.0f32.fast_exp(), 1.0);
        assert!((-1000.0f32).fast_exp() < 1e-37);
        assert!(1000.0f32.fast_exp().is_finite());
        let v: Vec<f32> = vectorized(|| (0..64).map(|i| (i as f32 * 0.1).fast_exp()).collect());
        assert!((v[10] - 1f32.exp()).abs() < 1e-6);
    }
}

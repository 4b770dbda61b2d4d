//! Noise schedules of DDPM (Ho et al. 2020: linear β from 1e-4 to 0.02 over T steps; Nichol &
//! Dhariwal 2021: the cosine ᾱ) with the quantities training and sampling need, and the
//! flow-matching interpolant (Lipman et al. 2023; Liu et al. 2023).

crate::named_choice! {
    /// How β (or ᾱ) runs over the T steps.
    pub enum ScheduleKind ("noise schedule") {
        /// β_t linear from 1e-4 to 0.02 (Ho et al.).
        Linear = "linear",
        /// ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008, β clipped at 0.999.
        Cosine = "cosine",
    }
}

/// A DDPM schedule of `T` steps, indexed 0..T (step t adds noise β_t to x_{t−1}; x_{−1} = x_0,
/// the data).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub betas: Vec<f64>,
    /// ᾱ_t = Π_{s ≤ t} (1 − β_s).
    pub alpha_bars: Vec<f64>,
}

impl Schedule {
    pub fn new(kind: ScheduleKind, steps: usize) -> Self {
        let betas: Vec<f64> = match kind {
            ScheduleKind::Linear => {
                let (lo, hi) = (1e-4, 0.02);
                (0..steps).map(|i| if steps == 1 { lo } else { lo + (hi - lo) * i as f64 / (steps - 1) as f64 }).collect()
            }
            ScheduleKind::Cosine => {
                let s = 0.008;
                let f = |t: f64| (((t / steps as f64) + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
                (0..steps).map(|i| (1.0 - f(i as f64 + 1.0) / f(i as f64)).min(0.999)).collect()
            }
        };
        let mut alpha_bars = Vec::with_capacity(steps);
        let mut product = 1.0;
        for b in &betas {
            product *= 1.0 - b;
            alpha_bars.push(product);
        }
        Self { betas, alpha_bars }
    }

    pub fn len(&self) -> usize {
        self.betas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// ᾱ_{t−1}, with ᾱ_{−1} = 1.
    pub fn alpha_bar_prev(&self, t: usize) -> f64 {
        if t == 0 { 1.0 } else { self.alpha_bars[t - 1] }
    }

    /// The coefficients (of x_0, of x_t) of the posterior mean μ̃_t(x_t, x_0) of q(x_{t−1} | x_t, x_0).
    pub fn posterior_mean_coefficients(&self, t: usize) -> (f64, f64) {
        let (beta, ab, ab_prev) = (self.betas[t], self.alpha_bars[t], self.alpha_bar_prev(t));
        (beta * ab_prev.sqrt() / (1.0 - ab), (1.0 - ab_prev) * (1.0 - beta).sqrt() / (1.0 - ab))
    }

    /// The posterior variance β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t.
    pub fn posterior_variance(&self, t: usize) -> f64 {
        (1.0 - self.alpha_bar_prev(t)) / (1.0 - self.alpha_bars[t]) * self.betas[t]
    }

    /// x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε, elementwise for one image.
    pub fn noised(&self, t: usize, x0: &[f32], eps: &[f32]) -> Vec<f32> {
        let (a, s) = (self.alpha_bars[t].sqrt() as f32, (1.0 - self.alpha_bars[t]).sqrt() as f32);
        x0.iter().zip(eps).map(|(x, e)| a * x + s * e).collect()
    }
}

/// The flow-matching interpolant at time `t` ∈ [0, 1]: x_t = (1 − t)·x_0 + t·ε (data at 0,
/// noise at 1), and its velocity target dx_t/dt = ε − x_0.
pub fn flow_interpolant(t: f32, x0: &[f32], eps: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let x = x0.iter().zip(eps).map(|(x, e)| (1.0 - t) * x + t * e).collect();
    let v = x0.iter().zip(eps).map(|(x, e)| e - x).collect();
    (x, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_schedule_matches_hand_computed_values() {
        let s = Schedule::new(ScheduleKind::Linear, 1000);
        assert!((s.betas[0] - 1e-4).abs() < 1e-15 && (s.betas[999] - 0.02).abs() < 1e-15);
        // β_1 = 1e-4 + 0.0199/999; ᾱ_1 = (1 − 1e-4)(1 − β_1).
        let b1 = 1e-4 + 0.0199 / 999.0;
        assert!((s.alpha_bars[1] - (1.0 - 1e-4) * (1.0 - b1)).abs() < 1e-15);
        // ᾱ_999 ≈ 4.04e-5 (Ho et al.'s schedule ends near pure noise).
        assert!((s.alpha_bars[999] - 4.035e-5).abs() < 1e-7, "{}", s.alpha_bars[999]);
        // Posterior at t = 0 is the data: mean coefficient of x_0 is 1, variance 0.
        let (c0, ct) = s.posterior_mean_coefficients(0);
        assert!((c0 - 1.0).abs() < 1e-12 && ct.abs() < 1e-12 && s.posterior_variance(0) == 0.0);
        // At t = 1 by hand: β̃ = (1 − ᾱ_0)/(1 − ᾱ_1)·β_1.
        let (a0, a1) = (1.0 - 1e-4, (1.0 - 1e-4) * (1.0 - b1));
        assert!((s.posterior_variance(1) - (1.0 - a0) / (1.0 - a1) * b1).abs() < 1e-15);
        let (c0, ct) = s.posterior_mean_coefficients(1);
        assert!((c0 - b1 * a0.sqrt() / (1.0 - a1)).abs() < 1e-12 && (ct - (1.0 - a0) * (1.0 - b1).sqrt() / (1.0 - a1)).abs() < 1e-12);
    }

    #[test]
    fn cosine_schedule_follows_its_formula() {
        let s = Schedule::new(ScheduleKind::Cosine, 1000);
        let f = |t: f64| (((t / 1000.0) + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
        for t in [0usize, 10, 500, 900] {
            assert!((s.alpha_bars[t] - f(t as f64 + 1.0) / f(0.0)).abs() < 1e-9, "t {t}: {} vs {}", s.alpha_bars[t], f(t as f64 + 1.0) / f(0.0));
        }
        assert!(s.betas.iter().all(|&b| b > 0.0 && b <= 0.999));
        assert!(s.alpha_bars.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn noising_and_the_flow_interpolant() {
        let s = Schedule::new(ScheduleKind::Linear, 10);
        let (x0, eps) = ([0.5f32, -1.0], [2.0f32, 1.0]);
        let xt = s.noised(3, &x0, &eps);
        let (a, b) = (s.alpha_bars[3].sqrt() as f32, (1.0 - s.alpha_bars[3]).sqrt() as f32);
        assert_eq!(xt, vec![a * 0.5 + b * 2.0, -a + b]);
        let (x, v) = flow_interpolant(0.25, &x0, &eps);
        assert_eq!(x, vec![0.75 * 0.5 + 0.25 * 2.0, -0.75 + 0.25]);
        assert_eq!(v, vec![1.5, 2.0]);
        assert_eq!(flow_interpolant(0.0, &x0, &eps).0, x0.to_vec());
        assert_eq!(flow_interpolant(1.0, &x0, &eps).0, eps.to_vec());
    }
}

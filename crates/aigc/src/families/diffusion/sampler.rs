//! Samplers over any denoiser: DDPM's ancestral sampler (Ho et al. 2020), DDIM with its η
//! (Song et al. 2021; η = 0 deterministic, η = 1 DDPM's variance) on a subsequence of the
//! training steps, and Euler and Heun integration of a flow model's velocity from noise (t = 1)
//! to data (t = 0). Images travel as flat `Vec<f32>` batches; the model is a callback, so the
//! maths is tested here with exact denoisers, without a network.

use super::schedule::Schedule;
use crate::error::{AigcError, Result};

/// ε̂(x_t, t) for a batch: the flat images and one DDPM step index for all of them.
pub type NoisePredictor<'a> = dyn FnMut(&[f32], usize) -> Vec<f32> + 'a;

/// v̂(x_t, t) for a batch at flow time `t` ∈ (0, 1].
pub type VelocityPredictor<'a> = dyn FnMut(&[f32], f32) -> Vec<f32> + 'a;

/// Fresh standard-normal noise of the given length.
pub type NoiseSource<'a> = dyn FnMut(usize) -> Vec<f32> + 'a;

/// `count` DDPM step indices, evenly spaced from the last training step down to 0 (DDIM's
/// "trailing" spacing: the first step always starts from pure noise).
pub fn ddim_timesteps(train_steps: usize, count: usize) -> Result<Vec<usize>> {
    if count == 0 {
        return Err(AigcError::invalid("sample_steps", "must be at least 1"));
    }
    if count > train_steps {
        return Err(AigcError::invalid("sample_steps", format!("{count} sampling steps are more than the model's {train_steps} training steps")));
    }
    let mut steps: Vec<usize> = (0..count).map(|i| train_steps - 1 - (i * train_steps) / count).collect();
    steps.dedup();
    Ok(steps)
}

/// x̂_0 = (x_t − √(1 − ᾱ_t)·ε̂) / √ᾱ_t, elementwise, clipped to the data's [-1, 1] (as DDPM's
/// and diffusers' samplers do: near pure noise √ᾱ_t is tiny and would amplify any error in ε̂).
fn predicted_x0(schedule: &Schedule, t: usize, x: &[f32], eps: &[f32]) -> Vec<f32> {
    let ab = schedule.alpha_bars[t];
    let (a, s) = (ab.sqrt() as f32, (1.0 - ab).sqrt() as f32);
    x.iter().zip(eps).map(|(x, e)| ((x - s * e) / a).clamp(-1.0, 1.0)).collect()
}

/// DDPM's ancestral sampler over every training step: x_{t−1} = μ̃_t(x_t, x̂_0) + √β̃_t·z (no noise
/// at the last step), from `x` = x_T.
pub fn ddpm(schedule: &Schedule, mut x: Vec<f32>, predict: &mut NoisePredictor<'_>, noise: &mut NoiseSource<'_>) -> Vec<f32> {
    for t in (0..schedule.len()).rev() {
        let eps = predict(&x, t);
        let x0 = predicted_x0(schedule, t, &x, &eps);
        let (c0, ct) = schedule.posterior_mean_coefficients(t);
        let (c0, ct) = (c0 as f32, ct as f32);
        let mut next: Vec<f32> = x0.iter().zip(&x).map(|(x0, xt)| c0 * x0 + ct * xt).collect();
        if t > 0 {
            let sigma = schedule.posterior_variance(t).sqrt() as f32;
            for (v, z) in next.iter_mut().zip(noise(x.len())) {
                *v += sigma * z;
            }
        }
        x = next;
    }
    x
}

/// DDIM over `steps` (descending step indices, e.g. [`ddim_timesteps`]) with stochasticity `eta`:
/// x_prev = √ᾱ_prev·x̂_0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, σ = η·√((1 − ᾱ_prev)/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev).
/// η = 0 draws no noise at all.
pub fn ddim(schedule: &Schedule, steps: &[usize], eta: f64, mut x: Vec<f32>, predict: &mut NoisePredictor<'_>, noise: &mut NoiseSource<'_>) -> Vec<f32> {
    for (i, &t) in steps.iter().enumerate() {
        let eps = predict(&x, t);
        let x0 = predicted_x0(schedule, t, &x, &eps);
        let ab = schedule.alpha_bars[t];
        // The noise consistent with the clipped x̂_0 (diffusers' `use_clipped_model_output`), so
        // that with η = 1 over all steps the update is exactly DDPM's posterior step.
        let (a, s) = (ab.sqrt() as f32, ((1.0 - ab).sqrt() as f32).max(1e-12));
        let eps: Vec<f32> = x.iter().zip(&x0).map(|(x, x0)| (x - a * x0) / s).collect();
        let ab_prev = steps.get(i + 1).map_or(1.0, |&p| schedule.alpha_bars[p]);
        let sigma = eta * ((1.0 - ab_prev) / (1.0 - ab)).sqrt() * (1.0 - ab / ab_prev).max(0.0).sqrt();
        let direction = (1.0 - ab_prev - sigma * sigma).max(0.0).sqrt() as f32;
        let a_prev = ab_prev.sqrt() as f32;
        let mut next: Vec<f32> = x0.iter().zip(&eps).map(|(x0, e)| a_prev * x0 + direction * e).collect();
        if sigma > 0.0 {
            for (v, z) in next.iter_mut().zip(noise(x.len())) {
                *v += sigma as f32 * z;
            }
        }
        x = next;
    }
    x
}

/// The flow model's ODE dx/dt = v̂(x, t) integrated from t = 1 (`x`, noise) to t = 0 in `steps`
/// equal steps, by Euler's method or by Heun's (a second evaluation at the step's end, averaged;
/// the last step is Euler's, as its end is t = 0).
pub fn flow(steps: usize, heun: bool, mut x: Vec<f32>, predict: &mut VelocityPredictor<'_>) -> Result<Vec<f32>> {
    if steps == 0 {
        return Err(AigcError::invalid("sample_steps", "must be at least 1"));
    }
    let dt = 1.0 / steps as f32;
    for i in 0..steps {
        let t = 1.0 - i as f32 * dt;
        let v = predict(&x, t);
        let euler: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x - dt * v).collect();
        x = if heun && i + 1 < steps {
            let v2 = predict(&euler, t - dt);
            x.iter().zip(v.iter().zip(&v2)).map(|(x, (a, b))| x - dt * 0.5 * (a + b)).collect()
        } else {
            euler
        };
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::diffusion::ScheduleKind;

    /// For data that is one point `target`, the exact noise prediction at (x_t, t) is
    /// (x_t − √ᾱ_t·target)/√(1 − ᾱ_t): every sampler must land on the point.
    fn exact_eps<'a>(schedule: &'a Schedule, target: &'a [f32]) -> impl FnMut(&[f32], usize) -> Vec<f32> + 'a {
        move |x, t| {
            let ab = schedule.alpha_bars[t];
            x.iter().zip(target.iter().cycle()).map(|(x, c)| (x - ab.sqrt() as f32 * c) / (1.0 - ab).sqrt() as f32).collect()
        }
    }

    fn gaussian(seed: u64) -> impl FnMut(usize) -> Vec<f32> {
        let mut rng = crate::run::rng::NoiseRng::new(seed);
        move |n| rng.normal(n)
    }

    #[test]
    fn timesteps_are_evenly_spaced_from_pure_noise_and_checked() {
        assert_eq!(ddim_timesteps(1000, 4).unwrap(), vec![999, 749, 499, 249]);
        assert_eq!(ddim_timesteps(10, 10).unwrap(), (0..10).rev().collect::<Vec<_>>());
        assert!(ddim_timesteps(1000, 0).unwrap_err().to_string().starts_with("sample_steps"));
        assert!(ddim_timesteps(100, 101).unwrap_err().to_string().contains("more than the model's 100 training steps"));
    }

    #[test]
    fn samplers_with_an_exact_denoiser_land_on_the_data() {
        let schedule = Schedule::new(ScheduleKind::Linear, 1000);
        let target = [0.5f32, -0.25, 1.0, 0.0];
        let start = gaussian(1)(8);
        let close = |x: &[f32]| x.iter().zip(target.iter().cycle()).all(|(a, b)| (a - b).abs() < 1e-3);
        let out = ddpm(&schedule, start.clone(), &mut exact_eps(&schedule, &target), &mut gaussian(2));
        assert!(close(&out), "ddpm {out:?}");
        for (count, eta) in [(50, 0.0), (10, 0.0), (50, 1.0)] {
            let steps = ddim_timesteps(1000, count).unwrap();
            let out = ddim(&schedule, &steps, eta, start.clone(), &mut exact_eps(&schedule, &target), &mut gaussian(3));
            assert!(close(&out), "ddim {count} steps, eta {eta}: {out:?}");
        }
        // Flow: x_t = (1 − t)·target + t·ε, so the exact velocity is (x_t − target)/t.
        let mut v = |x: &[f32], t: f32| x.iter().zip(target.iter().cycle()).map(|(x, c)| (x - c) / t).collect();
        for heun in [false, true] {
            let out = flow(20, heun, start.clone(), &mut v).unwrap();
            assert!(close(&out), "flow (heun {heun}) {out:?}");
        }
        assert!(flow(0, false, start, &mut v).is_err());
    }

    /// DDIM with η = 0 is deterministic (it never asks for noise); with η = 1 over all T steps its
    /// update is DDPM's: the same path when both get the same noise.
    #[test]
    fn ddim_eta_zero_is_deterministic_and_eta_one_is_ddpm() {
        let schedule = Schedule::new(ScheduleKind::Cosine, 200);
        // A denoiser that is not exact, so the paths are not trivially the data.
        let mut eps = |x: &[f32], t: usize| x.iter().map(|v| 0.3 * v + 0.001 * t as f32).collect::<Vec<f32>>();
        let start = gaussian(5)(6);
        let steps = ddim_timesteps(200, 50).unwrap();
        let mut never = |_: usize| -> Vec<f32> { panic!("η = 0 draws no noise") };
        let a = ddim(&schedule, &steps, 0.0, start.clone(), &mut eps, &mut never);
        let b = ddim(&schedule, &steps, 0.0, start.clone(), &mut eps, &mut never);
        assert_eq!(a, b);
        let all = ddim_timesteps(200, 200).unwrap();
        let via_ddim = ddim(&schedule, &all, 1.0, start.clone(), &mut eps, &mut gaussian(9));
        let via_ddpm = ddpm(&schedule, start, &mut eps, &mut gaussian(9));
        let diff = via_ddim.iter().zip(&via_ddpm).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let scale = via_ddpm.iter().map(|v| v.abs()).fold(1.0f32, f32::max);
        // The two formulas round differently in f32 over 200 steps; the paths agree to 1e-5 of
        // their scale (a different noise draw moves them by order 1).
        eprintln!("DDIM(η = 1) vs DDPM: {diff} at scale {scale}");
        assert!(diff < 1e-5 * scale, "DDIM(η = 1, all steps) vs DDPM: {diff} at scale {scale}");
        let other = ddpm(&schedule, via_ddim.clone(), &mut eps, &mut gaussian(10));
        assert!(other.iter().zip(&via_ddpm).any(|(a, b)| (a - b).abs() > 100.0 * diff), "another noise draw gives another path");
    }
}

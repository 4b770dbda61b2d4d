//! Audio for [`Tune`]s: a small additive synthesiser ([`render`]) and a WAV writer ([`write_wav`]).
//!
//! Conventions: a whole note lasts 4·60/`tempo_qpm` seconds (a non-positive or non-finite tempo
//! counts as 120 quarter notes per minute); MIDI pitch `p` sounds at 440·2^((p−69)/12) Hz (A4 =
//! 69 = 440 Hz). Samples are mono `f32` in −1..1 at `sample_rate` samples per second.
//!
//! Each note is a sum of four harmonics with amplitudes 1, 0.5, 0.25 and 0.12 (a soft,
//! slightly bright organ/flute tone; harmonics at or above the Nyquist frequency are left out),
//! phase-continuous within the note, shaped by an ADSR envelope: an 8 ms linear attack, a 60 ms
//! decay to a sustain level of 0.7, and an 80 ms release that starts at the end of the note and
//! overlaps the next one. Rests are silent and bar lines take no time.

use std::f64::consts::TAU;

use crate::tune::{Event, Rational, Tune};

/// Relative amplitudes of harmonics 1, 2, 3 and 4 of each note.
const HARMONICS: [f64; 4] = [1.0, 0.5, 0.25, 0.12];
/// Attack time of the envelope, in seconds.
pub const ATTACK_SECONDS: f64 = 0.008;
/// Decay time of the envelope (from full level to the sustain level), in seconds.
pub const DECAY_SECONDS: f64 = 0.060;
/// Sustain level of the envelope.
pub const SUSTAIN_LEVEL: f64 = 0.7;
/// Release time of the envelope, after the end of a note, in seconds; [`render`] adds it to the
/// end of the tune.
pub const RELEASE_SECONDS: f64 = 0.080;
/// The peak amplitude of [`render`]'s output.
pub const PEAK: f32 = 0.8;
/// Tempo used when the given one is not a positive number.
const DEFAULT_QPM: f64 = 120.0;
/// Longest audio [`render`] makes, in seconds and in samples.
const MAX_SECONDS: f64 = 3600.0;
const MAX_SAMPLES: usize = 1 << 28;
/// Most samples of a 16-bit mono WAV file (its data chunk is limited to 4 GiB).
const MAX_WAV_SAMPLES: u64 = (u32::MAX as u64 - 1024) / 2;

fn sane_tempo(qpm: f64) -> f64 {
    if qpm.is_finite() && qpm > 0.0 { qpm } else { DEFAULT_QPM }
}

/// A duration in whole notes as a float; zero unless positive and finite.
fn whole_notes(d: Rational) -> f64 {
    let x = d.num as f64 / d.den as f64;
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

/// The length of a tune in seconds at `tempo_qpm` quarter notes per minute (a whole note lasts
/// 4·60/`tempo_qpm` seconds; 120 qpm if the tempo is not a positive number): the sum of its notes
/// and rests, without the release of the last note. Events with non-positive durations count as
/// nothing.
pub fn tune_seconds(tune: &Tune, tempo_qpm: f64) -> f64 {
    let wholes: f64 = tune.events.iter().map(|e| whole_notes(e.duration())).sum();
    wholes * 240.0 / sane_tempo(tempo_qpm)
}

/// Renders a tune as mono samples at `sample_rate` samples per second (at least 1), at
/// `tempo_qpm` quarter notes per minute (see the module documentation for the sound).
///
/// The result lasts [`tune_seconds`] plus [`RELEASE_SECONDS`] (rounded to whole samples; at most
/// an hour and 2^28 samples) and is normalised so that its peak is [`PEAK`] (0.8), so it never
/// clips. A tune without notes gives silence of that length.
pub fn render(tune: &Tune, tempo_qpm: f64, sample_rate: u32) -> Vec<f32> {
    let qpm = sane_tempo(tempo_qpm);
    let rate = f64::from(sample_rate.max(1));
    let whole = 240.0 / qpm;
    let len = sample_count(tune_seconds(tune, qpm) + RELEASE_SECONDS, rate);
    let mut out = vec![0.0f32; len];
    let mut time = 0.0f64;
    for event in &tune.events {
        let seconds = whole_notes(event.duration()) * whole;
        if let Event::Note { pitch, .. } = *event
            && seconds > 0.0
        {
            add_note(&mut out, pitch, time, seconds, rate);
        }
        time += seconds;
        if time >= MAX_SECONDS {
            break;
        }
    }
    normalise(&mut out);
    out
}

/// Samples in `seconds` at `rate`, rounded, within the limits.
fn sample_count(seconds: f64, rate: f64) -> usize {
    let n = (seconds.min(MAX_SECONDS) * rate).round();
    if n.is_finite() && n > 0.0 { (n as usize).min(MAX_SAMPLES) } else { 0 }
}

/// The envelope `t` seconds after the start of a note that lasts `dur` seconds.
fn envelope(t: f64, dur: f64) -> f64 {
    let held = |t: f64| {
        if t < ATTACK_SECONDS {
            t / ATTACK_SECONDS
        } else if t < ATTACK_SECONDS + DECAY_SECONDS {
            1.0 - (1.0 - SUSTAIN_LEVEL) * (t - ATTACK_SECONDS) / DECAY_SECONDS
        } else {
            SUSTAIN_LEVEL
        }
    };
    if t < dur {
        held(t)
    } else {
        let r = (t - dur) / RELEASE_SECONDS;
        if r >= 1.0 { 0.0 } else { held(dur) * (1.0 - r) }
    }
}

/// Adds one note (with its release) to `out`.
fn add_note(out: &mut [f32], pitch: u8, start: f64, dur: f64, rate: f64) {
    let freq = 440.0 * ((f64::from(pitch) - 69.0) / 12.0).exp2();
    let first = (start * rate).round();
    if !(0.0..out.len() as f64).contains(&first) {
        return;
    }
    let first = first as usize;
    let count = ((dur + RELEASE_SECONDS) * rate).round() as usize; // saturating cast
    let last = first.saturating_add(count).min(out.len());
    // (angular step per sample, amplitude) of the harmonics below the Nyquist frequency.
    let partials: Vec<(f64, f64)> = HARMONICS
        .iter()
        .zip(1u32..)
        .map(|(&amp, h)| (freq * f64::from(h), amp))
        .filter(|&(f, _)| f < rate / 2.0)
        .map(|(f, amp)| (TAU * f / rate, amp))
        .collect();
    if partials.is_empty() {
        return;
    }
    let Some(samples) = out.get_mut(first..last) else { return };
    for (k, sample) in samples.iter_mut().enumerate() {
        let n = k as f64;
        let level = envelope(n / rate, dur);
        if level <= 0.0 {
            continue;
        }
        let value: f64 = partials.iter().map(|&(step, amp)| amp * (step * n).sin()).sum();
        *sample += (level * value) as f32;
    }
}

/// Scales `out` so that its peak is [`PEAK`] (silence stays silent).
fn normalise(out: &mut [f32]) {
    let peak = out.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if peak > 0.0 && peak.is_finite() {
        let gain = PEAK / peak;
        for x in out.iter_mut() {
            *x = (*x * gain).clamp(-PEAK, PEAK);
        }
    }
}

/// Mono samples (−1..1; values outside are clipped) as the bytes of a 16-bit PCM WAV file. Fails
/// for a sample rate of 0 and for more samples than a WAV file holds.
pub fn wav_bytes(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, hound::Error> {
    if sample_rate == 0 {
        return Err(hound::Error::FormatError("sample rate must be positive"));
    }
    if samples.len() as u64 > MAX_WAV_SAMPLES {
        return Err(hound::Error::FormatError("too many samples for a 16-bit WAV file"));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
    for &s in samples {
        // NaN becomes 0 (a float-to-int cast saturates and maps NaN to 0).
        writer.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
    }
    writer.finalize()?;
    Ok(bytes.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Tests

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::{Key, Meter, Mode};

    fn r(n: i64, d: i64) -> Rational {
        Rational::new(n, d).unwrap()
    }

    fn tune(events: Vec<Event>) -> Tune {
        Tune {
            number: 1,
            title: "t".to_string(),
            meter: Some(Meter { num: 4, den: 4 }),
            unit: r(1, 8),
            key: Key { tonic_pc: 0, mode: Mode::Major },
            tempo_qpm: None,
            events,
        }
    }

    fn note(pitch: u8, n: i64, d: i64) -> Event {
        Event::Note { pitch, dur: r(n, d) }
    }

    fn melody() -> Tune {
        tune(vec![note(60, 1, 4), note(64, 1, 8), Event::Rest { dur: r(1, 8) }, Event::Bar, note(67, 1, 2)])
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    fn peak(x: &[f32]) -> f32 {
        x.iter().fold(0.0f32, |m, &v| m.max(v.abs()))
    }

    /// Magnitude of the discrete-time Fourier transform of `x` at `freq` Hz, per sample.
    fn dft(x: &[f32], freq: f64, rate: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &v) in x.iter().enumerate() {
            let phase = TAU * freq * n as f64 / rate;
            re += f64::from(v) * phase.cos();
            im += f64::from(v) * phase.sin();
        }
        (re * re + im * im).sqrt() / x.len() as f64
    }

    #[test]
    fn seconds() {
        let t = melody();
        assert!((tune_seconds(&t, 120.0) - 2.0).abs() < 1e-12);
        assert!((tune_seconds(&t, 60.0) - 4.0).abs() < 1e-12);
        assert!((tune_seconds(&t, 0.0) - 2.0).abs() < 1e-12);
        assert!((tune_seconds(&t, f64::NAN) - 2.0).abs() < 1e-12);
        assert_eq!(tune_seconds(&tune(vec![]), 120.0), 0.0);
    }

    #[test]
    fn rendered_length_level_and_peak() {
        let t = melody();
        let rate = 22_050u32;
        let x = render(&t, 120.0, rate);
        let want = (tune_seconds(&t, 120.0) + RELEASE_SECONDS) * f64::from(rate);
        assert!((x.len() as f64 - want).abs() <= 1.0, "{} vs {want}", x.len());
        assert!(rms(&x) > 0.05, "{}", rms(&x));
        assert!(peak(&x) <= PEAK + 1e-6);
        assert!(peak(&x) >= PEAK - 1e-6);
        // The rest is silent once the release is over, and the last note rings into the tail.
        let rest_middle = (0.75 + 0.2) * f64::from(rate);
        assert_eq!(x.get(rest_middle as usize).copied(), Some(0.0));
        let tail = x.get((2.02 * f64::from(rate)) as usize..(2.06 * f64::from(rate)) as usize).unwrap();
        assert!(peak(tail) > 0.01);
        assert!(x.last().unwrap().abs() < 0.01);
    }

    #[test]
    fn tunes_without_notes_are_silent() {
        let rate = 8000u32;
        let x = render(&tune(vec![Event::Rest { dur: r(1, 2) }, Event::Bar]), 120.0, rate);
        assert_eq!(x.len(), ((1.0 + RELEASE_SECONDS) * f64::from(rate)).round() as usize);
        assert!(x.iter().all(|&v| v == 0.0));
        let x = render(&tune(vec![]), 120.0, rate);
        assert_eq!(x.len(), (RELEASE_SECONDS * f64::from(rate)).round() as usize);
        assert!(x.iter().all(|&v| v == 0.0));
        // Odd inputs do not panic.
        let odd = tune(vec![
            Event::Note { pitch: 255, dur: Rational { num: 1, den: 0 } },
            Event::Note { pitch: 0, dur: Rational { num: -1, den: 4 } },
            Event::Note { pitch: 127, dur: r(1, 64) },
        ]);
        let x = render(&odd, f64::INFINITY, 0);
        assert!(peak(&x) <= PEAK);
    }

    #[test]
    fn pitch_of_a4_is_440_hz() {
        let rate = 16_000.0;
        // A quarter note at 60 qpm: one second; analyse the sustained part (0.1 s to 0.9 s).
        let x = render(&tune(vec![note(69, 1, 4)]), 60.0, rate as u32);
        let steady = x.get(1600..14_400).unwrap();
        let at_440 = dft(steady, 440.0, rate);
        assert!(at_440 > 20.0 * dft(steady, 450.0, rate), "{at_440}");
        assert!(at_440 > 20.0 * dft(steady, 430.0, rate));
        // The second harmonic has half the amplitude of the fundamental.
        let ratio = dft(steady, 880.0, rate) / at_440;
        assert!((ratio - 0.5).abs() < 0.05, "{ratio}");
        // An octave higher: A5 at 880 Hz, nothing at 440 Hz.
        let x = render(&tune(vec![note(81, 1, 4)]), 60.0, rate as u32);
        let steady = x.get(1600..14_400).unwrap();
        assert!(dft(steady, 880.0, rate) > 20.0 * dft(steady, 440.0, rate));
    }

    #[test]
    fn wav_round_trip() {
        let x = render(&melody(), 120.0, 22_050);
        let bytes = wav_bytes(&x, 22_050).unwrap();
        let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
        let spec = reader.spec();
        assert_eq!(spec.sample_rate, 22_050);
        assert_eq!(spec.bits_per_sample, 16);
        assert_eq!(spec.channels, 1);
        assert_eq!(spec.sample_format, hound::SampleFormat::Int);
        assert_eq!(reader.len() as usize, x.len());
        let back: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(back.len(), x.len());
        for (&a, &b) in x.iter().zip(&back) {
            assert!((f64::from(a) * 32767.0 - f64::from(b)).abs() <= 0.5 + 1e-3);
        }
        assert!(wav_bytes(&x, 0).is_err());
    }
}

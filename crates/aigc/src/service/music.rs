//! Composing with a run that offers melodies: a tune in a key and meter as ABC text, a MIDI file
//! and a WAV rendering, all in memory.

use std::path::PathBuf;

use aigc_music::abc::write_abc;
use aigc_music::{Tune, audio, midi};
use burn::tensor::Device;

use crate::apps::compose::{ComposeRequest, compose as compose_tune, parse_key, parse_meter};
use crate::error::{AigcError, Result};
use crate::families;
use crate::run::CheckpointChoice;
use crate::sample::text::SamplingConfig;

/// Sample rate of the WAV rendering.
pub const SAMPLE_RATE: u32 = 44_100;

/// What to compose.
#[derive(Debug, Clone)]
pub struct CompositionRequest {
    pub run: PathBuf,
    /// An ABC key name (`G`, `Am`, `Ador`, `Dmix`, `Bb`).
    pub key: String,
    /// `6/8`, `4/4`, `C`, …: one the training tunes have.
    pub meter: String,
    pub bars: usize,
    /// Opening notes in ABC (unit length an eighth).
    pub primer: Option<String>,
    pub sampling: SamplingConfig,
    pub seed: u64,
    /// Quarter notes per minute (MIDI and WAV).
    pub tempo: f64,
    /// General MIDI program of the MIDI file (0-based).
    pub program: u8,
}

/// A composed tune in three forms.
pub struct Composition {
    pub tune: Tune,
    pub abc: String,
    pub midi: Vec<u8>,
    pub wav: Vec<u8>,
    pub seconds: f64,
}

/// Composes a tune with the run's model (the best checkpoint of a neural run).
pub fn compose(request: &CompositionRequest, device: &Device) -> Result<Composition> {
    request.sampling.validate()?;
    if !(request.tempo >= 20.0 && request.tempo <= 400.0) {
        return Err(AigcError::invalid("tempo", format!("must be between 20 and 400 quarter notes per minute, got {}", request.tempo)));
    }
    if request.program > 127 {
        return Err(AigcError::invalid("program", "General MIDI programs are 0 to 127"));
    }
    let (key, meter) = (parse_key(&request.key)?, parse_meter(&request.meter)?);
    let melodies = families::open(&request.run)?.melodies(CheckpointChoice::Best, device)?;
    let spec = ComposeRequest {
        key,
        meter,
        bars: request.bars,
        primer: request.primer.clone(),
        sampling: request.sampling,
        seed: request.seed,
        pitch_range: melodies.pitch_range(),
    };
    let (_, mut tune) = compose_tune(melodies.model(), melodies.vocab(), &spec)?;
    tune.title = format!("aigc composition (seed {})", request.seed);
    tune.tempo_qpm = Some(request.tempo as f32);
    let samples = audio::render(&tune, request.tempo, SAMPLE_RATE);
    let wav = audio::wav_bytes(&samples, SAMPLE_RATE).map_err(|e| AigcError::output("<wav>", e))?;
    Ok(Composition {
        abc: write_abc(&tune),
        midi: midi::write_midi(&tune, request.tempo, request.program),
        wav,
        seconds: audio::tune_seconds(&tune, request.tempo),
        tune,
    })
}

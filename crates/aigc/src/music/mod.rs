//! Music: folk melodies from ABC and MIDI, event tokens for sequence models, the Markov
//! baseline, composition by constrained sampling, MIDI and WAV output, and melody metrics.

pub mod abc;
pub mod audio;
pub mod compose;
pub mod corpus;
pub mod markov;
pub mod metrics;
pub mod midi;
pub mod tokens;

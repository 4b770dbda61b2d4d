//! Music notation for aigc, with no deep-learning code: the domain types of a melody
//! ([`tune`]: exact durations, meters, keys, events), ABC text ([`abc`]) and standard MIDI files
//! ([`midi`]) in and out, the event tokens sequence models are trained on ([`tokens`]), the
//! Markov baseline ([`markov`]), melody statistics ([`metrics`]) and a small synthesiser that
//! renders a tune to WAV ([`audio`]).

pub mod abc;
pub mod audio;
pub mod markov;
pub mod metrics;
pub mod midi;
pub mod tokens;
pub mod tune;

pub use tune::{Event, Key, Meter, Mode, Rational, Tune};

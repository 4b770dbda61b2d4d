//! The shared training machinery: configs, run directories, atomic checkpoints, metric logs, the
//! seeded noise source, and the training loops that use them.

pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod ema;
pub mod gan;
pub mod metrics;
pub mod progress;
pub mod rng;
pub mod run;
pub mod vae;

pub use checkpoint::{Checkpoints, TrainState};
pub use config::GanTrainConfig;
pub use gan::{GanTrainer, TrainOptions, TrainOutcome, train_gan};
pub use metrics::{GanMetrics, MetricsLog};
pub use run::RunDir;

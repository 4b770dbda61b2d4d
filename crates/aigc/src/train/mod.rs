//! The shared training machinery: configs, run directories, atomic checkpoints, metric logs, the
//! seeded noise source, and the training loops that use them.

pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod ema;
pub mod gan;
pub mod metrics;
pub mod music;
pub mod progress;
pub mod rng;
pub mod run;
pub mod text;
pub mod vae;

pub use checkpoint::{Checkpoints, TrainState};
pub use config::GanTrainConfig;
pub use gan::{GanTrainer, TrainOptions, TrainOutcome, train_gan};
pub use metrics::{GanMetrics, MetricsLog};
pub use run::RunDir;

use crate::data::{DataSource, DataSplits};
use crate::error::{AigcError, Result};

/// Loads a training job's data: at least two training images, and labels when the model is
/// class-conditional (`model` names it in the error).
pub fn load_training_data(data: &str, image_size: u32, conditional: bool, model: &str) -> Result<DataSplits> {
    let splits = DataSource::parse(data).load(image_size)?;
    if splits.train.len() < 2 {
        return Err(AigcError::bad_argument("--data", format!("{data}: needs at least 2 training images")));
    }
    if conditional && splits.train.labels().is_none() {
        return Err(AigcError::bad_argument(
            "--conditional",
            format!("{data}: a class-conditional {model} needs labelled data (IDX labels or one subfolder per class)"),
        ));
    }
    Ok(splits)
}

//! The feature networks of data sets, trained once and cached (`$AIGC_CACHE_DIR`, else
//! `~/.cache/aigc`): one folder per data set and image shape, which is also the run directory of
//! its training (so an interrupted training resumes).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use super::classifier::{Classifier, ClassifierConfig, ClassifierReport, ClassifierTrainConfig, train_classifier};
use super::extractor::ClassifierFeatures;
use crate::data::{DataSource, DataSplits};
use crate::error::{AigcError, Result};
use crate::io::write_json;
use crate::run::record;

/// Where trained feature networks are cached: `$AIGC_CACHE_DIR`, else `~/.cache/aigc`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AIGC_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("aigc")
}

fn feature_dir(cache: &Path, data_name: &str, splits: &DataSplits) -> PathBuf {
    let slug: String =
        data_name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    cache.join("features").join(format!("{slug}-{}", splits.train.shape))
}

/// The feature network of a data set: loaded from the cache under `cache`, else trained (and
/// cached there).
pub fn feature_network(
    cache: &Path,
    data_name: &str,
    splits: &DataSplits,
    device: &Device,
    quiet: bool,
    retrain: bool,
) -> Result<(Classifier, ClassifierReport)> {
    let dir = feature_dir(cache, data_name, splits);
    let (weights, report_path) = (dir.join("classifier.bpk"), dir.join("report.json"));
    if !retrain && weights.is_file() && report_path.is_file() {
        let text = crate::io::read_text(&report_path, crate::io::limits::CONFIG_BYTES)?;
        let report: ClassifierReport = serde_json::from_str(&text)
            .map_err(|e| AigcError::bad_data(&report_path, format!("bad feature-network report: {e}")))?;
        let shape = report.shape;
        let model = ClassifierConfig::new(shape.channels, shape.height, shape.width, report.classes).init(device);
        return Ok((record::load_module(model, &weights)?, report));
    }
    if retrain && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| AigcError::io(&dir, e))?;
    }
    tracing::info!(data = data_name, "training the feature network (cached in {})", dir.display());
    let (model, report) =
        train_classifier(&splits.train, &splits.heldout, data_name, &ClassifierTrainConfig::new(), &dir, device, quiet)?;
    save_feature_network(cache, data_name, splits, &model, &report)?;
    Ok((model, report))
}

/// The fallback for unlabelled data (see [`super::extractor`]): the embedded digits' feature
/// network at the data's image size. Grayscale only.
fn borrowed_feature_network(
    shape: crate::data::ImageShape,
    cache: &Path,
    device: &Device,
    quiet: bool,
) -> Result<(Classifier, ClassifierReport)> {
    if shape.channels != 1 || shape.height != shape.width {
        return Err(AigcError::invalid("data",
            format!(
                "unlabelled {shape} images have no feature network to borrow (the digits' network takes square \
                 grayscale images); compare folders with `aigc eval --real DIR --fake DIR --features DATA` instead"
            ),
        ));
    }
    tracing::info!("unlabelled data: measuring with the embedded digits' feature network at {shape}");
    let digits = DataSource::Mnist.load(shape.height as u32)?;
    feature_network(cache, "mnist", &digits, device, quiet, false)
}

/// Stores a trained feature network in the cache (weights, then its report, each atomically).
pub fn save_feature_network(
    cache: &Path,
    data_name: &str,
    splits: &DataSplits,
    model: &Classifier,
    report: &ClassifierReport,
) -> Result<()> {
    let dir = feature_dir(cache, data_name, splits);
    let (weights, report_path) = (dir.join("classifier.bpk"), dir.join("report.json"));
    std::fs::create_dir_all(&dir).map_err(|e| AigcError::io(&dir, e))?;
    let tmp = dir.join("classifier.bpk.tmp");
    model.clone().into_record().save(&tmp).map_err(|e| AigcError::output(&tmp, e))?;
    std::fs::rename(&tmp, &weights).map_err(|e| AigcError::io(&weights, e))?;
    write_json(&report_path, report)
}

/// The feature extractor for images of a data set: its own feature network when labelled, else
/// the digits' (see [`super::extractor`]).
pub fn data_extractor(data_name: &str, splits: &DataSplits, cache: &Path, device: &Device, quiet: bool) -> Result<ClassifierFeatures> {
    let (model, report) = if splits.train.labels().is_some() {
        feature_network(cache, data_name, splits, device, quiet, false)?
    } else {
        borrowed_feature_network(splits.train.shape, cache, device, quiet)?
    };
    Ok(ClassifierFeatures { model, report, device: device.clone() })
}


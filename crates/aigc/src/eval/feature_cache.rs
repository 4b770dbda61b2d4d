//! The feature networks of data sets, trained once and cached (`$AIGC_CACHE_DIR`, else
//! `~/.cache/aigc`): one folder per data set and image shape, which is also the run directory of
//! its training (so an interrupted training resumes). A labelled data set gets a classifier, an
//! unlabelled one a self-supervised encoder (see [`super::extractor`]). Data given by path is
//! keyed by a checksum of its training images too, so edited folders get a new network.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::classifier::{Classifier, ClassifierConfig, ClassifierReport, ClassifierTrainConfig, train_classifier};
use super::contrastive::{EncoderConfig, EncoderReport, EncoderTrainConfig, train_encoder};
use super::extractor::{ClassifierFeatures, EncoderFeatures, FeatureExtractor};
use crate::data::{DataSource, DataSplits, ImageDataset};
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

/// `features/NAME-SHAPE[-KIND][-CHECKSUM]`: embedded and installed sets by name alone (their
/// content is fixed), others with a checksum of their training images.
fn feature_dir(cache: &Path, data_name: &str, train: &ImageDataset, kind: &str) -> PathBuf {
    let slug: String = data_name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let slug: String = slug.chars().rev().take(80).collect::<Vec<_>>().into_iter().rev().collect();
    let mut name = format!("{slug}-{}{kind}", train.shape);
    if matches!(DataSource::parse(data_name), DataSource::Path(_)) {
        name.push_str(&format!("-{:08x}", crc32fast::hash(train.pixels())));
    }
    cache.join("features").join(name)
}

const CLASSIFIER_FILE: &str = "classifier.bpk";
const ENCODER_FILE: &str = "encoder.bpk";
const REPORT_FILE: &str = "report.json";

/// A cached network's weights and report, when both are there.
fn cached<R: DeserializeOwned>(dir: &Path, weights: &str) -> Result<Option<R>> {
    let (weights, report_path) = (dir.join(weights), dir.join(REPORT_FILE));
    if !(weights.is_file() && report_path.is_file()) {
        return Ok(None);
    }
    let text = crate::io::read_text(&report_path, crate::io::limits::CONFIG_BYTES)?;
    let report = serde_json::from_str(&text).map_err(|e| AigcError::bad_data(&report_path, format!("bad feature-network report: {e}")))?;
    Ok(Some(report))
}

fn clear(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| AigcError::io(dir, e))?;
    }
    Ok(())
}

/// The classifier of a labelled data set: loaded from the cache under `cache`, else trained
/// (and cached there).
pub fn feature_network(
    cache: &Path,
    data_name: &str,
    splits: &DataSplits,
    device: &Device,
    quiet: bool,
    retrain: bool,
) -> Result<(Classifier, ClassifierReport)> {
    let dir = feature_dir(cache, data_name, &splits.train, "");
    if !retrain && let Some(report) = cached::<ClassifierReport>(&dir, CLASSIFIER_FILE)? {
        let shape = report.shape;
        let model = ClassifierConfig::new(shape.channels, shape.height, shape.width, report.classes).init(device);
        return Ok((record::load_module(model, &dir.join(CLASSIFIER_FILE))?, report));
    }
    if retrain {
        clear(&dir)?;
    }
    tracing::info!(data = data_name, "training the feature network, a classifier of the labelled images (once; cached in {})", dir.display());
    let (model, report) =
        train_classifier(&splits.train, &splits.heldout, data_name, &ClassifierTrainConfig::new(), &dir, device, quiet)?;
    save_network(&dir, CLASSIFIER_FILE, &model, &report)?;
    Ok((model, report))
}

/// The self-supervised encoder of an unlabelled data set, cached as [`feature_network`].
pub fn encoder_network(cache: &Path, data_name: &str, splits: &DataSplits, device: &Device, quiet: bool, retrain: bool) -> Result<EncoderFeatures> {
    let dir = feature_dir(cache, data_name, &splits.train, "-simclr");
    if !retrain && let Some(report) = cached::<EncoderReport>(&dir, ENCODER_FILE)? {
        let shape = report.shape;
        let model = EncoderConfig::new(shape.channels, shape.height, shape.width).init(device);
        let model = record::load_module(model, &dir.join(ENCODER_FILE))?;
        return Ok(EncoderFeatures { model, report, device: device.clone() });
    }
    if retrain {
        clear(&dir)?;
    }
    tracing::info!(
        data = data_name,
        "training the feature network, a self-supervised encoder of the unlabelled images (once; cached in {})",
        dir.display()
    );
    let (model, report) = train_encoder(&splits.train, &splits.heldout, data_name, &EncoderTrainConfig::new(), &dir, device, quiet)?;
    save_network(&dir, ENCODER_FILE, &model, &report)?;
    Ok(EncoderFeatures { model, report, device: device.clone() })
}

/// Stores a labelled data set's trained classifier in the cache.
pub fn save_feature_network(cache: &Path, data_name: &str, splits: &DataSplits, model: &Classifier, report: &ClassifierReport) -> Result<()> {
    save_network(&feature_dir(cache, data_name, &splits.train, ""), CLASSIFIER_FILE, model, report)
}

/// Weights, then the report, each atomically.
fn save_network<M: Module, R: Serialize>(dir: &Path, file: &str, model: &M, report: &R) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| AigcError::io(dir, e))?;
    let (tmp, weights) = (dir.join(format!("{file}.tmp")), dir.join(file));
    model.clone().into_record().save(&tmp).map_err(|e| AigcError::output(&tmp, e))?;
    std::fs::rename(&tmp, &weights).map_err(|e| AigcError::io(&weights, e))?;
    write_json(&dir.join(REPORT_FILE), report)
}

/// The feature extractor for images of a data set: its classifier when labelled, else its
/// self-supervised encoder (trained on first use; `retrain` trains it again).
pub fn data_extractor(data_name: &str, splits: &DataSplits, cache: &Path, device: &Device, quiet: bool) -> Result<Box<dyn FeatureExtractor>> {
    prepare_extractor(data_name, splits, cache, device, quiet, false)
}

/// [`data_extractor`], optionally trained again (`aigc features train --retrain`).
pub fn prepare_extractor(
    data_name: &str,
    splits: &DataSplits,
    cache: &Path,
    device: &Device,
    quiet: bool,
    retrain: bool,
) -> Result<Box<dyn FeatureExtractor>> {
    if splits.train.labels().is_some() {
        let (model, report) = feature_network(cache, data_name, splits, device, quiet, retrain)?;
        Ok(Box::new(ClassifierFeatures { model, report, device: device.clone() }))
    } else {
        Ok(Box::new(encoder_network(cache, data_name, splits, device, quiet, retrain)?))
    }
}

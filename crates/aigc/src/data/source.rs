//! Resolving `--data mnist|fashion-mnist|PATH` into train and held-out image sets.

use std::path::{Path, PathBuf};

use super::folder::{FolderOptions, load_image_folder};
use super::idx::{IdxArray, read_idx_file};
use super::{ImageDataset, ImageShape, embedded};
use crate::error::{AigcError, Result};

/// Where the Debian package `dataset-fashion-mnist` installs its IDX files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// A data set named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// The embedded 10,000 MNIST digits.
    Mnist,
    /// Fashion-MNIST's 70,000 images from the Debian package.
    FashionMnist,
    /// The 100 embedded LFW face crops (25×25, resized to the image size).
    Faces100,
    /// A folder holding MNIST-layout IDX files, an IDX image file, or a folder of images.
    Path(PathBuf),
}

/// Training and held-out images of one data set.
#[derive(Debug, Clone)]
pub struct DataSplits {
    pub name: String,
    pub train: ImageDataset,
    pub heldout: ImageDataset,
}

impl DataSource {
    pub fn parse(value: &str) -> Self {
        match value {
            "mnist" | "digits" => DataSource::Mnist,
            "fashion-mnist" | "fashion_mnist" => DataSource::FashionMnist,
            "faces-100" | "faces" => DataSource::Faces100,
            path => DataSource::Path(PathBuf::from(path)),
        }
    }

    /// Loads the data at `image_size`×`image_size` pixels (image folders are centre-cropped and
    /// resized while decoding, everything else resized after loading when its size differs).
    pub fn load(&self, image_size: u32) -> Result<DataSplits> {
        let splits = match self {
            DataSource::Mnist => embedded::mnist_digits()?,
            DataSource::FashionMnist => load_fashion_mnist(Path::new(FASHION_MNIST_DIR))?,
            DataSource::Faces100 => embedded::faces_100()?,
            DataSource::Path(path) => load_path(path, image_size)?,
        };
        let size = image_size as usize;
        Ok(DataSplits { name: splits.name, train: splits.train.resized(size)?, heldout: splits.heldout.resized(size)? })
    }
}

fn load_fashion_mnist(dir: &Path) -> Result<DataSplits> {
    let train = dir.join("train-images-idx3-ubyte.gz");
    if !train.exists() {
        return Err(AigcError::Missing {
            path: train,
            hint: " (install Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist`, or \
                   `scripts/install-data.sh fashion-mnist`)"
                .into(),
        });
    }
    let mut splits = load_idx_dir(dir, "fashion-mnist")?;
    let names: Vec<String> = FASHION_CLASSES.iter().map(|s| s.to_string()).collect();
    splits.train.class_names = names.clone();
    splits.heldout.class_names = names;
    Ok(splits)
}

fn load_path(path: &Path, image_size: u32) -> Result<DataSplits> {
    if !path.exists() {
        return Err(AigcError::Missing {
            path: path.to_path_buf(),
            hint: format!(
                " (`data` expects mnist, fashion-mnist, faces-100, a folder of images or IDX files, or an IDX file){}",
                super::catalog::did_you_mean(&path.to_string_lossy(), super::catalog::Kind::Images)
            ),
        });
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    if path.is_file() {
        let images = load_idx_images(path)?;
        return Ok(split_tenth(images, name));
    }
    if find_idx(path, "train-images-idx3-ubyte").is_some() {
        return load_idx_dir(path, &name);
    }
    let images = load_image_folder(path, FolderOptions { size: image_size, channels: None })?;
    Ok(split_tenth(images, name))
}

/// `dir/{train,t10k|test|heldout}-{images-idx3,labels-idx1}-ubyte[.gz]`, as MNIST ships.
fn load_idx_dir(dir: &Path, name: &str) -> Result<DataSplits> {
    let train_path = find_idx(dir, "train-images-idx3-ubyte").ok_or_else(|| AigcError::Missing {
        path: dir.join("train-images-idx3-ubyte.gz"),
        hint: String::new(),
    })?;
    let train = load_idx_images(&train_path)?;
    let heldout = ["t10k", "test", "heldout"]
        .iter()
        .find_map(|prefix| find_idx(dir, &format!("{prefix}-images-idx3-ubyte")));
    match heldout {
        Some(path) => Ok(DataSplits { name: name.into(), train, heldout: load_idx_images(&path)? }),
        None => Ok(split_tenth(train, name.into())),
    }
}

fn find_idx(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()].into_iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// An IDX image file, with the labels file beside it (`images-idx3` → `labels-idx1`) if present.
pub fn load_idx_images(images_path: &Path) -> Result<ImageDataset> {
    let images = read_idx_file(images_path)?;
    let file_name = images_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let labels_path = images_path.with_file_name(file_name.replace("images-idx3", "labels-idx1"));
    let labels = if labels_path != images_path && labels_path.is_file() {
        Some((read_idx_file(&labels_path)?, labels_path))
    } else {
        None
    };
    images_with_labels(images, images_path, labels.as_ref().map(|(a, p)| (a.clone(), p.as_path())))
}

/// Checks an image array (`[n, h, w]` or `[n, c, h, w]`) against its label array (`[n]`).
pub fn images_with_labels(
    images: IdxArray,
    images_path: &Path,
    labels: Option<(IdxArray, &Path)>,
) -> Result<ImageDataset> {
    let shape = match images.dims[..] {
        [_, h, w] => ImageShape::new(1, h, w),
        [_, c, h, w] => ImageShape::new(c, h, w),
        _ => {
            return Err(AigcError::bad_data(
                images_path,
                format!("expected images of rank 3 [n, h, w] or 4 [n, c, h, w], found dimensions {:?}", images.dims),
            ));
        }
    };
    let count = images.dims[0];
    if count == 0 || shape.is_empty() {
        return Err(AigcError::bad_data(images_path, "holds no images"));
    }
    let labels = match labels {
        None => None,
        Some((labels, labels_path)) => {
            if labels.dims.len() != 1 {
                return Err(AigcError::bad_data(
                    labels_path,
                    format!("expected labels of rank 1, found dimensions {:?}", labels.dims),
                ));
            }
            if labels.dims[0] != count {
                return Err(AigcError::bad_data(
                    labels_path,
                    format!("{} labels for {count} images in {}", labels.dims[0], images_path.display()),
                ));
            }
            Some(labels.data.iter().map(|&l| l as u16).collect::<Vec<_>>())
        }
    };
    let class_names = match &labels {
        Some(l) => (0..=l.iter().copied().max().unwrap_or(0)).map(|c| c.to_string()).collect(),
        None => Vec::new(),
    };
    Ok(ImageDataset::new(shape, images.data, labels, class_names))
}

/// Holds out every tenth image (a fixed, order-based split) when a source has no held-out part.
fn split_tenth(all: ImageDataset, name: String) -> DataSplits {
    let (mut train_idx, mut held_idx) = (Vec::new(), Vec::new());
    for i in 0..all.len() {
        if i % 10 == 9 { held_idx.push(i) } else { train_idx.push(i) }
    }
    if held_idx.is_empty() {
        held_idx = train_idx.clone();
    }
    DataSplits { name, train: all.select(&train_idx), heldout: all.select(&held_idx) }
}

/// Loads a training job's images: at least two training images, and labels when the model is
/// class-conditional (`model` names it in the error).
pub fn load_training_images(data: &str, image_size: u32, conditional: bool, model: &str) -> Result<DataSplits> {
    let splits = DataSource::parse(data).load(image_size)?;
    if splits.train.len() < 2 {
        return Err(AigcError::invalid("data", format!("{data}: needs at least 2 training images")));
    }
    if conditional && splits.train.labels().is_none() {
        return Err(AigcError::invalid(
            "conditional",
            format!("{data}: a class-conditional {model} needs labelled data (IDX labels or one subfolder per class)"),
        ));
    }
    Ok(splits)
}

/// The image shape and class count of `data` at `image_size` (without loading all the data for
/// the embedded digits).
pub fn image_shape_of(data: &str, image_size: u32) -> Result<(ImageShape, usize)> {
    match DataSource::parse(data) {
        DataSource::Mnist | DataSource::FashionMnist => {
            let side = image_size as usize;
            Ok((ImageShape::new(1, side, side), 10))
        }
        source => {
            let train = source.load(image_size)?.train;
            Ok((train.shape, train.class_names.len()))
        }
    }
}

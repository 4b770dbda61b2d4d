//! Data sets and the loaders that read them: IDX files (MNIST format), image folders and the
//! embedded digits; text corpora ([`text`]) and tune collections ([`music`]). Every loader returns an [`ImageDataset`] of 8-bit pixels; models see floats in
//! [-1, 1] through [`ImageDataset::batch`].

pub mod catalog;
pub mod embedded;
pub mod folder;
pub mod idx;
pub mod music;
pub mod source;
pub mod text;
pub mod tokenizer;

pub use source::{DataSource, DataSplits, image_shape_of, load_training_images};

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{AigcError, Result};

/// Channels × height × width of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self { channels, height, width }
    }

    /// Number of values in one image.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// A set of same-sized images, stored as 8-bit pixels in channel-major (CHW) order, with optional
/// class labels.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    pub shape: ImageShape,
    pixels: Vec<u8>,
    labels: Option<Vec<u16>>,
    /// Names of the classes, indexed by label (digits "0".."9", folder names, ...).
    pub class_names: Vec<String>,
}

impl ImageDataset {
    /// Builds a data set; `pixels.len()` must be a multiple of the image size and `labels`, when
    /// given, must have one entry per image (callers check and report with file names first).
    pub fn new(
        shape: ImageShape,
        pixels: Vec<u8>,
        labels: Option<Vec<u16>>,
        class_names: Vec<String>,
    ) -> Self {
        assert!(!shape.is_empty() && pixels.len() % shape.len() == 0, "pixel buffer does not hold whole images");
        if let Some(labels) = &labels {
            assert_eq!(labels.len(), pixels.len() / shape.len(), "one label per image");
        }
        Self { shape, pixels, labels, class_names }
    }

    pub fn len(&self) -> usize {
        self.pixels.len() / self.shape.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The 8-bit pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let n = self.shape.len();
        &self.pixels[index * n..(index + 1) * n]
    }

    /// Every image's 8-bit pixels, one after the other.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn label(&self, index: usize) -> Option<u16> {
        self.labels.as_ref().map(|l| l[index])
    }

    pub fn labels(&self) -> Option<&[u16]> {
        self.labels.as_deref()
    }

    /// The images at `indices` as floats in [-1, 1] (pixel / 127.5 - 1), row-major per image.
    pub fn batch_values(&self, indices: &[usize]) -> Vec<f32> {
        let mut values = Vec::with_capacity(indices.len() * self.shape.len());
        for &i in indices {
            values.extend(self.image(i).iter().map(|&p| p as f32 / 127.5 - 1.0));
        }
        values
    }

    /// The images at `indices` as a `[batch, C*H*W]` tensor in [-1, 1].
    pub fn batch(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let data = TensorData::new(self.batch_values(indices), [indices.len(), self.shape.len()]);
        Tensor::from_data(data, device)
    }

    /// Every image resized to `size`×`size` (Lanczos when shrinking, Catmull-Rom when growing);
    /// the data set itself when it already has that size. The resized set must fit the limit of
    /// [`check_size`].
    pub fn resized(self, size: usize) -> Result<ImageDataset> {
        let shape = self.shape;
        if shape.height == size && shape.width == size {
            return Ok(self);
        }
        check_size(self.len(), ImageShape::new(shape.channels, size, size))?;
        let filter = if size < shape.height.min(shape.width) {
            image::imageops::FilterType::Lanczos3
        } else {
            image::imageops::FilterType::CatmullRom
        };
        let new_shape = ImageShape::new(shape.channels, size, size);
        let plane = shape.height * shape.width;
        let mut pixels = Vec::with_capacity(self.len() * new_shape.len());
        for i in 0..self.len() {
            for c in 0..shape.channels {
                let channel = &self.image(i)[c * plane..(c + 1) * plane];
                let buffer = image::GrayImage::from_raw(shape.width as u32, shape.height as u32, channel.to_vec())
                    .expect("a channel plane holds width × height pixels");
                pixels.extend_from_slice(image::imageops::resize(&buffer, size as u32, size as u32, filter).as_raw());
            }
        }
        Ok(ImageDataset { shape: new_shape, pixels, labels: self.labels, class_names: self.class_names })
    }

    /// The images at `indices` as a new data set.
    pub fn select(&self, indices: &[usize]) -> ImageDataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.shape.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageDataset {
            shape: self.shape,
            pixels,
            labels: self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
            class_names: self.class_names.clone(),
        }
    }
}

/// Every file under `root` (searched recursively) that `keep` accepts, sorted by path.
pub(crate) fn files_under(root: &std::path::Path, keep: impl Fn(&std::path::Path) -> bool) -> crate::error::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| crate::error::AigcError::io(&dir, e))? {
            let p = entry.map_err(|e| crate::error::AigcError::io(&dir, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// `data` as an absolute path when it names an existing file or folder, so a run's config works
/// from any directory; names of known data sets (and paths that do not exist) stay as they are.
pub fn absolute(data: &str) -> String {
    let path = std::path::Path::new(data);
    if catalog::catalog().iter().any(|d| d.name == data) || !path.exists() {
        return data.to_string();
    }
    std::fs::canonicalize(path).map_or_else(|_| data.to_string(), |p| p.to_string_lossy().into_owned())
}

/// The most pixel bytes a data set may hold in memory (its images at the requested size).
pub const MAX_DATASET_BYTES: u64 = 1 << 30;

/// Whether `n` images of `shape` fit [`MAX_DATASET_BYTES`]; the error names `image_size`.
pub fn check_size(n: usize, shape: ImageShape) -> Result<()> {
    let bytes = (n as u64).saturating_mul(shape.len() as u64);
    if bytes > MAX_DATASET_BYTES {
        return Err(AigcError::invalid(
            "image_size",
            format!("{n} images of {shape} take {bytes} bytes, more than the limit of {MAX_DATASET_BYTES}; choose a smaller size"),
        ));
    }
    Ok(())
}

/// One-hot rows `[labels.len(), classes]` of class labels.
pub fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        values[row * classes + label.min(classes - 1)] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [labels.len(), classes]), device)
}

impl ImageDataset {
    /// One-hot labels `[indices.len(), classes]` of images of this set, for a conditional model
    /// (`None` when `classes` is 0, i.e. the model is unconditional).
    pub fn one_hot_labels(&self, indices: &[usize], classes: usize, device: &Device) -> Option<Tensor<2>> {
        (classes > 0).then(|| {
            let labels: Vec<usize> = indices.iter().map(|&i| self.label(i).unwrap_or(0) as usize).collect();
            one_hot(&labels, classes, device)
        })
    }
}

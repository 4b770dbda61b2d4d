//! Image-folder loader: every PNG/JPEG under a folder, centre-cropped to a square and resized to
//! the model's size. When the images sit in subfolders, the subfolder names are the class labels
//! (as torchvision's `ImageFolder`).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::{ImageDataset, ImageShape};
use crate::error::{AigcError, Result};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// How to turn a folder of pictures into same-sized training images.
#[derive(Debug, Clone, Copy)]
pub struct FolderOptions {
    /// Side of the square images produced.
    pub size: u32,
    /// 1 (grayscale) or 3 (RGB); `None` picks 1 when every image is grayscale, else 3.
    pub channels: Option<usize>,
}

/// Loads every image under `root` (see the module docs).
pub fn load_image_folder(root: &Path, options: FolderOptions) -> Result<ImageDataset> {
    if !root.exists() {
        return Err(AigcError::Missing { path: root.to_path_buf(), hint: String::new() });
    }
    if !root.is_dir() {
        return Err(AigcError::bad_data(root, "expected a folder of PNG/JPEG images"));
    }
    if options.size == 0 {
        return Err(AigcError::invalid("image_size", "must be at least 1"));
    }
    let (files, class_names) = list_images(root)?;
    if files.is_empty() {
        return Err(AigcError::bad_data(root, "no PNG/JPEG images found (empty folder)"));
    }
    super::check_size(files.len(), ImageShape::new(options.channels.unwrap_or(3), options.size as usize, options.size as usize))?;
    let mut decoded = Vec::with_capacity(files.len());
    for (path, label) in &files {
        let img = read_picture(path)?;
        decoded.push((crop_resize(img, options.size), *label));
    }
    let channels = options.channels.unwrap_or_else(|| {
        let all_gray = decoded.iter().all(|(img, _)| !img.color().has_color());
        if all_gray { 1 } else { 3 }
    });
    if channels != 1 && channels != 3 {
        return Err(AigcError::invalid("channels", format!("{channels} not supported, expected 1 or 3")));
    }
    let shape = ImageShape::new(channels, options.size as usize, options.size as usize);
    let mut pixels = Vec::with_capacity(files.len() * shape.len());
    for (img, _) in &decoded {
        push_chw(img, channels, &mut pixels);
    }
    let labels = if class_names.is_empty() {
        None
    } else {
        Some(decoded.iter().map(|(_, l)| l.unwrap_or(0)).collect())
    };
    Ok(ImageDataset::new(shape, pixels, labels, class_names))
}

/// The image files under `root`, sorted, with a class index when they sit in subfolders.
fn list_images(root: &Path) -> Result<(Vec<(PathBuf, Option<u16>)>, Vec<String>)> {
    let mut top_files = Vec::new();
    let mut subdirs = Vec::new();
    for entry in read_dir_sorted(root)? {
        if entry.is_dir() {
            subdirs.push(entry);
        } else if is_image(&entry) {
            top_files.push((entry, None));
        }
    }
    if !top_files.is_empty() || subdirs.is_empty() {
        return Ok((top_files, Vec::new()));
    }
    let mut files = Vec::new();
    let mut class_names = Vec::new();
    for dir in subdirs {
        let images: Vec<PathBuf> = read_dir_sorted(&dir)?.into_iter().filter(|p| is_image(p)).collect();
        if images.is_empty() {
            continue;
        }
        let label = class_names.len() as u16;
        class_names.push(dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        files.extend(images.into_iter().map(|p| (p, Some(label))));
    }
    Ok((files, class_names))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| AigcError::io(dir, e))? {
        entries.push(entry.map_err(|e| AigcError::io(dir, e))?.path());
    }
    entries.sort();
    Ok(entries)
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Centre-crops to the largest square, then resizes to `size`×`size` (Lanczos when shrinking).
fn crop_resize(img: image::DynamicImage, size: u32) -> image::DynamicImage {
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    let cropped = img.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    if side == size { cropped } else { cropped.resize_exact(size, size, FilterType::Lanczos3) }
}

/// Appends `img`'s pixels channel by channel (grey for `channels == 1`, else RGB planes).
pub(crate) fn push_chw(img: &image::DynamicImage, channels: usize, out: &mut Vec<u8>) {
    if channels == 1 {
        out.extend_from_slice(img.to_luma8().as_raw());
    } else {
        let rgb = img.to_rgb8();
        for c in 0..3 {
            out.extend(rgb.pixels().map(|p| p.0[c]));
        }
    }
}

/// The largest pictures aigc decodes: no side over 16,384 pixels, at most 512 MiB decoded.
const MAX_PICTURE_SIDE: u32 = 16_384;
const MAX_PICTURE_BYTES: u64 = 512 << 20;

/// Decodes an encoded picture (PNG, JPEG, GIF) within the limits above; `name` names it in
/// errors.
pub fn decode_picture(bytes: &[u8], name: &Path) -> Result<image::DynamicImage> {
    let unreadable = |e: &dyn std::fmt::Display| AigcError::bad_data(name, format!("unreadable image: {e}"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| unreadable(&e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(MAX_PICTURE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| unreadable(&e))
}

/// Reads and decodes a picture file (a regular file within the data limit).
pub fn read_picture(path: &Path) -> Result<image::DynamicImage> {
    decode_picture(&crate::io::read_limited(path, crate::io::limits::data_bytes())?, path)
}

//! Image grids: a batch of generated or real images tiled into one PNG.

use std::path::Path;

use image::{DynamicImage, GrayImage, RgbImage};

use crate::data::ImageShape;
use crate::error::{AigcError, Result};
use crate::io::write_atomic;

const PAD: usize = 2;

fn to_u8(v: f32) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8
}

/// Tiles `values` (images of `shape`, CHW, in [-1, 1]) into a grid `cols` wide, with a 2-pixel
/// border.
pub fn grid_image(values: &[f32], shape: ImageShape, cols: usize) -> DynamicImage {
    let n = values.len() / shape.len();
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let (h, w) = (shape.height, shape.width);
    let width = (cols * (w + PAD) + PAD) as u32;
    let height = (rows * (h + PAD) + PAD) as u32;
    let mut rgb = RgbImage::new(width, height);
    for (i, image) in values.chunks_exact(shape.len()).enumerate() {
        let (x0, y0) = (PAD + (i % cols) * (w + PAD), PAD + (i / cols) * (h + PAD));
        for y in 0..h {
            for x in 0..w {
                let pixel = |c: usize| to_u8(image[c * h * w + y * w + x]);
                let rgb_px = if shape.channels >= 3 { [pixel(0), pixel(1), pixel(2)] } else { [pixel(0); 3] };
                rgb.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb_px));
            }
        }
    }
    if shape.channels >= 3 { DynamicImage::ImageRgb8(rgb) } else { DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb).to_luma8()) }
}

/// `image` enlarged `scale` times (nearest neighbour: pixels stay sharp squares).
pub fn enlarged(image: DynamicImage, scale: u32) -> DynamicImage {
    match scale {
        0 | 1 => image,
        k => image.resize_exact(image.width() * k, image.height() * k, image::imageops::FilterType::Nearest),
    }
}

/// An image as PNG bytes.
pub fn png_bytes(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).expect("PNG encoding into memory does not fail");
    bytes
}

/// The grid of [`grid_image`] as PNG bytes.
pub fn grid_png(values: &[f32], shape: ImageShape, cols: usize) -> Vec<u8> {
    png_bytes(&grid_image(values, shape, cols))
}

/// Saves a grid PNG atomically.
pub fn save_grid(values: &[f32], shape: ImageShape, cols: usize, path: &Path) -> Result<()> {
    write_atomic(path, &grid_png(values, shape, cols))
}

/// One image (CHW values in [-1, 1]) at its own size, without a border.
pub fn single_image(image: &[f32], shape: ImageShape) -> DynamicImage {
    let (h, w) = (shape.height as u32, shape.width as u32);
    let plane = (h * w) as usize;
    if shape.channels >= 3 {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let at = (y * w + x) as usize;
            image::Rgb([to_u8(image[at]), to_u8(image[plane + at]), to_u8(image[2 * plane + at])])
        }))
    } else {
        DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| image::Luma([to_u8(image[(y * w + x) as usize])])))
    }
}

/// Each image of `values` as PNG bytes, at its own size.
pub fn image_pngs(values: &[f32], shape: ImageShape) -> Vec<Vec<u8>> {
    values.chunks_exact(shape.len()).map(|image| png_bytes(&single_image(image, shape))).collect()
}

/// An animated GIF (looping, 0.12 s per frame) of single images, each enlarged `scale` times.
pub fn gif_bytes(frames: &[&[f32]], shape: ImageShape, scale: u32) -> Result<Vec<u8>> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame};
    let err = |e: image::ImageError| AigcError::output("<animation>", e);
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite).map_err(err)?;
        for values in frames {
            let image = grid_image(values, shape, 1);
            let (w, h) = (image.width() * scale, image.height() * scale);
            let rgba = image.resize_exact(w, h, image::imageops::FilterType::Nearest).to_rgba8();
            let frame = Frame::from_parts(rgba, 0, 0, Delay::from_numer_denom_ms(120, 1));
            encoder.encode_frame(frame).map_err(err)?;
        }
    }
    Ok(bytes)
}

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

/// What the captions of a [`captioned`] grid name.
pub enum Captions<'a> {
    /// One caption per row, left of it ("generated", "nearest training image").
    Rows(&'a [&'a str]),
    /// One caption per column, above it ("masked", "harmonic fill", …).
    Columns(&'a [&'a str]),
}

/// The grid of [`grid_image`], enlarged so each image is at least 96 px wide, with captions in
/// the embedded font (black on white), so a composite says which images are generated and which
/// are real.
pub fn captioned(values: &[f32], shape: ImageShape, cols: usize, captions: Captions<'_>) -> Result<DynamicImage> {
    use plotters::prelude::*;
    use super::plot::{FONT_NAME, ensure_font};
    ensure_font();
    let scale = 96usize.div_ceil(shape.width).max(1) as u32;
    let grid = enlarged(grid_image(values, shape, cols), scale).to_rgb8();
    let cell = ((shape.width + PAD) as u32 * scale) as usize;
    let font = 13.0;
    let (left, top) = match &captions {
        Captions::Rows(labels) => (labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32 * 8 + 12, 0),
        Captions::Columns(_) => (0, 22),
    };
    let (width, height) = (grid.width() + left, grid.height() + top);
    let mut buffer = vec![255u8; (width * height * 3) as usize];
    for (x, y, p) in grid.enumerate_pixels() {
        let i = (((y + top) * width + x + left) * 3) as usize;
        buffer[i..i + 3].copy_from_slice(&p.0);
    }
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        let style = TextStyle::from((FONT_NAME, font).into_font()).color(&BLACK);
        let draw = |text: &str, x: i32, y: i32| root.draw_text(text, &style, (x, y)).map_err(|e| AigcError::output("caption", e));
        match captions {
            Captions::Rows(labels) => {
                for (r, label) in labels.iter().enumerate() {
                    draw(label, 4, (r * cell + cell / 2) as i32 - 7)?;
                }
            }
            Captions::Columns(labels) => {
                for (c, label) in labels.iter().enumerate() {
                    let shown: String = label.chars().take(cell / 8).collect();
                    let x = (c * cell + cell / 2) as i32 - (shown.chars().count() as i32 * 8) / 2;
                    draw(&shown, x.max(0), 4)?;
                }
            }
        }
        root.present().map_err(|e| AigcError::output("caption", e))?;
    }
    let image = RgbImage::from_raw(width, height, buffer).expect("the buffer has the image's size");
    Ok(DynamicImage::ImageRgb8(image))
}

/// Saves a [`captioned`] grid as a PNG, atomically.
pub fn save_captioned(values: &[f32], shape: ImageShape, cols: usize, captions: Captions<'_>, path: &Path) -> Result<()> {
    write_atomic(path, &png_bytes(&captioned(values, shape, cols, captions)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captions take a margin beside (rows) or above (columns) the enlarged grid and are drawn
    /// in it: dark pixels on white; the images are left as they were.
    #[test]
    fn captions_are_drawn_beside_and_above_the_grid() {
        let shape = ImageShape::new(1, 8, 8);
        let values = vec![1.0f32; 4 * shape.len()];
        let plain = enlarged(grid_image(&values, shape, 2), 12).to_rgb8();
        for (captions, beside) in [(Captions::Rows(&["generated", "real"]), true), (Captions::Columns(&["a", "b"]), false)] {
            let image = captioned(&values, shape, 2, captions).unwrap().to_rgb8();
            let (dx, dy) = (image.width() - plain.width(), image.height() - plain.height());
            assert!(if beside { dx > 0 && dy == 0 } else { dx == 0 && dy > 0 }, "margin {dx}×{dy}");
            let margin = |x: u32, y: u32| if beside { x < dx } else { y < dy };
            let dark = image.enumerate_pixels().filter(|(x, y, p)| margin(*x, *y) && p.0[0] < 128).count();
            assert!(dark > 20, "caption pixels: {dark}");
            assert_eq!(image.get_pixel(dx + 40, dy + 40), plain.get_pixel(40, 40));
        }
    }
}

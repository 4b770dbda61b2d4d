//! Masks: which pixels of an image are missing.

use image::GenericImageView;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{AigcError, Result};

/// Which pixels are missing (shared by all channels), row-major `height × width`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub height: usize,
    pub width: usize,
    pub hole: Vec<bool>,
}

/// The mask families of `aigc eval inpaint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// A centred square of half the side.
    Centre,
    /// Four random squares of a quarter of the side.
    Random,
    /// The right half.
    Half,
}

impl MaskKind {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "centre" | "center" => Ok(Self::Centre),
            "random" => Ok(Self::Random),
            "half" => Ok(Self::Half),
            other => Err(AigcError::invalid("masks", format!("unknown mask {other:?}; expected centre, random or half"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Centre => "centre",
            Self::Random => "random",
            Self::Half => "half",
        }
    }

    /// The mask for an image of `height × width` (`rng` places the random blocks).
    pub fn mask(self, height: usize, width: usize, rng: &mut ChaCha8Rng) -> Mask {
        let mut m = Mask { height, width, hole: vec![false; height * width] };
        match self {
            Self::Centre => m.fill_rect(width / 4, height / 4, width.div_ceil(2), height.div_ceil(2)),
            Self::Half => m.fill_rect(width / 2, 0, width - width / 2, height),
            Self::Random => {
                let (bw, bh) = ((width / 4).max(1), (height / 4).max(1));
                for _ in 0..4 {
                    let (x, y) = (rng.random_range(0..=width - bw), rng.random_range(0..=height - bh));
                    m.fill_rect(x, y, bw, bh);
                }
            }
        }
        m
    }
}

impl Mask {
    /// The centred square of half the side (the default hole).
    pub fn centre(height: usize, width: usize) -> Self {
        MaskKind::Centre.mask(height, width, &mut ChaCha8Rng::seed_from_u64(0))
    }

    fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize) {
        for r in y..(y + h).min(self.height) {
            for c in x..(x + w).min(self.width) {
                self.hole[r * self.width + c] = true;
            }
        }
    }

    /// `--mask-rect x,y,w,h` on an image of `height × width`.
    pub fn from_rect(spec: &str, height: usize, width: usize) -> Result<Self> {
        let bad = |why: String| AigcError::invalid("mask_rect", format!("{spec:?}: {why}"));
        let v: Vec<usize> = spec.split(',').map(|p| p.trim().parse::<usize>()).collect::<std::result::Result<_, _>>().map_err(|_| bad("expected four whole numbers x,y,w,h".into()))?;
        let [x, y, w, h] = v[..] else { return Err(bad("expected four numbers x,y,w,h".into())) };
        if w == 0 || h == 0 || x + w > width || y + h > height {
            return Err(bad(format!("the rectangle must be non-empty and inside the {width}×{height} image")));
        }
        let mut m = Mask { height, width, hole: vec![false; height * width] };
        m.fill_rect(x, y, w, h);
        m.check().map_err(|problem| AigcError::invalid("mask_rect", problem))?;
        Ok(m)
    }

    /// A mask image (encoded, from `name`): white (luma ≥ 128) marks the hole, black the known
    /// pixels.
    pub fn from_image(bytes: &[u8], name: &std::path::Path, height: usize, width: usize) -> Result<Self> {
        let img = crate::data::folder::decode_picture(bytes, name)?;
        let (w, h) = img.dimensions();
        if (w as usize, h as usize) != (width, height) {
            return Err(AigcError::bad_data(name, format!("the mask is {w}×{h}, the image {width}×{height}; they must match")));
        }
        let luma = img.to_luma8();
        let m = Mask { height, width, hole: luma.pixels().map(|p| p.0[0] >= 128).collect() };
        m.check().map_err(|problem| AigcError::bad_data(name, problem))?;
        Ok(m)
    }

    /// A mask must have a hole and keep some known pixels.
    pub fn check(&self) -> std::result::Result<(), &'static str> {
        let holes = self.holes();
        if holes == 0 {
            return Err("the mask has no hole (white pixels mark what to fill)");
        }
        if holes == self.hole.len() {
            return Err("the mask covers the whole image: nothing is known to fill from");
        }
        Ok(())
    }

    pub fn holes(&self) -> usize {
        self.hole.iter().filter(|&&h| h).count()
    }

    /// Yeh et al.'s importance weights: for a known pixel, the share of hole pixels in the 7×7
    /// window around it; 0 in the hole.
    pub fn importance(&self, channels: usize) -> Vec<f32> {
        let (h, w) = (self.height as isize, self.width as isize);
        let mut one = vec![0f32; self.hole.len()];
        for r in 0..h {
            for c in 0..w {
                if self.hole[(r * w + c) as usize] {
                    continue;
                }
                let mut n = 0;
                for dr in -3..=3 {
                    for dc in -3..=3 {
                        let (rr, cc) = (r + dr, c + dc);
                        n += (rr >= 0 && rr < h && cc >= 0 && cc < w && self.hole[(rr * w + cc) as usize]) as usize;
                    }
                }
                one[(r * w + c) as usize] = n as f32 / 49.0;
            }
        }
        (0..channels).flat_map(|_| one.iter().copied()).collect()
    }
}

/// The image with its hole painted mid-grey (for showing the input).
pub fn masked(image: &[f32], mask: &Mask) -> Vec<f32> {
    let n = mask.hole.len();
    image.iter().enumerate().map(|(i, &v)| if mask.hole[i % n] { 0.0 } else { v }).collect()
}


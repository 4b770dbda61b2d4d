//! The denoising UNet (Ho et al. 2020, as in diffusers' `UNet2DModel`, small): a sinusoidal time
//! embedding and an MLP; per level a residual block (GroupNorm, SiLU, 3×3 convolution, the time
//! embedding projected and added, GroupNorm, SiLU, 3×3 convolution, a 1×1 skip when the width
//! changes), self-attention over the pixels at the chosen levels, a stride-2 convolution down;
//! a middle of residual block, attention, residual block; then back up with nearest ×2
//! upsampling, a 3×3 convolution and the skip of the same level concatenated.
//!
//! Workload W5 of `../shared/peers/SPEC.md` (`TinyUNet` of `torch_ref.py`, 2,116,705 parameters)
//! is `UnetConfig::new(1)` with its defaults: widths 32/64/128 at 28/14/7 px, attention at the
//! lowest level, a 32-d sinusoidal embedding into a 128-d MLP, GroupNorm(8).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{AigcError, Result};
use crate::report::torch::TorchExport;

#[derive(Config, Debug, PartialEq)]
pub struct UnetConfig {
    /// Image channels (1 or 3).
    pub channels: usize,
    /// Channel width of each level, finest first; each level below the first halves the side.
    #[config(default = "vec![32, 64, 128]")]
    pub widths: Vec<usize>,
    /// Whether each level (same order as `widths`) has self-attention after its residual blocks.
    #[config(default = "vec![false, false, true]")]
    pub attention: Vec<bool>,
    /// Size of the sinusoidal time features.
    #[config(default = 32)]
    pub time_features: usize,
    /// Width of the time-embedding MLP (and of what each residual block projects from).
    #[config(default = 128)]
    pub time_dim: usize,
    #[config(default = 8)]
    pub groups: usize,
    #[config(default = 4)]
    pub heads: usize,
    /// Classes of a class-conditional model (0: unconditional). Its label embedding has one
    /// more row, the "no label" of classifier-free guidance.
    #[config(default = 0)]
    pub classes: usize,
}

#[derive(Module, Debug)]
pub struct ResBlock {
    n1: GroupNorm,
    c1: Conv2d,
    t: Linear,
    n2: GroupNorm,
    c2: Conv2d,
    skip: Option<Conv2d>,
}

#[derive(Module, Debug)]
pub struct Attention {
    norm: GroupNorm,
    qkv: Conv2d,
    proj: Conv2d,
    heads: usize,
}

#[derive(Module, Debug)]
pub struct Level {
    block: ResBlock,
    attention: Option<Attention>,
}

#[derive(Module, Debug)]
pub struct Unet {
    time_in: Linear,
    time_out: Linear,
    labels: Option<Embedding>,
    conv_in: Conv2d,
    down: Vec<Level>,
    /// Stride-2 convolutions after every level but the last.
    downsample: Vec<Conv2d>,
    mid1: ResBlock,
    mid_attention: Attention,
    mid2: ResBlock,
    /// Finest level first, as `down`.
    up: Vec<Level>,
    /// The 3×3 convolutions after each nearest ×2 upsampling (`upsample[i]` leads into `up[i]`).
    upsample: Vec<Conv2d>,
    out_norm: GroupNorm,
    conv_out: Conv2d,
    time_features: usize,
    classes: usize,
}

fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(device)
}

impl ResBlock {
    fn new(c_in: usize, c_out: usize, time_dim: usize, groups: usize, device: &Device) -> Self {
        Self {
            n1: GroupNormConfig::new(groups, c_in).init(device),
            c1: conv(c_in, c_out, 3, 1, device),
            t: LinearConfig::new(time_dim, c_out).init(device),
            n2: GroupNormConfig::new(groups, c_out).init(device),
            c2: conv(c_out, c_out, 3, 1, device),
            skip: (c_in != c_out).then(|| conv(c_in, c_out, 1, 1, device)),
        }
    }

    /// `x` `[B, C, H, W]`, `emb` `[B, time_dim]` (already through SiLU).
    fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let [b, _, _, _] = x.dims();
        let t = self.t.forward(emb);
        let c = t.dims()[1];
        let h = self.c1.forward(silu(self.n1.forward(x.clone()))) + t.reshape([b, c, 1, 1]);
        let h = self.c2.forward(silu(self.n2.forward(h)));
        let skip = match &self.skip {
            Some(s) => s.forward(x),
            None => x,
        };
        h + skip
    }
}

impl Attention {
    fn new(c: usize, heads: usize, groups: usize, device: &Device) -> Self {
        Self { norm: GroupNormConfig::new(groups, c).init(device), qkv: conv(c, 3 * c, 1, 1, device), proj: conv(c, c, 1, 1, device), heads }
    }

    /// Multi-head self-attention over the H·W pixels, residual.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let d = c / self.heads;
        let qkv = self.qkv.forward(self.norm.forward(x.clone())).reshape([b, 3, self.heads, d, h * w]);
        let part = |i: usize| qkv.clone().narrow(1, i, 1).reshape([b, self.heads, d, h * w]);
        let (q, k, v) = (part(0), part(1), part(2));
        // [B, heads, HW, HW]: query pixel × key pixel.
        let att = softmax(q.swap_dims(2, 3).matmul(k).div_scalar((d as f64).sqrt()), 3);
        let y = v.matmul(att.swap_dims(2, 3)).reshape([b, c, h, w]);
        x + self.proj.forward(y)
    }
}

impl Level {
    fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = self.block.forward(x, emb);
        match &self.attention {
            Some(a) => a.forward(h),
            None => h,
        }
    }
}

/// Nearest-neighbour ×2 upsampling.
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1]).expand([b, c, h, 2, w, 2]).reshape([b, c, 2 * h, 2 * w])
}

/// The sinusoidal features of timesteps `t` (`[len(t), dim]`: sines then cosines, frequencies
/// 10000^(−i/half)), as `torch_ref.py`'s `sinusoidal`.
pub fn sinusoidal(t: &[f32], dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half).map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp()).collect();
    let mut out = Vec::with_capacity(t.len() * dim);
    for &ti in t {
        out.extend(freqs.iter().map(|f| (ti * f).sin()));
        out.extend(freqs.iter().map(|f| (ti * f).cos()));
    }
    out
}

impl UnetConfig {
    /// Checks the config for images of side `side` (each level below the first halves it).
    pub fn check(&self, side: usize) -> Result<()> {
        let levels = self.widths.len();
        if levels == 0 || self.attention.len() != levels {
            return Err(AigcError::invalid("widths", format!("{levels} widths need as many attention flags, got {}", self.attention.len())));
        }
        if let Some(w) = self.widths.iter().find(|&&w| w == 0 || w % self.groups != 0 || w % self.heads != 0) {
            return Err(AigcError::invalid("widths", format!("width {w} must be a positive multiple of the {} groups and {} heads", self.groups, self.heads)));
        }
        if side % (1 << (levels - 1)) != 0 {
            return Err(AigcError::invalid("widths", format!("{levels} levels halve the side {} times; {side} px is not divisible by {}", levels - 1, 1 << (levels - 1))));
        }
        if self.time_features % 2 != 0 || self.time_features == 0 {
            return Err(AigcError::invalid("time_features", "must be a positive even number"));
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Unet {
        let (w, g, td) = (&self.widths, self.groups, self.time_dim);
        let levels = w.len();
        let attend = |i: usize, c: usize| self.attention[i].then(|| Attention::new(c, self.heads, g, device));
        let down = (0..levels)
            .map(|i| Level { block: ResBlock::new(if i == 0 { w[0] } else { w[i - 1] }, w[i], td, g, device), attention: attend(i, w[i]) })
            .collect();
        let downsample = (0..levels - 1).map(|i| conv(w[i], w[i], 3, 2, device)).collect();
        let deepest = w[levels - 1];
        // Up level i reads what came from below (the middle's width at the deepest level, else
        // the width of level i + 1) concatenated with level i's skip.
        let up = (0..levels)
            .map(|i| {
                let from_below = if i + 1 == levels { deepest } else { w[i + 1] };
                Level { block: ResBlock::new(from_below + w[i], w[i], td, g, device), attention: attend(i, w[i]) }
            })
            .collect();
        let upsample = (0..levels - 1).map(|i| conv(w[i + 1], w[i + 1], 3, 1, device)).collect();
        Unet {
            time_in: LinearConfig::new(self.time_features, td).init(device),
            time_out: LinearConfig::new(td, td).init(device),
            labels: (self.classes > 0).then(|| EmbeddingConfig::new(self.classes + 1, td).init(device)),
            conv_in: conv(self.channels, w[0], 3, 1, device),
            down,
            downsample,
            mid1: ResBlock::new(deepest, deepest, td, g, device),
            mid_attention: Attention::new(deepest, self.heads, g, device),
            mid2: ResBlock::new(deepest, deepest, td, g, device),
            up,
            upsample,
            out_norm: GroupNormConfig::new(g, w[0]).init(device),
            conv_out: conv(w[0], self.channels, 3, 1, device),
            time_features: self.time_features,
            classes: self.classes,
        }
    }
}

impl ResBlock {
    fn export(&self, e: &mut TorchExport, key: &str) {
        e.group_norm(&format!("{key}.n1"), &self.n1);
        e.conv(&format!("{key}.c1"), &self.c1);
        e.linear(&format!("{key}.t"), &self.t);
        e.group_norm(&format!("{key}.n2"), &self.n2);
        e.conv(&format!("{key}.c2"), &self.c2);
        if let Some(skip) = &self.skip {
            e.conv(&format!("{key}.skip"), skip);
        }
    }
}

impl Attention {
    fn export(&self, e: &mut TorchExport, key: &str) {
        e.group_norm(&format!("{key}.norm"), &self.norm);
        e.conv(&format!("{key}.qkv"), &self.qkv);
        e.conv(&format!("{key}.proj"), &self.proj);
    }
}

impl Level {
    fn export(&self, e: &mut TorchExport, key: &str) {
        self.block.export(e, &format!("{key}.block"));
        if let Some(a) = &self.attention {
            a.export(e, &format!("{key}.attention"));
        }
    }
}

impl Unet {
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The network under its own field names (`down.0.block.c1.weight`, `mid_attention.qkv.weight`,
    /// …), which `python/aigc_torch.py`'s `UNet` uses too, and its sizes for the sidecar.
    pub fn export_tensors(&self, e: &mut TorchExport) -> serde_json::Value {
        e.linear("time_in", &self.time_in);
        e.linear("time_out", &self.time_out);
        if let Some(labels) = &self.labels {
            e.embedding("labels", labels);
        }
        e.conv("conv_in", &self.conv_in);
        for (i, level) in self.down.iter().enumerate() {
            level.export(e, &format!("down.{i}"));
        }
        for (i, conv) in self.downsample.iter().enumerate() {
            e.conv(&format!("downsample.{i}"), conv);
        }
        self.mid1.export(e, "mid1");
        self.mid_attention.export(e, "mid_attention");
        self.mid2.export(e, "mid2");
        for (i, level) in self.up.iter().enumerate() {
            level.export(e, &format!("up.{i}"));
        }
        for (i, conv) in self.upsample.iter().enumerate() {
            e.conv(&format!("upsample.{i}"), conv);
        }
        e.group_norm("out_norm", &self.out_norm);
        e.conv("conv_out", &self.conv_out);
        let widths: Vec<usize> = self.down.iter().map(|l| l.block.c1.weight.dims()[0]).collect();
        serde_json::json!({
            "module": "unet",
            "channels": self.conv_in.weight.dims()[1],
            "widths": widths,
            "attention": self.down.iter().map(|l| l.attention.is_some()).collect::<Vec<_>>(),
            "time_features": self.time_features,
            "time_dim": self.time_out.weight.dims()[1],
            "groups": self.out_norm.num_groups,
            "heads": self.mid_attention.heads,
            "classes": self.classes,
            "group_norm_eps": self.out_norm.epsilon,
        })
    }

    /// The prediction (noise ε, or velocity) for `x` `[B, C, H, W]` at times `t` (one per image:
    /// DDPM step indices, or flow times scaled to [0, 1000)) and, for a conditional model,
    /// labels (`classes` means "no label").
    pub fn forward(&self, x: Tensor<4>, t: &[f32], labels: Option<Tensor<1, Int>>) -> Tensor<4> {
        let device = x.device();
        let b = t.len();
        let features = Tensor::<2>::from_data(TensorData::new(sinusoidal(t, self.time_features), [b, self.time_features]), &device);
        let mut emb = self.time_out.forward(silu(self.time_in.forward(features)));
        if let (Some(table), Some(labels)) = (&self.labels, labels) {
            emb = emb + table.forward(labels.reshape([b, 1])).reshape([b, self.time_out.weight.dims()[1]]);
        }
        // Every residual block reads SiLU(emb).
        let emb = silu(emb);
        let mut h = self.conv_in.forward(x);
        let mut skips = Vec::with_capacity(self.down.len());
        for (i, level) in self.down.iter().enumerate() {
            h = level.forward(h, emb.clone());
            skips.push(h.clone());
            if let Some(down) = self.downsample.get(i) {
                h = down.forward(h);
            }
        }
        h = self.mid2.forward(self.mid_attention.forward(self.mid1.forward(h, emb.clone())), emb.clone());
        for i in (0..self.up.len()).rev() {
            if i + 1 < self.up.len() {
                h = self.upsample[i].forward(upsample2(h));
            }
            let skip = skips.pop().expect("one skip per level");
            h = self.up[i].forward(Tensor::cat(vec![h, skip], 1), emb.clone());
        }
        self.conv_out.forward(silu(self.out_norm.forward(h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults are workload W5's TinyUNet: the same parameter count (2,116,705, printed by
    /// `torch_ref.py w5`), and an output of the input's shape at 28 and 32 px.
    #[test]
    fn the_default_unet_is_w5_and_keeps_the_shape() {
        let device = Device::flex();
        let unet = UnetConfig::new(1).init(&device);
        assert_eq!(unet.num_params(), 2_116_705);
        for side in [28, 32] {
            let x = Tensor::<4>::zeros([2, 1, side, side], &device);
            assert_eq!(unet.forward(x, &[0.0, 999.0], None).dims(), [2, 1, side, side]);
        }
        let small = UnetConfig::new(3).with_widths(vec![16, 32]).with_attention(vec![false, true]).with_classes(10);
        small.check(32).unwrap();
        let unet = small.init(&device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![3i64, 10], [2]), &device);
        assert_eq!(unet.forward(Tensor::zeros([2, 3, 32, 32], &device), &[5.0, 6.0], Some(labels)).dims(), [2, 3, 32, 32]);
        assert!(UnetConfig::new(1).check(30).unwrap_err().to_string().contains("widths"));
        assert!(UnetConfig::new(1).with_widths(vec![30, 64, 128]).check(28).unwrap_err().to_string().contains("multiple"));
    }

    #[test]
    fn sinusoidal_features_are_torch_refs() {
        // t = 0: sines 0, cosines 1; t = 1 in the first pair: sin 1, cos 1.
        let f = sinusoidal(&[0.0, 1.0], 4);
        assert_eq!(&f[..4], &[0.0, 0.0, 1.0, 1.0]);
        let freq1 = (-(10000f32.ln()) / 2.0).exp();
        assert!((f[4] - 1f32.sin()).abs() < 1e-7 && (f[5] - freq1.sin()).abs() < 1e-7 && (f[6] - 1f32.cos()).abs() < 1e-7);
    }
}

//! 2-D convolution and transposed convolution as one matrix product each (im2col), a burn
//! backend extension for Flex.
//!
//! Why: burn 0.22's Flex convolutions, and above all their backward passes (the weight gradient
//! is a convolution over swapped batch and channel axes), were measured 2–2.5× slower than
//! PyTorch on DCGAN's layers (W2). Written as `im2col(x) · Wᵀ`, a convolution's forward pass and
//! both gradients are single large matrix products, which Flex's gemm runs near PyTorch's speed.
//!
//! Only two kernels are new, and each is the other's adjoint:
//! - [`im2col`]: `[B, C, H, W]` → `[B·OH·OW, KH·KW·C]`, one row per output position holding the
//!   (zero-padded) window it reads, tap by tap, channels innermost;
//! - `col2im`: the transpose, summing every window entry back onto its input pixel.
//!
//! So `d im2col = col2im` and `d col2im = im2col`; everything else (matmul, reshape, permute,
//! bias) is burn's own differentiable tensor algebra. `tests/kernels.rs` checks the adjoint
//! identity, outputs and gradients against burn's convolutions, and central finite differences.
//!
//! Other backends (wgpu, cuda) take burn's convolutions unchanged.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};

use super::{contiguous, flex_tensor, is_flex};
use burn::nn::conv::ConvTranspose2d;
use burn::tensor::module::{conv_transpose2d as burn_conv_transpose2d, conv2d as burn_conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::Tensor;

/// A square-free 2-D sliding window: kernel, stride and symmetric padding per axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    pub fn square(kernel: usize, stride: usize, padding: usize) -> Self {
        Self { kernel: [kernel; 2], stride: [stride; 2], padding: [padding; 2] }
    }

    /// Output positions along each axis for an input of `[h, w]`.
    pub fn positions(&self, hw: [usize; 2]) -> [usize; 2] {
        [0, 1].map(|a| (hw[a] + 2 * self.padding[a] - self.kernel[a]) / self.stride[a] + 1)
    }
}

/// The two kernels, routed by burn's dispatch to Flex (and to Autodiff around it).
#[backend_extension(Flex, Autodiff)]
pub trait Im2colOps: Backend {
    /// `[B, C, H, W]` → `[B·OH·OW, KH·KW·C]`.
    fn im2col(x: FloatTensor<Self>, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> FloatTensor<Self>;
    /// `[B·OH·OW, KH·KW·C]` → `[B, C, H, W]` (`image` = `[B, C, H, W]`), the adjoint of `im2col`.
    fn col2im(
        cols: FloatTensor<Self>,
        image: [usize; 4],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;
    /// `[B, C, H, W]` → `[B·H·W, C]`: one row per pixel (channels last).
    fn pixel_rows(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `[B·H·W, C]` → `[B, C, H, W]` (`image` = `[B, C, H, W]`), the inverse of `pixel_rows`.
    fn pixel_image(rows: FloatTensor<Self>, image: [usize; 4]) -> FloatTensor<Self>;
}

impl Im2colOps for Flex {
    fn im2col(x: FloatTensor<Self>, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> FloatTensor<Self> {
        let window = Window { kernel, stride, padding };
        let dims: [usize; 4] = x.shape().dims();
        let x = contiguous(x);
        typed!(x.dtype(), "im2col", |E| flex_tensor(im2col_kernel::<E>(x.storage(), dims, window), im2col_shape(dims, window)))
    }

    fn col2im(
        cols: FloatTensor<Self>,
        image: [usize; 4],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        let window = Window { kernel, stride, padding };
        assert_eq!(cols.shape().dims::<2>(), im2col_shape(image, window), "col2im: columns do not match the image");
        let cols = contiguous(cols);
        typed!(cols.dtype(), "col2im", |E| flex_tensor(col2im_kernel::<E>(cols.storage(), image, window), image))
    }

    fn pixel_rows(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let [b, c, h, w] = x.shape().dims();
        let x = contiguous(x);
        typed!(x.dtype(), "pixel_rows", |E| flex_tensor(transpose_items::<E>(x.storage(), b, c, h * w), [b * h * w, c]))
    }

    fn pixel_image(rows: FloatTensor<Self>, image: [usize; 4]) -> FloatTensor<Self> {
        let [b, c, h, w] = image;
        assert_eq!(rows.shape().dims::<2>(), [b * h * w, c], "pixel_image: rows do not match the image");
        let rows = contiguous(rows);
        typed!(rows.dtype(), "pixel_image", |E| flex_tensor(transpose_items::<E>(rows.storage(), b, h * w, c), image))
    }
}

impl<B: Backend + Im2colOps, C: CheckpointStrategy> Im2colOps for Autodiff<B, C> {
    fn im2col(x: FloatTensor<Self>, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Im2colBackward;

        impl<B: Backend + Im2colOps> Backward<B, 1> for Im2colBackward {
            type State = ([usize; 4], Window);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (image, w) = ops.state;
                if let Some(node) = parent {
                    grads.register::<B>(node.id, B::col2im(grad, image, w.kernel, w.stride, w.padding));
                }
            }
        }

        let image: [usize; 4] = x.primitive().shape().dims();
        let window = Window { kernel, stride, padding };
        match Im2colBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::im2col(x.into_primitive(), kernel, stride, padding);
                prep.finish((image, window), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::im2col(x.into_primitive(), kernel, stride, padding)),
        }
    }

    fn col2im(
        cols: FloatTensor<Self>,
        image: [usize; 4],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Col2imBackward;

        impl<B: Backend + Im2colOps> Backward<B, 1> for Col2imBackward {
            type State = Window;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let w = ops.state;
                if let Some(node) = parent {
                    grads.register::<B>(node.id, B::im2col(grad, w.kernel, w.stride, w.padding));
                }
            }
        }

        let window = Window { kernel, stride, padding };
        match Col2imBackward.prepare::<C>([cols.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::col2im(cols.into_primitive(), image, kernel, stride, padding);
                prep.finish(window, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::col2im(cols.into_primitive(), image, kernel, stride, padding)),
        }
    }

    fn pixel_rows(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct PixelRowsBackward;

        impl<B: Backend + Im2colOps> Backward<B, 1> for PixelRowsBackward {
            type State = [usize; 4];

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = parent {
                    grads.register::<B>(node.id, B::pixel_image(grad, ops.state));
                }
            }
        }

        let image: [usize; 4] = x.primitive().shape().dims();
        match PixelRowsBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(image, B::pixel_rows(x.into_primitive())),
            OpsKind::UnTracked(prep) => prep.finish(B::pixel_rows(x.into_primitive())),
        }
    }

    fn pixel_image(rows: FloatTensor<Self>, image: [usize; 4]) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct PixelImageBackward;

        impl<B: Backend + Im2colOps> Backward<B, 1> for PixelImageBackward {
            type State = ();

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = parent {
                    grads.register::<B>(node.id, B::pixel_rows(grad));
                }
            }
        }

        match PixelImageBackward.prepare::<C>([rows.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((), B::pixel_image(rows.into_primitive(), image)),
            OpsKind::UnTracked(prep) => prep.finish(B::pixel_image(rows.into_primitive(), image)),
        }
    }
}

fn im2col_shape(image: [usize; 4], w: Window) -> [usize; 2] {
    let [b, c, h, wd] = image;
    let [oh, ow] = w.positions([h, wd]);
    [b * oh * ow, c * w.kernel[0] * w.kernel[1]]
}

/// Rows of the window matrix for one batch item, from its channels-last pixels `[H, W, C]`:
/// `rows` is `[OH·OW, KH·KW·C]`, each window tap a contiguous run of `C` values. Padded taps
/// are written as zeros.
fn im2col_item<E: Copy + Default>(pixels: &[E], rows: &mut [E], chw: [usize; 3], w: Window) {
    let [c, h, wd] = chw;
    let [oh, ow] = w.positions([h, wd]);
    let [kh, kw] = w.kernel;
    let row_len = kh * kw * c;
    for y in 0..oh {
        for x in 0..ow {
            let row = &mut rows[(y * ow + x) * row_len..][..row_len];
            for i in 0..kh {
                let iy = (y * w.stride[0] + i) as isize - w.padding[0] as isize;
                for j in 0..kw {
                    let ix = (x * w.stride[1] + j) as isize - w.padding[1] as isize;
                    let dst = &mut row[(i * kw + j) * c..][..c];
                    if iy < 0 || iy >= h as isize || ix < 0 || ix >= wd as isize {
                        dst.fill(E::default());
                    } else {
                        dst.copy_from_slice(&pixels[(iy as usize * wd + ix as usize) * c..][..c]);
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col_item`]: adds every tap of every row onto its pixel of `pixels`.
fn col2im_item<E: Copy + std::ops::AddAssign>(rows: &[E], pixels: &mut [E], chw: [usize; 3], w: Window) {
    let [c, h, wd] = chw;
    let [oh, ow] = w.positions([h, wd]);
    let [kh, kw] = w.kernel;
    let row_len = kh * kw * c;
    for y in 0..oh {
        for x in 0..ow {
            let row = &rows[(y * ow + x) * row_len..][..row_len];
            for i in 0..kh {
                let iy = (y * w.stride[0] + i) as isize - w.padding[0] as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                for j in 0..kw {
                    let ix = (x * w.stride[1] + j) as isize - w.padding[1] as isize;
                    if ix < 0 || ix >= wd as isize {
                        continue;
                    }
                    let dst = &mut pixels[(iy as usize * wd + ix as usize) * c..][..c];
                    for (d, &v) in dst.iter_mut().zip(&row[(i * kw + j) * c..][..c]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

fn im2col_kernel<E: Copy + Default + Send + Sync>(x: &[E], image: [usize; 4], w: Window) -> Vec<E> {
    use rayon::prelude::*;
    let [b, c, h, wd] = image;
    let [rows, cols] = im2col_shape(image, w);
    let mut out = vec![E::default(); rows * cols];
    let item_out = rows / b.max(1) * cols;
    if item_out > 0 {
        out.par_chunks_mut(item_out).zip(x.par_chunks(c * h * wd)).for_each(|(rows, item)| {
            let mut pixels = vec![E::default(); item.len()];
            transpose(item, &mut pixels, c, h * wd);
            im2col_item(&pixels, rows, [c, h, wd], w)
        });
    }
    out
}

fn col2im_kernel<E: Copy + Default + std::ops::AddAssign + Send + Sync>(cols: &[E], image: [usize; 4], w: Window) -> Vec<E> {
    use rayon::prelude::*;
    let [b, c, h, wd] = image;
    let mut out = vec![E::default(); image.iter().product()];
    let item_rows = cols.len() / b.max(1);
    if item_rows > 0 && !out.is_empty() {
        out.par_chunks_mut(c * h * wd).zip(cols.par_chunks(item_rows)).for_each(|(item, rows)| {
            let mut pixels = vec![E::default(); item.len()];
            col2im_item(rows, &mut pixels, [c, h, wd], w);
            transpose(&pixels, item, h * wd, c);
        });
    }
    out
}

/// `dst` = the `[cols, rows]` transpose of the `[rows, cols]` matrix `src`.
fn transpose<E: Copy>(src: &[E], dst: &mut [E], rows: usize, cols: usize) {
    // The `transpose` crate takes the source's row length (width) first.
    ::transpose::transpose(src, dst, cols, rows);
}

/// Transposes each of `items` consecutive `[rows, cols]` matrices into `[cols, rows]`.
fn transpose_items<E: Copy + Default + Send + Sync>(x: &[E], items: usize, rows: usize, cols: usize) -> Vec<E> {
    use rayon::prelude::*;
    let mut out = vec![E::default(); items * rows * cols];
    if !out.is_empty() {
        out.par_chunks_mut(rows * cols)
            .zip(x.par_chunks(rows * cols))
            .for_each(|(dst, src)| transpose(src, dst, rows, cols));
    }
    out
}

/// The window matrix of `x` (`[B, C, H, W]` → `[B·OH·OW, KH·KW·C]`), differentiable.
pub fn im2col(x: Tensor<4>, w: Window) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as Im2colOps>::im2col(x.into_dispatch(), w.kernel, w.stride, w.padding))
}

/// The adjoint of [`im2col`]: window entries summed back onto an image of shape `image`.
pub fn col2im(cols: Tensor<2>, image: [usize; 4], w: Window) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as Im2colOps>::col2im(cols.into_dispatch(), image, w.kernel, w.stride, w.padding))
}

/// `[B, C, H, W]` → `[B·H·W, C]`, differentiable (burn's permute + reshape elsewhere).
pub fn pixel_rows(x: Tensor<4>) -> Tensor<2> {
    if !is_flex(&x.device()) {
        let [b, c, h, w] = x.dims();
        return x.permute([0, 2, 3, 1]).reshape([b * h * w, c]);
    }
    Tensor::from_dispatch(<Dispatch as Im2colOps>::pixel_rows(x.into_dispatch()))
}

/// `[B·H·W, C]` → `[B, C, H, W]`, the inverse of [`pixel_rows`].
pub fn pixel_image(rows: Tensor<2>, image: [usize; 4]) -> Tensor<4> {
    if !is_flex(&rows.device()) {
        let [b, c, h, w] = image;
        return rows.reshape([b, h, w, c]).permute([0, 3, 1, 2]);
    }
    Tensor::from_dispatch(<Dispatch as Im2colOps>::pixel_image(rows.into_dispatch(), image))
}

/// Cross-correlation `x` `[B, C, H, W]` ⋆ `weight` `[O, C, KH, KW]` + `bias`, as PyTorch's
/// `conv2d` (groups 1, dilation 1).
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, w: Window) -> Tensor<4> {
    if !is_flex(&x.device()) {
        return burn_conv2d(x, weight, bias, ConvOptions::new(w.stride, w.padding, [1, 1], 1));
    }
    let [b, _, h, wd] = x.dims();
    let [o, c, kh, kw] = weight.dims();
    let [oh, ow] = w.positions([h, wd]);
    // Window rows are ordered (tap row, tap column, channel): bring the weights to that order.
    let weight = pixel_rows(weight).reshape([o, kh * kw * c]);
    let out = im2col(x, w).matmul(weight.transpose());
    let out = match bias {
        Some(bias) => out + bias.unsqueeze::<2>(),
        None => out,
    };
    pixel_image(out, [b, o, oh, ow])
}

/// Transposed convolution `x` `[B, C, H, W]` with `weight` `[C, O, KH, KW]` + `bias` into
/// `[B, O, out_hw]`, as PyTorch's `conv_transpose2d` with the output padding that yields
/// `out_hw` (groups 1, dilation 1).
pub fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    w: Window,
    out_hw: [usize; 2],
) -> Tensor<4> {
    let [b, c, h, wd] = x.dims();
    let [_, o, kh, kw] = weight.dims();
    assert_eq!(w.positions(out_hw), [h, wd], "conv_transpose2d: output size does not match the input");
    if !is_flex(&x.device()) {
        let extra = [0, 1].map(|a| out_hw[a] + 2 * w.padding[a] - (([h, wd][a] - 1) * w.stride[a] + w.kernel[a]));
        let options = ConvTransposeOptions::new(w.stride, w.padding, extra, [1, 1], 1);
        return burn_conv_transpose2d(x, weight, bias, options);
    }
    let cols = pixel_rows(x).matmul(pixel_rows(weight).reshape([c, kh * kw * o]));
    let out = col2im(cols, [b, o, out_hw[0], out_hw[1]], w);
    match bias {
        Some(bias) => out + bias.reshape([1, o, 1, 1]),
        None => out,
    }
}

/// `conv.forward(x)` through [`conv_transpose2d`] when the module's configuration allows
/// (groups 1, dilation 1), else burn's.
pub fn conv_transpose2d_module(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return conv.forward(x);
    }
    let w = Window { kernel: conv.kernel_size, stride: conv.stride, padding: conv.padding };
    let [_, _, h, wd] = x.dims();
    let out_hw = [0, 1].map(|a| ([h, wd][a] - 1) * w.stride[a] + w.kernel[a] + conv.padding_out[a] - 2 * w.padding[a]);
    conv_transpose2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), w, out_hw)
}

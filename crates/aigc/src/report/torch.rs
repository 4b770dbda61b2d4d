//! Exports in PyTorch's layout: a `NAME.safetensors` with PyTorch's tensor names and shapes
//! (`nn.Linear` weights `[out, in]`, `nn.BatchNorm2d`'s `weight`/`bias`/`running_*`/
//! `num_batches_tracked`, `nn.LSTM`'s `weight_ih_l0` with the gates stacked i, f, g, o, `nn.GRU`'s
//! r, z, n) and a `NAME.json` sidecar that describes the module, so `python/aigc_torch.py` (or
//! any PyTorch code) rebuilds it and loads the file with `load_state_dict(strict=True)`.
//!
//! Image networks are described as an `nn.Sequential` (`layers`, keys `net.0.weight`, …); the
//! language models keep nanoGPT's names (`transformer.h.0.attn.c_attn.weight`, …) and an
//! `nn.LSTM`/`nn.GRU` under `rnn`.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, Embedding, Gru, LayerNorm, Linear, Lstm};

use burn::tensor::Tensor;
use serde_json::{Value, json};

use crate::error::{AigcError, Result};

/// The `format` of every sidecar; a reader checks it.
pub const FORMAT: &str = "aigc-pytorch-export/1";

enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

struct Entry {
    key: String,
    shape: Vec<usize>,
    values: Values,
}

/// One exported module: its tensors under PyTorch's names and its description.
pub struct TorchExport {
    stem: &'static str,
    description: Value,
    layers: Vec<Value>,
    entries: Vec<Entry>,
}

fn values<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let shape = t.dims().to_vec();
    (shape, t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default())
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> (Vec<usize>, Vec<f32>) {
    values(p.val())
}

/// Rows of a burn `[in, out]` matrix as PyTorch's `[out, in]`.
fn transposed(p: &Param<Tensor<2>>) -> (Vec<usize>, Vec<f32>) {
    values(p.val().transpose())
}

impl TorchExport {
    /// An export written as `stem.safetensors` and `stem.json`, described by `description` (a
    /// JSON object: what the module is, its sizes, how its input and output read).
    pub fn new(stem: &'static str, description: Value) -> Self {
        Self { stem, description, layers: Vec::new(), entries: Vec::new() }
    }

    /// The export with its description replaced.
    pub fn described(mut self, description: Value) -> Self {
        self.description = description;
        self
    }

    /// The file names in `dir`: the weights and the sidecar.
    pub fn paths(stem: &str, dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join(format!("{stem}.safetensors")), dir.join(format!("{stem}.json")))
    }

    pub fn stem(&self) -> &'static str {
        self.stem
    }

    fn push(&mut self, key: String, (shape, values): (Vec<usize>, Vec<f32>)) {
        self.entries.push(Entry { key, shape, values: Values::F32(values) });
    }

    /// `key.weight` (already in PyTorch's layout) and `key.bias` when the layer has one.
    fn weight_and_bias(&mut self, key: &str, weight: (Vec<usize>, Vec<f32>), bias: Option<&Param<Tensor<1>>>) {
        self.push(format!("{key}.weight"), weight);
        if let Some(bias) = bias {
            self.push(format!("{key}.bias"), param(bias));
        }
    }

    /// `nn.Linear` under `key`.
    pub fn linear(&mut self, key: &str, layer: &Linear) {
        self.weight_and_bias(key, transposed(&layer.weight), layer.bias.as_ref());
    }

    /// `nn.Conv2d` under `key` (burn's `[out, in, kh, kw]` is PyTorch's).
    pub fn conv(&mut self, key: &str, layer: &Conv2d) {
        self.weight_and_bias(key, param(&layer.weight), layer.bias.as_ref());
    }

    /// `nn.ConvTranspose2d` under `key` (`[in, out, kh, kw]` in both).
    pub fn conv_transpose(&mut self, key: &str, layer: &ConvTranspose2d) {
        self.weight_and_bias(key, param(&layer.weight), layer.bias.as_ref());
    }

    /// `nn.BatchNorm2d` under `key`: affine weights and the running statistics sampling uses.
    pub fn batch_norm(&mut self, key: &str, layer: &BatchNorm) {
        self.push(format!("{key}.weight"), param(&layer.gamma));
        self.push(format!("{key}.bias"), param(&layer.beta));
        self.push(format!("{key}.running_mean"), values(layer.running_mean.value_sync()));
        self.push(format!("{key}.running_var"), values(layer.running_var.value_sync()));
        self.entries.push(Entry { key: format!("{key}.num_batches_tracked"), shape: Vec::new(), values: Values::I64(vec![0]) });
    }

    /// `nn.GroupNorm` under `key` (affine).
    pub fn group_norm(&mut self, key: &str, layer: &burn::nn::GroupNorm) {
        if let Some(gamma) = &layer.gamma {
            self.push(format!("{key}.weight"), param(gamma));
        }
        if let Some(beta) = &layer.beta {
            self.push(format!("{key}.bias"), param(beta));
        }
    }

    /// `nn.LayerNorm` under `key`.
    pub fn layer_norm(&mut self, key: &str, layer: &LayerNorm) {
        self.weight_and_bias(key, param(&layer.gamma), layer.beta.as_ref());
    }

    /// `nn.Embedding` under `key`.
    pub fn embedding(&mut self, key: &str, layer: &Embedding) {
        self.push(format!("{key}.weight"), param(&layer.weight));
    }

    /// The gates' input and hidden matrices and biases stacked in PyTorch's order, as the
    /// `_l{index}` tensors of an `nn.LSTM`/`nn.GRU` under `key`.
    fn gates(&mut self, key: &str, index: usize, gates: &[&burn::nn::GateController]) {
        let stack = |pick: &dyn Fn(&burn::nn::GateController) -> (Vec<usize>, Vec<f32>)| {
            let parts: Vec<(Vec<usize>, Vec<f32>)> = gates.iter().map(|g| pick(g)).collect();
            let mut shape = parts[0].0.clone();
            shape[0] *= parts.len();
            (shape, parts.into_iter().flat_map(|(_, v)| v).collect::<Vec<f32>>())
        };
        // A gate without a bias exports zeros (PyTorch's LSTM/GRU always have them).
        let bias = |l: &Linear| {
            let rows = l.weight.dims()[1];
            l.bias.as_ref().map_or_else(|| (vec![rows], vec![0.0; rows]), param)
        };
        self.push(format!("{key}.weight_ih_l{index}"), stack(&|g| transposed(&g.input_transform.weight)));
        self.push(format!("{key}.weight_hh_l{index}"), stack(&|g| transposed(&g.hidden_transform.weight)));
        self.push(format!("{key}.bias_ih_l{index}"), stack(&|g| bias(&g.input_transform)));
        self.push(format!("{key}.bias_hh_l{index}"), stack(&|g| bias(&g.hidden_transform)));
    }

    /// Layer `index` of an `nn.LSTM` under `key` (gates i, f, g, o).
    pub fn lstm(&mut self, key: &str, index: usize, layer: &Lstm) -> Result<()> {
        let forget = layer.forget_gate.as_ref().ok_or_else(|| AigcError::invalid("arch", "an LSTM with a coupled input-forget gate has no PyTorch equivalent"))?;
        self.gates(key, index, &[&layer.input_gate, forget, &layer.cell_gate, &layer.output_gate]);
        Ok(())
    }

    /// Layer `index` of an `nn.GRU` under `key` (gates r, z, n; burn's reset-after form is
    /// PyTorch's).
    pub fn gru(&mut self, key: &str, index: usize, layer: &Gru) -> Result<()> {
        if !layer.reset_after {
            return Err(AigcError::invalid("arch", "a GRU that resets before the product has no PyTorch equivalent"));
        }
        self.gates(key, index, &[&layer.reset_gate, &layer.update_gate, &layer.new_gate]);
        Ok(())
    }

    /// Appends a parameter-free layer of the `nn.Sequential` (`{"type": "ReLU"}`, …).
    pub fn layer(&mut self, layer: Value) {
        self.layers.push(layer);
    }

    /// Appends a layer with weights as `net.{i}` of the `nn.Sequential`; `add` exports them under
    /// that key.
    pub fn net_layer(&mut self, layer: Value, add: impl FnOnce(&mut Self, &str)) {
        let key = format!("net.{}", self.layers.len());
        add(self, &key);
        self.layers.push(layer);
    }

    /// Writes `stem.safetensors` and `stem.json` into `dir`, each atomically; returns the
    /// weights' path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        use safetensors::tensor::{Dtype, TensorView};
        let (weights, sidecar) = Self::paths(self.stem, dir);
        let bytes: Vec<Vec<u8>> = self
            .entries
            .iter()
            .map(|e| match &e.values {
                Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                Values::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            })
            .collect();
        let mut views = Vec::with_capacity(self.entries.len());
        for (e, b) in self.entries.iter().zip(&bytes) {
            let dtype = match e.values {
                Values::F32(_) => Dtype::F32,
                Values::I64(_) => Dtype::I64,
            };
            views.push((e.key.clone(), TensorView::new(dtype, e.shape.clone(), b).map_err(|err| AigcError::output(&weights, format!("{}: {err}", e.key)))?));
        }
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let file = safetensors::serialize(views, Some(metadata)).map_err(|e| AigcError::output(&weights, e))?;
        crate::io::write_atomic(&weights, &file)?;
        let mut description = self.description.clone();
        if let Some(object) = description.as_object_mut() {
            object.insert("format".into(), json!(FORMAT));
            if !self.layers.is_empty() {
                object.insert("layers".into(), Value::Array(self.layers.clone()));
            }
            object.insert("tensors".into(), json!(self.entries.iter().map(|e| (e.key.clone(), e.shape.clone())).collect::<std::collections::BTreeMap<_, _>>()));
        }
        crate::io::write_json(&sidecar, &description)?;
        Ok(weights)
    }
}

/// Layer descriptions of the `nn.Sequential` an image network exports as.
pub mod layers {
    use serde_json::{Value, json};

    pub fn linear(d_in: usize, d_out: usize) -> Value {
        json!({"type": "Linear", "in_features": d_in, "out_features": d_out})
    }

    pub fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, padding: usize) -> Value {
        json!({"type": "Conv2d", "in_channels": c_in, "out_channels": c_out, "kernel_size": kernel, "stride": stride, "padding": padding})
    }

    pub fn conv_transpose(c_in: usize, c_out: usize, kernel: usize, stride: usize, padding: usize) -> Value {
        json!({"type": "ConvTranspose2d", "in_channels": c_in, "out_channels": c_out, "kernel_size": kernel, "stride": stride, "padding": padding})
    }

    pub fn batch_norm(features: usize, eps: f64, momentum: f64) -> Value {
        json!({"type": "BatchNorm2d", "num_features": features, "eps": eps, "momentum": momentum})
    }

    /// `nn.Unflatten(1, shape)`.
    pub fn unflatten(shape: &[usize]) -> Value {
        json!({"type": "Unflatten", "dim": 1, "unflattened_size": shape})
    }

    /// A parameter-free layer: `ReLU`, `Tanh`, `Sigmoid`, `Flatten`.
    pub fn plain(name: &str) -> Value {
        json!({"type": name})
    }
}

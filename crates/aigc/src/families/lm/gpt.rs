//! GPT, the nanoGPT architecture (Radford et al. 2019; Karpathy's nanoGPT `model.py`): token and
//! learned position embeddings, pre-LayerNorm blocks of causal self-attention and a 4× GELU MLP,
//! a final LayerNorm and a linear head, optionally tied to the token embedding. Initialisation as
//! nanoGPT: N(0, 0.02), residual projections N(0, 0.02/√(2·layers)), zero biases.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::report::torch::TorchExport;
use aigc_ops::transformer::{causal_attention, causal_attention_composite, gelu, layer_norm};

#[derive(Config, Debug, PartialEq)]
pub struct GptConfig {
    pub vocab_size: usize,
    /// Context window (tokens).
    #[config(default = 64)]
    pub block_size: usize,
    #[config(default = 4)]
    pub n_layer: usize,
    #[config(default = 4)]
    pub n_head: usize,
    #[config(default = 128)]
    pub n_embd: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
    /// The output head shares the token embedding's weights (nanoGPT's default).
    #[config(default = true)]
    pub tie_weights: bool,
}

#[derive(Module, Debug)]
pub struct Gpt {
    wte: Embedding,
    wpe: Embedding,
    drop: Dropout,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// The untied output head (`None` when tied to `wte`).
    lm_head: Option<Linear>,
    block_size: usize,
}

#[derive(Module, Debug)]
struct Block {
    ln_1: LayerNorm,
    attn: CausalSelfAttention,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
    drop: Dropout,
}

#[derive(Module, Debug)]
struct CausalSelfAttention {
    c_attn: Linear,
    c_proj: Linear,
    attn_drop: Dropout,
    resid_drop: Dropout,
    n_head: usize,
}

fn linear(d_in: usize, d_out: usize, std: f64, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device)
        .with_zero_bias()
}

trait ZeroBias {
    fn with_zero_bias(self) -> Self;
}

impl ZeroBias for Linear {
    fn with_zero_bias(mut self) -> Self {
        self.bias = self.bias.map(|b| Param::from_tensor(b.val().zeros_like()));
        self
    }
}

impl GptConfig {
    pub fn init(&self, device: &Device) -> Gpt {
        let e = self.n_embd;
        let std = 0.02;
        let proj_std = 0.02 / (2.0 * self.n_layer as f64).sqrt();
        let embedding = |n: usize| EmbeddingConfig::new(n, e).with_initializer(Initializer::Normal { mean: 0.0, std }).init(device);
        let blocks = (0..self.n_layer)
            .map(|_| Block {
                ln_1: LayerNormConfig::new(e).init(device),
                attn: CausalSelfAttention {
                    c_attn: linear(e, 3 * e, std, device),
                    c_proj: linear(e, e, proj_std, device),
                    attn_drop: DropoutConfig::new(self.dropout).init(),
                    resid_drop: DropoutConfig::new(self.dropout).init(),
                    n_head: self.n_head,
                },
                ln_2: LayerNormConfig::new(e).init(device),
                c_fc: linear(e, 4 * e, std, device),
                mlp_proj: linear(4 * e, e, proj_std, device),
                drop: DropoutConfig::new(self.dropout).init(),
            })
            .collect();
        Gpt {
            wte: embedding(self.vocab_size),
            wpe: embedding(self.block_size),
            drop: DropoutConfig::new(self.dropout).init(),
            blocks,
            ln_f: LayerNormConfig::new(e).init(device),
            lm_head: (!self.tie_weights).then(|| linear(e, self.vocab_size, std, device)),
            block_size: self.block_size,
        }
    }
}

/// The keys and values, per layer, of the tokens a [`Gpt`] has read so far in one sequence
/// (`[1, n_head, len, head size]` each): what [`Gpt::forward_cached`] reuses.
#[derive(Debug, Default, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
}

impl KvCache {
    /// Tokens held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// PyTorch's and burn's default LayerNorm ε (what `LayerNormConfig::new` sets).
const LN_EPSILON: f64 = 1e-5;

/// LayerNorm of the rows of `x` `[B·T, C]` (fused on Flex; see `ops::transformer`).
fn norm(ln: &LayerNorm, x: Tensor<2>) -> Tensor<2> {
    let gamma = ln.gamma.val();
    let beta = ln.beta.as_ref().map(|b| b.val()).unwrap_or_else(|| gamma.zeros_like());
    layer_norm(x, gamma, beta, LN_EPSILON)
}

impl CausalSelfAttention {
    /// Rows `[B·T, C]` of `b` sequences → `[B·T, C]`; position t attends to positions ≤ t only.
    fn forward(&self, x: Tensor<2>, b: usize) -> Tensor<2> {
        let [n, c] = x.dims();
        let qkv = self.c_attn.forward(x).reshape([b, n / b, 3 * c]);
        let y = if self.attn_drop.prob == 0.0 {
            causal_attention(qkv, self.n_head)
        } else {
            causal_attention_composite(qkv, self.n_head, |att| self.attn_drop.forward(att))
        };
        self.resid_drop.forward(self.c_proj.forward(y.reshape([n, c])))
    }
}

impl CausalSelfAttention {
    /// Rows `[n, C]` of one sequence's next `n` tokens, which attend to the `cache`d keys and
    /// values of the tokens before them and to each other (causally); the cache grows by them.
    fn forward_cached(&self, x: Tensor<2>, cache: &mut Option<(Tensor<4>, Tensor<4>)>) -> Tensor<2> {
        let [n, c] = x.dims();
        let hs = c / self.n_head;
        let qkv = self.c_attn.forward(x);
        let heads = |i: usize| qkv.clone().narrow(1, i * c, c).reshape([1, n, self.n_head, hs]).swap_dims(1, 2);
        let (q, k, v) = (heads(0), heads(1), heads(2));
        let (k, v) = match cache.take() {
            Some((past_k, past_v)) => (Tensor::cat(vec![past_k, k], 2), Tensor::cat(vec![past_v, v], 2)),
            None => (k, v),
        };
        let total = k.dims()[2];
        let scores = q.matmul(k.clone().swap_dims(2, 3)).mul_scalar(1.0 / (hs as f64).sqrt());
        // Query i sits at position total − n + i: the keys after it are its future.
        let future = Tensor::<2, Bool>::tril_mask([n, total], (total - n) as i64, &scores.device()).reshape([1, 1, n, total]);
        let att = softmax(scores.mask_fill(future, f32::NEG_INFINITY), 3);
        let y = att.matmul(v.clone()).swap_dims(1, 2).reshape([n, c]);
        *cache = Some((k, v));
        self.c_proj.forward(y)
    }
}

impl Block {
    fn forward_cached(&self, x: Tensor<2>, cache: &mut Option<(Tensor<4>, Tensor<4>)>) -> Tensor<2> {
        let x = x.clone() + self.attn.forward_cached(norm(&self.ln_1, x), cache);
        let h = self.mlp_proj.forward(gelu(self.c_fc.forward(norm(&self.ln_2, x.clone()))));
        x + h
    }

    fn forward(&self, x: Tensor<2>, b: usize) -> Tensor<2> {
        let x = x.clone() + self.attn.forward(norm(&self.ln_1, x), b);
        let h = self.mlp_proj.forward(gelu(self.c_fc.forward(norm(&self.ln_2, x.clone()))));
        x + self.drop.forward(h)
    }
}

impl Gpt {
    /// The model under nanoGPT's names (`transformer.wte.weight`, `transformer.h.0.attn.c_attn.weight`,
    /// …, `lm_head.weight`, written out even when tied so nanoGPT's `GPT` loads it strictly).
    pub(crate) fn export_tensors(&self, export: &mut TorchExport) -> serde_json::Value {
        export.embedding("transformer.wte", &self.wte);
        export.embedding("transformer.wpe", &self.wpe);
        for (i, block) in self.blocks.iter().enumerate() {
            let key = |name: &str| format!("transformer.h.{i}.{name}");
            export.layer_norm(&key("ln_1"), &block.ln_1);
            export.linear(&key("attn.c_attn"), &block.attn.c_attn);
            export.linear(&key("attn.c_proj"), &block.attn.c_proj);
            export.layer_norm(&key("ln_2"), &block.ln_2);
            export.linear(&key("mlp.c_fc"), &block.c_fc);
            export.linear(&key("mlp.c_proj"), &block.mlp_proj);
        }
        export.layer_norm("transformer.ln_f", &self.ln_f);
        match &self.lm_head {
            Some(head) => export.linear("lm_head", head),
            None => export.embedding("lm_head", &self.wte),
        }
        let [vocab_size, n_embd] = self.wte.weight.dims();
        serde_json::json!({
            "module": "gpt",
            "vocab_size": vocab_size,
            "block_size": self.block_size,
            "n_layer": self.blocks.len(),
            "n_head": self.blocks.first().map_or(1, |b| b.attn.n_head),
            "n_embd": n_embd,
            "bias": true,
            "tie_weights": self.lm_head.is_none(),
            "layer_norm_eps": LN_EPSILON,
        })
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The logits `[vocab]` after the tokens `ids` (at least one) that follow the ones `cache`
    /// holds, which it then holds too: incremental decoding, each token's keys and values
    /// computed once. All of them must fit in the window (`cache.len() + ids.len() ≤ block
    /// size`). Dropout is off (sampling).
    pub fn forward_cached(&self, ids: &[u32], cache: &mut KvCache) -> Tensor<1> {
        let (n, start) = (ids.len(), cache.len);
        assert!(n > 0 && start + n <= self.block_size, "{start} cached + {n} new tokens exceed the context window of {}", self.block_size);
        let device = self.wte.weight.device();
        let idx = Tensor::<2, Int>::from_data(TensorData::new(ids.iter().map(|&t| t as i64).collect::<Vec<_>>(), [1, n]), &device);
        let positions = Tensor::<1, Int>::arange(start as i64..(start + n) as i64, &device).reshape([1, n]);
        let x = self.wte.forward(idx) + self.wpe.forward(positions);
        let c = x.dims()[2];
        let mut x = x.reshape([n, c]);
        cache.layers.resize_with(self.blocks.len(), || None);
        for (block, layer) in self.blocks.iter().zip(&mut cache.layers) {
            x = block.forward_cached(x, layer);
        }
        cache.len += n;
        let x = norm(&self.ln_f, x.narrow(0, n - 1, 1));
        let logits = match &self.lm_head {
            Some(head) => head.forward(x),
            None => x.matmul(self.wte.weight.val().transpose()),
        };
        let vocab = logits.dims()[1];
        logits.reshape([vocab])
    }

    /// Token ids `[B, T]` (T ≤ block size) → next-token logits `[B, T, vocab]`.
    pub fn forward(&self, idx: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = idx.dims();
        assert!(t <= self.block_size, "sequence of {t} tokens exceeds the context window of {}", self.block_size);
        let device = idx.device();
        let positions = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]);
        let x = self.drop.forward(self.wte.forward(idx) + self.wpe.forward(positions));
        let [_, _, c] = x.dims();
        // Rows [B·T, C] from here on: every linear layer is then one matrix product.
        let mut x = x.reshape([b * t, c]);
        for block in &self.blocks {
            x = block.forward(x, b);
        }
        let x = norm(&self.ln_f, x);
        let logits = match &self.lm_head {
            Some(head) => head.forward(x),
            None => x.matmul(self.wte.weight.val().transpose()),
        };
        let vocab = logits.dims()[1];
        logits.reshape([b, t, vocab])
    }
}

//! Recurrent character language models (char-rnn; Keras' text-generation LSTM): an embedding,
//! stacked LSTM or GRU layers with dropout between them, and a linear head, optionally tied to
//! the embedding when the sizes agree. LSTM layers run fused on Flex ([`aigc_ops::lstm`]);
//! burn's `Gru` runs the sequence step by step.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Gru, GruConfig, Linear, LinearConfig, Lstm, LstmConfig};
use burn::tensor::{Device, Int, Tensor};

use aigc_ops::lstm::lstm_forward;

use crate::report::torch::TorchExport;

crate::named_choice! {
    /// The recurrent cell.
    pub enum RnnCell ("recurrent cell") {
        Lstm = "lstm",
        Gru = "gru",
    }
}

#[derive(Config, Debug, PartialEq)]
pub struct RnnLmConfig {
    pub vocab_size: usize,
    #[config(default = "RnnCell::Lstm")]
    pub cell: RnnCell,
    #[config(default = 128)]
    pub n_embd: usize,
    #[config(default = 512)]
    pub hidden: usize,
    #[config(default = 2)]
    pub n_layer: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Share the embedding with the output head (needs `hidden == n_embd`).
    #[config(default = false)]
    pub tie_weights: bool,
    /// The context the model is trained on and reads when sampling.
    #[config(default = 128)]
    pub block_size: usize,
}

#[derive(Module, Debug)]
pub enum RecurrentLayer {
    Lstm(Lstm),
    Gru(Gru),
}

#[derive(Module, Debug)]
pub struct RnnLm {
    embedding: Embedding,
    layers: Vec<RecurrentLayer>,
    drop: Dropout,
    head: Option<Linear>,
    block_size: usize,
}

impl RnnLmConfig {
    pub fn init(&self, device: &Device) -> RnnLm {
        let layers = (0..self.n_layer)
            .map(|i| {
                let d_in = if i == 0 { self.n_embd } else { self.hidden };
                match self.cell {
                    RnnCell::Gru => RecurrentLayer::Gru(GruConfig::new(d_in, self.hidden, true).init(device)),
                    RnnCell::Lstm => RecurrentLayer::Lstm(LstmConfig::new(d_in, self.hidden, true).init(device)),
                }
            })
            .collect();
        let tied = self.tie_weights && self.hidden == self.n_embd;
        RnnLm {
            embedding: EmbeddingConfig::new(self.vocab_size, self.n_embd).init(device),
            layers,
            drop: DropoutConfig::new(self.dropout).init(),
            head: (!tied).then(|| LinearConfig::new(self.hidden, self.vocab_size).init(device)),
            block_size: self.block_size,
        }
    }
}

impl RnnLm {
    /// The model as `embedding` (`nn.Embedding`), `rnn` (one `nn.LSTM`/`nn.GRU` of all layers,
    /// `batch_first`) and `head` (`nn.Linear`; the embedding's weights again when tied).
    pub(crate) fn export_tensors(&self, export: &mut TorchExport) -> crate::Result<serde_json::Value> {
        export.embedding("embedding", &self.embedding);
        let mut cell = RnnCell::Lstm;
        let mut hidden = 0;
        for (i, layer) in self.layers.iter().enumerate() {
            match layer {
                RecurrentLayer::Lstm(lstm) => {
                    hidden = lstm.d_hidden;
                    export.lstm("rnn", i, lstm)?;
                }
                RecurrentLayer::Gru(gru) => {
                    (cell, hidden) = (RnnCell::Gru, gru.d_hidden);
                    export.gru("rnn", i, gru)?;
                }
            }
        }
        match &self.head {
            Some(head) => export.linear("head", head),
            None => export.embedding("head", &self.embedding),
        }
        let [vocab_size, n_embd] = self.embedding.weight.dims();
        Ok(serde_json::json!({
            "module": "rnn",
            "cell": cell.name(),
            "vocab_size": vocab_size,
            "n_embd": n_embd,
            "hidden": hidden,
            "n_layer": self.layers.len(),
            "tie_weights": self.head.is_none(),
            "block_size": self.block_size,
        }))
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Token ids `[B, T]` → next-token logits `[B, T, vocab]`, from a zero initial state.
    pub fn forward(&self, idx: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = idx.dims();
        let mut x = self.embedding.forward(idx);
        for layer in &self.layers {
            x = self.drop.forward(x);
            x = match layer {
                RecurrentLayer::Lstm(lstm) => lstm_forward(lstm, x),
                RecurrentLayer::Gru(gru) => gru.forward(x, None),
            };
        }
        let x = self.drop.forward(x);
        match &self.head {
            Some(head) => head.forward(x),
            None => {
                let w = self.embedding.weight.val();
                let [vocab, c] = w.dims();
                x.reshape([b * t, c]).matmul(w.transpose()).reshape([b, t, vocab])
            }
        }
    }
}

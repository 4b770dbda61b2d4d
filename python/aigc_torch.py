"""Load aigc's exports into PyTorch.

Every aigc run writes its networks in PyTorch's layout: NAME.safetensors (PyTorch's tensor names
and shapes) and a NAME.json sidecar describing the module (`aigc export --run RUN` writes them
for any checkpoint). This file rebuilds the matching torch.nn module and loads the weights with
load_state_dict(strict=True). It needs only torch (the safetensors package is used when present).

    import aigc_torch
    g = aigc_torch.load("runs/gan-20261202-101500/generator.safetensors")
    images = g(torch.randn(16, g.latent_dim))          # [16, C, H, W] in [-1, 1]
    lm = aigc_torch.load("runs/text-20261202-101500/model.safetensors")
    logits = lm(torch.tensor([lm.encode("ROMEO:")]))   # [1, T, vocab]

Modules:
- image generators (GAN generators, VAE decoders): `net`, an nn.Sequential (`net.0.weight`, ...);
  forward(z, labels=None) -> images [B, C, H, W] in [-1, 1];
- GPT: nanoGPT's names (`transformer.h.0.attn.c_attn.weight`, ...), so nanoGPT's own GPT class
  loads the file too; forward(idx) -> logits [B, T, vocab];
- recurrent LMs: `embedding`, `rnn` (nn.LSTM / nn.GRU, batch_first), `head`.

Run as a script, `python aigc_torch.py FILE.safetensors` loads a file and prints the module.
"""

import json
import struct
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "aigc-pytorch-export/1"

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """The tensors of a .safetensors file (the safetensors package when installed)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        return load_file(str(path))
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    tensors = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = bytearray(data[base + start : base + end])
        t = torch.frombuffer(raw, dtype=_DTYPES[info["dtype"]]) if raw else torch.empty(0, dtype=_DTYPES[info["dtype"]])
        tensors[key] = t.reshape(info["shape"]).clone()
    return tensors


def write_safetensors(tensors, path):
    """Writes `tensors` (name -> tensor) as a .safetensors file (the safetensors package when
    installed)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    try:
        from safetensors.torch import save_file
    except ImportError:
        save_file = None
    if save_file is not None:
        save_file(tensors, str(path), metadata={"format": "pt"})
        return
    names = {v: k for k, v in _DTYPES.items()}
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for key in sorted(tensors):
        raw = tensors[key].numpy().tobytes()
        header[key] = {"dtype": names[tensors[key].dtype], "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def _layer(spec):
    kind = spec["type"]
    if kind == "Linear":
        return nn.Linear(spec["in_features"], spec["out_features"])
    if kind == "Conv2d":
        return nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel_size"], spec["stride"], spec["padding"])
    if kind == "ConvTranspose2d":
        return nn.ConvTranspose2d(spec["in_channels"], spec["out_channels"], spec["kernel_size"], spec["stride"], spec["padding"])
    if kind == "BatchNorm2d":
        return nn.BatchNorm2d(spec["num_features"], eps=spec["eps"], momentum=spec["momentum"])
    if kind == "Unflatten":
        return nn.Unflatten(spec["dim"], tuple(spec["unflattened_size"]))
    if kind in ("ReLU", "Tanh", "Sigmoid", "Flatten"):
        return getattr(nn, kind)()
    if kind == "LeakyReLU":
        return nn.LeakyReLU(spec["negative_slope"])
    raise ValueError(f"unknown layer type {kind!r}")


class ImageGenerator(nn.Module):
    """A GAN generator or a VAE decoder: noise (and a class) -> images [B, C, H, W] in [-1, 1]."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.latent_dim = spec["latent_dim"]
        self.classes = spec["classes"]
        self.image_shape = tuple(spec["image_shape"])
        self.net = nn.Sequential(*[_layer(layer) for layer in spec["layers"]])
        low, high = spec["output_range"]
        self._scale, self._shift = 2.0 / (high - low), -1.0 - 2.0 * low / (high - low)

    def forward(self, z, labels=None):
        if self.classes:
            if labels is None:
                raise ValueError(f"this generator is class-conditional ({self.classes} classes): pass labels")
            z = torch.cat([z, F.one_hot(torch.as_tensor(labels), self.classes).to(z.dtype)], 1)
        return self.net(z) * self._scale + self._shift


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (y.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for y in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=eps)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, eps=eps)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _Vocabulary:
    def _setup_vocab(self, spec):
        vocab = spec.get("vocab") or []
        # text runs: {"chars": [...]}; melody runs: the list of tokens ("<tune>", "K:G", ...)
        self.tokens = vocab.get("chars", []) if isinstance(vocab, dict) else vocab
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    def encode(self, text):
        """Token ids of `text` (character models; characters outside the vocabulary are an error)."""
        return [self._ids[c] for c in text]

    def decode(self, ids):
        sep = "" if all(len(t) == 1 for t in self.tokens) else " "
        return sep.join(self.tokens[i] for i in ids)


class GPT(nn.Module, _Vocabulary):
    """nanoGPT's GPT (bias=True), the names of its state_dict included."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self._setup_vocab(spec)
        e = spec["n_embd"]
        self.block_size = spec["block_size"]
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(spec["vocab_size"], e),
                wpe=nn.Embedding(self.block_size, e),
                h=nn.ModuleList([Block(e, spec["n_head"], spec["layer_norm_eps"]) for _ in range(spec["n_layer"])]),
                ln_f=nn.LayerNorm(e, eps=spec["layer_norm_eps"]),
            )
        )
        self.lm_head = nn.Linear(e, spec["vocab_size"], bias=not spec["tie_weights"])
        if spec["tie_weights"]:
            self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx):
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(f"{t} tokens exceed the context window of {self.block_size}")
        pos = torch.arange(t, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


class RecurrentLM(nn.Module, _Vocabulary):
    """Embedding, stacked LSTM or GRU layers (batch_first, zero initial state), linear head."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self._setup_vocab(spec)
        self.block_size = spec["block_size"]
        self.embedding = nn.Embedding(spec["vocab_size"], spec["n_embd"])
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[spec["cell"]]
        self.rnn = cell(spec["n_embd"], spec["hidden"], num_layers=spec["n_layer"], batch_first=True)
        self.head = nn.Linear(spec["hidden"], spec["vocab_size"], bias=not spec["tie_weights"])
        if spec["tie_weights"]:
            self.embedding.weight = self.head.weight

    def forward(self, idx):
        out, _ = self.rnn(self.embedding(idx))
        return self.head(out)


def sinusoidal(t, dim):
    """The sinusoidal features of timesteps t [B] (sines then cosines), as aigc's UNet."""
    half = dim // 2
    freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class _ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim, groups, eps):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin, eps=eps)
        self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(groups, cout, eps=eps)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x))) + self.t(emb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class _Attention(nn.Module):
    def __init__(self, c, heads, groups, eps):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, c, eps=eps)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        att = torch.softmax(q.transpose(-2, -1) @ k / (c // self.heads) ** 0.5, dim=-1)
        return x + self.proj((v @ att.transpose(-2, -1)).reshape(b, c, h, w))


class _Level(nn.Module):
    def __init__(self, cin, cout, attend, spec):
        super().__init__()
        g, eps = spec["groups"], spec["group_norm_eps"]
        self.block = _ResBlock(cin, cout, spec["time_dim"], g, eps)
        self.attention = _Attention(cout, spec["heads"], g, eps) if attend else None

    def forward(self, x, emb):
        h = self.block(x, emb)
        return self.attention(h) if self.attention is not None else h


class UNet(nn.Module):
    """aigc's denoising UNet (its defaults are ../shared/peers' TinyUNet): forward(x, t, labels=None)
    -> the noise (or velocity) prediction, x [B, C, H, W], t [B] (DDPM step indices)."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        w, att, td, g, eps = spec["widths"], spec["attention"], spec["time_dim"], spec["groups"], spec["group_norm_eps"]
        n = len(w)
        self.classes = spec["classes"]
        self.time_in = nn.Linear(spec["time_features"], td)
        self.time_out = nn.Linear(td, td)
        self.labels = nn.Embedding(self.classes + 1, td) if self.classes else None
        self.conv_in = nn.Conv2d(spec["channels"], w[0], 3, 1, 1)
        self.down = nn.ModuleList([_Level(w[0] if i == 0 else w[i - 1], w[i], att[i], spec) for i in range(n)])
        self.downsample = nn.ModuleList([nn.Conv2d(w[i], w[i], 3, 2, 1) for i in range(n - 1)])
        self.mid1 = _ResBlock(w[-1], w[-1], td, g, eps)
        self.mid_attention = _Attention(w[-1], spec["heads"], g, eps)
        self.mid2 = _ResBlock(w[-1], w[-1], td, g, eps)
        self.up = nn.ModuleList([_Level((w[-1] if i + 1 == n else w[i + 1]) + w[i], w[i], att[i], spec) for i in range(n)])
        self.upsample = nn.ModuleList([nn.Conv2d(w[i + 1], w[i + 1], 3, 1, 1) for i in range(n - 1)])
        self.out_norm = nn.GroupNorm(g, w[0], eps=eps)
        self.conv_out = nn.Conv2d(w[0], spec["channels"], 3, 1, 1)

    def forward(self, x, t, labels=None):
        emb = self.time_out(F.silu(self.time_in(sinusoidal(t, self.spec["time_features"]))))
        if self.labels is not None and labels is not None:
            emb = emb + self.labels(torch.as_tensor(labels))
        emb = F.silu(emb)
        h = self.conv_in(x)
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid2(self.mid_attention(self.mid1(h, emb)), emb)
        for i in reversed(range(len(self.up))):
            if i + 1 < len(self.up):
                h = self.upsample[i](F.interpolate(h, scale_factor=2, mode="nearest"))
            h = self.up[i](torch.cat([h, skips.pop()], 1), emb)
        return self.conv_out(F.silu(self.out_norm(h)))


def build(spec):
    """The (untrained) module a sidecar describes."""
    if spec.get("format") != FORMAT:
        raise ValueError(f"not an aigc export sidecar (format {spec.get('format')!r}, expected {FORMAT!r})")
    module = spec.get("module")
    if module == "image_generator":
        return ImageGenerator(spec)
    if module == "gpt":
        return GPT(spec)
    if module == "rnn":
        return RecurrentLM(spec)
    if module == "unet":
        return UNet(spec)
    raise ValueError(f"unknown module {module!r}")


def load(path):
    """The module of an export (`NAME.safetensors`, its `NAME.json` beside it), in eval mode."""
    path = Path(path)
    spec = json.loads(path.with_suffix(".json").read_text())
    module = build(spec)
    tensors = read_safetensors(path)
    if spec.get("tie_weights"):
        # The file holds the shared matrix under both names; the module holds it once.
        tied = "lm_head.weight" if spec["module"] == "gpt" else "head.weight"
        shared = "transformer.wte.weight" if spec["module"] == "gpt" else "embedding.weight"
        if not torch.equal(tensors[tied], tensors[shared]):
            raise ValueError(f"{path}: {tied} and {shared} should be the same tied matrix")
    module.load_state_dict(tensors, strict=True)
    return module.eval()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python aigc_torch.py FILE.safetensors")
    m = load(sys.argv[1])
    print(m)
    print(f"{sum(p.numel() for p in m.parameters()):,} parameters")

"""ViT over line-mask tokens -> layout logits.

Parameters are plain (weight, bias) tuples with linear weights stored (in, out) and applied
x @ W + b, as in the published ViT6_219_15 checkpoint; layer norms are non-affine followed by a
(scale, bias) pair. Sequences are [class token, up to max_tokens mask tokens padded with the
learned mask token]; attention runs over all positions, padding included (as the published model
was trained).
"""
from __future__ import annotations

import numpy as np
from tinygrad import Tensor, dtypes, nn

from models.init import numpy_init
from poemap.tokens import position_embedding

EPS = 1e-5


def _linear(din: int, dout: int) -> tuple[Tensor, Tensor]:
  return (Tensor.scaled_uniform(din, dout), Tensor.zeros(dout))


def _norm(dim: int) -> tuple[Tensor, Tensor]: return (Tensor.ones(dim), Tensor.zeros(dim))


class TransformerBlock:
  def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, dropout: float = 0.0):
    if embed_dim % num_heads: raise ValueError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    self.num_heads, self.head_dim, self.dropout = num_heads, embed_dim // num_heads, dropout
    self.query, self.key, self.value, self.out = [_linear(embed_dim, embed_dim) for _ in range(4)]
    self.ff1, self.ff2 = _linear(embed_dim, ff_dim), _linear(ff_dim, embed_dim)
    self.ln1, self.ln2 = _norm(embed_dim), _norm(embed_dim)

  def attn(self, x: Tensor) -> Tensor:
    B, T, _ = x.shape
    q, k, v = [x.linear(*w).reshape(B, T, self.num_heads, self.head_dim).transpose(1, 2) for w in (self.query, self.key, self.value)]
    return q.scaled_dot_product_attention(k, v).transpose(1, 2).reshape(B, T, -1).linear(*self.out)

  def __call__(self, x: Tensor) -> Tensor:
    # dropout (the published recipe: 0.1) on both residual branches; Tensor.dropout acts only under TRAINING
    x = x + self.attn(x.layernorm(eps=EPS).linear(*self.ln1)).dropout(self.dropout)
    return x + x.layernorm(eps=EPS).linear(*self.ln2).linear(*self.ff1).gelu().linear(*self.ff2).dropout(self.dropout)


class PatchEmbed:
  """(N,1,32,32) mask patch -> 16x16 stride-16 conv to 64 channels on its four quadrants -> ReLU -> 256."""
  def __init__(self, channels: int, dropout: float = 0.0):
    self.l1, self.dropout = nn.Conv2d(1, channels, 16, stride=16), dropout
  def __call__(self, x: Tensor) -> Tensor: return self.l1(x).relu().flatten(1).dropout(self.dropout)


class ViT:
  """dropout (attention and feed-forward branches) and embed_dropout (patch embedding) act only in training
  (TRAINING context) and hold no parameters: the state dict and the saved config are the same without them."""
  def __init__(self, num_classes: int = 9, max_tokens: int = 128, layers: int = 3, embed_dim: int = 256, num_heads: int = 4, ff_dim: int = 512, seed: int = 0,
               dropout: float = 0.0, embed_dropout: float = 0.0):
    if embed_dim % 4: raise ValueError(f"embed_dim must be a multiple of 4 (four 16x16 quadrants), got {embed_dim}")
    self.config = dict(arch="ViT", num_classes=num_classes, max_tokens=max_tokens, layers=layers, embed_dim=embed_dim, num_heads=num_heads, ff_dim=ff_dim)
    self.max_tokens, self.embed_dim = max_tokens, embed_dim
    self.embedding = PatchEmbed(embed_dim // 4, embed_dropout)
    self.cls_token = Tensor.scaled_uniform(1, 1, embed_dim)
    self.mask_token = Tensor.scaled_uniform(1, embed_dim)
    self.tbs = [TransformerBlock(embed_dim, num_heads, ff_dim, dropout) for _ in range(layers)]
    self.encoder_norm = _norm(embed_dim)
    self.head = _linear(embed_dim, num_classes)
    numpy_init(self, seed)

  def encode(self, seq: Tensor) -> Tensor:
    """(B, max_tokens, D) token embeddings -> (B, num_classes) logits."""
    x = self.cls_token.expand(seq.shape[0], 1, self.embed_dim).cat(seq, dim=1).sequential(self.tbs)
    return x.layernorm(eps=EPS).linear(*self.encoder_norm)[:, 0].linear(*self.head)

  def __call__(self, samples: list[tuple[Tensor | np.ndarray, Tensor | np.ndarray]]) -> Tensor:
    """samples: (tokens (N,1,32,32) bool/float, pe (N,256) float32) pairs, N >= 1 -> logits (B,num_classes)."""
    if not samples: raise ValueError("ViT needs at least one sample")
    seqs = []
    for i, (tok, pe) in enumerate(samples):
      tok, pe = Tensor(tok) if isinstance(tok, np.ndarray) else tok, Tensor(pe) if isinstance(pe, np.ndarray) else pe
      if tok.ndim != 4 or tok.shape[1:] != (1, 32, 32) or pe.shape != (tok.shape[0], self.embed_dim) or tok.shape[0] == 0:
        raise ValueError(f"sample {i}: want tokens (N,1,32,32) and pe (N,{self.embed_dim}) with N >= 1, got {tok.shape} and {pe.shape}")
      n = min(tok.shape[0], self.max_tokens)  # tokens come sorted nearest-first: keep the nearest
      emb = self.embedding(tok[:n].cast(dtypes.float32)) + pe[:n].cast(dtypes.float32)
      if n < self.max_tokens: emb = emb.cat(self.mask_token.expand(self.max_tokens - n, self.embed_dim), dim=0)
      seqs.append(emb)
    return self.encode(Tensor.stack(*seqs))

  def forward_batch(self, x: Tensor, pe: Tensor, n: Tensor) -> Tensor:
    """Fixed-shape path for TinyJit: x (B,max_tokens,1,32,32), pe (B,max_tokens,D), n (B,) int count of
    real tokens per sample; positions >= n get the mask token whatever x and pe hold there."""
    B, T = x.shape[0], x.shape[1]
    emb = self.embedding(x.reshape(B * T, 1, 32, 32).cast(dtypes.float32)).reshape(B, T, self.embed_dim) + pe.cast(dtypes.float32)
    real = (Tensor.arange(T).reshape(1, T, 1) < n.reshape(B, 1, 1))
    return self.encode(real.where(emb, self.mask_token.reshape(1, 1, self.embed_dim)))


def batch_arrays(tokens_list: list[np.ndarray], max_tokens: int = 128, embed_dim: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Tokens (N,32,32,4) as written by poemap.tokens.tokenize_mask (sorted nearest-first) -> padded
  (x float32 (B,max_tokens,1,32,32), pe float32 (B,max_tokens,embed_dim), n int32 (B,)) for
  ViT.forward_batch; keeps the first max_tokens tokens of each sample."""
  B = len(tokens_list)
  x = np.zeros((B, max_tokens, 1, 32, 32), np.float32)
  pe = np.zeros((B, max_tokens, embed_dim), np.float32)
  n = np.zeros((B,), np.int32)
  for i, t in enumerate(tokens_list):
    t = np.asarray(t)
    if t.ndim != 4 or t.shape[1:] != (32, 32, 4): raise ValueError(f"sample {i}: tokens must be (N,32,32,4), got {t.shape}")
    if t.shape[0] == 0: raise ValueError(f"sample {i}: no tokens (no line pixels in the mask)")
    t = t[:max_tokens]
    n[i] = len(t)
    x[i, :n[i], 0] = t[..., 0] > 0
    pe[i, :n[i]] = position_embedding(t, embed_dim)
  return x, pe, n


def sample_arrays(tokens: np.ndarray, embed_dim: int = 256) -> tuple[np.ndarray, np.ndarray]:
  """Tokens (N,32,32,4) -> one (mask patches float32 (N,1,32,32), pe float32 (N,embed_dim)) pair for ViT.__call__."""
  t = np.asarray(tokens)
  if t.ndim != 4 or t.shape[1:] != (32, 32, 4): raise ValueError(f"tokens must be (N,32,32,4), got {t.shape}")
  if t.shape[0] == 0: raise ValueError("no tokens (no line pixels in the mask)")
  return (t[:, None, :, :, 0] > 0).astype(np.float32), position_embedding(t, embed_dim)

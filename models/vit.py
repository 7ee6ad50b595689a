"""ViT over line-mask tokens -> layout logits.

Parameters are (weight, bias) tuples (models.layers.Linear / Affine) with linear weights stored (in, out) and
applied x @ W + b, as in the published ViT6_219_15 checkpoint; layer norms are non-affine followed by a
(scale, bias) pair. Sequences are [class token, up to max_tokens mask tokens padded with the learned mask
token]; attention runs over all positions, padding included (as the published model was trained).
One input path: batch_arrays pads token arrays to (B, max_tokens, ...) and forward_batch runs them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from tinygrad import Tensor, dtypes

from models.layers import Affine, Conv2d, Linear, normal
from poemap.contract import PUBLISHED_VIT_SIZES, TILE
from poemap.tokens import position_embedding

EPS = 1e-5


@dataclass(frozen=True)
class ViTConfig:
  """A ViT's sizes: the one place they are stated. The fields are train_vit.py's flags (flag names in the metadata)
  and the checkpoint's metadata (models.checkpoint); the defaults are the published ViT6_219_15's (poemap.contract)."""
  num_classes: int = field(default=PUBLISHED_VIT_SIZES["num_classes"], metadata=dict(flag="--classes", help="layout classes"))
  max_tokens: int = field(default=PUBLISHED_VIT_SIZES["max_tokens"], metadata=dict(help="tokens per sample, nearest to the origin first"))
  layers: int = field(default=PUBLISHED_VIT_SIZES["layers"], metadata=dict(help="transformer blocks"))
  embed_dim: int = field(default=PUBLISHED_VIT_SIZES["embed_dim"], metadata=dict(help="token/position embedding size"))
  num_heads: int = field(default=PUBLISHED_VIT_SIZES["num_heads"], metadata=dict(flag="--heads", help="attention heads"))
  ff_dim: int = field(default=PUBLISHED_VIT_SIZES["ff_dim"], metadata=dict(help="feed-forward size"))

  def __post_init__(self):
    if self.embed_dim % 4: raise ValueError(f"embed_dim must be a multiple of 4 (four 16x16 quadrants), got {self.embed_dim}")
    if self.embed_dim % self.num_heads: raise ValueError(f"embed_dim {self.embed_dim} not divisible by num_heads {self.num_heads}")
    if min(self.num_classes, self.max_tokens, self.layers, self.ff_dim) < 1: raise ValueError(f"ViT sizes must be >= 1, got {self}")


class TransformerBlock:
  def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, rng: np.random.Generator, dropout: float = 0.0):
    self.num_heads, self.head_dim, self.dropout = num_heads, embed_dim // num_heads, dropout
    self.query, self.key, self.value, self.out = [Linear(embed_dim, embed_dim, rng) for _ in range(4)]
    self.ff1, self.ff2 = Linear(embed_dim, ff_dim, rng), Linear(ff_dim, embed_dim, rng)
    self.ln1, self.ln2 = Affine(embed_dim), Affine(embed_dim)

  def attn(self, x: Tensor) -> Tensor:
    B, T, _ = x.shape
    q, k, v = [w(x).reshape(B, T, self.num_heads, self.head_dim).transpose(1, 2) for w in (self.query, self.key, self.value)]
    return self.out(q.scaled_dot_product_attention(k, v).transpose(1, 2).reshape(B, T, -1))

  def __call__(self, x: Tensor) -> Tensor:
    # dropout (the published recipe: 0.1) on both residual branches; Tensor.dropout acts only under TRAINING
    x = x + self.attn(self.ln1(x.layernorm(eps=EPS))).dropout(self.dropout)
    return x + self.ff2(self.ff1(self.ln2(x.layernorm(eps=EPS))).gelu()).dropout(self.dropout)


class PatchEmbed:
  """(N,1,32,32) mask patch -> 16x16 stride-16 conv to embed_dim/4 channels on its four quadrants -> ReLU -> embed_dim
  (flattened channel-major)."""
  def __init__(self, channels: int, rng: np.random.Generator, dropout: float = 0.0):
    self.l1, self.dropout = Conv2d(1, channels, TILE // 2, rng, stride=TILE // 2), dropout
  def __call__(self, x: Tensor) -> Tensor: return self.l1(x).relu().flatten(1).dropout(self.dropout)


class ViT:
  """ViT(cfg) or ViT(layers=1, ...) (fields of ViTConfig over the published defaults); seed draws the initial weights.
  dropout (attention and feed-forward branches) and embed_dropout (patch embedding) act only in training
  (TRAINING context) and hold no parameters: the state dict and the saved config are the same without them."""
  def __init__(self, cfg: ViTConfig | None = None, /, seed: int = 0, dropout: float = 0.0, embed_dropout: float = 0.0, **sizes: int):
    self.cfg = cfg = replace(cfg or ViTConfig(), **sizes)
    self.max_tokens, self.embed_dim = cfg.max_tokens, cfg.embed_dim
    rng = np.random.default_rng(seed)
    self.embedding = PatchEmbed(cfg.embed_dim // 4, rng, embed_dropout)
    self.cls_token = normal(rng, (1, 1, cfg.embed_dim))
    self.mask_token = normal(rng, (1, cfg.embed_dim))
    self.tbs = [TransformerBlock(cfg.embed_dim, cfg.num_heads, cfg.ff_dim, rng, dropout) for _ in range(cfg.layers)]
    self.encoder_norm = Affine(cfg.embed_dim)
    self.head = Linear(cfg.embed_dim, cfg.num_classes, rng)

  @property
  def config(self) -> dict: return {"arch": "ViT", **asdict(self.cfg)}  # what the checkpoint metadata holds

  def forward_batch(self, x: Tensor, pe: Tensor, n: Tensor) -> Tensor:
    """x (B,max_tokens,1,32,32) mask patches, pe (B,max_tokens,D) position embeddings, n (B,) int count of real tokens
    per sample (batch_arrays makes all three) -> (B,num_classes) logits. Positions >= n get the mask token whatever
    x and pe hold there, so one fixed shape serves every sample (TinyJit)."""
    B, T = x.shape[0], x.shape[1]
    emb = self.embedding(x.reshape(B * T, 1, TILE, TILE).cast(dtypes.float32)).reshape(B, T, self.embed_dim) + pe.cast(dtypes.float32)
    real = (Tensor.arange(T).reshape(1, T, 1) < n.reshape(B, 1, 1))
    seq = real.where(emb, self.mask_token.reshape(1, 1, self.embed_dim))
    h = self.cls_token.expand(B, 1, self.embed_dim).cat(seq, dim=1).sequential(self.tbs)
    return self.head(self.encoder_norm(h.layernorm(eps=EPS))[:, 0])

  def __call__(self, tokens_list: list[np.ndarray]) -> Tensor:
    """Logits (B,num_classes) of token arrays (N,32,32,4) as poemap.tokens.tokenize_mask writes them."""
    return self.forward_batch(*(Tensor(a) for a in batch_arrays(tokens_list, self.max_tokens, self.embed_dim)))


def batch_arrays(tokens_list: list[np.ndarray], max_tokens: int, embed_dim: int,
                 batch: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Tokens (N,32,32,4) as written by poemap.tokens.tokenize_mask (sorted nearest-first) -> padded
  (x float32 (B,max_tokens,1,32,32), pe float32 (B,max_tokens,embed_dim), n int32 (B,)) for ViT.forward_batch;
  keeps the first max_tokens tokens of each sample. With batch, B is len(tokens_list) rounded up to a whole number
  of batches (at least one), the extra rows empty (n = 0: mask tokens only), so fixed-shape kernels serve a short batch."""
  B = len(tokens_list) if batch is None else max(1, -(-len(tokens_list) // batch)) * batch
  x = np.zeros((B, max_tokens, 1, TILE, TILE), np.float32)
  pe = np.zeros((B, max_tokens, embed_dim), np.float32)
  n = np.zeros((B,), np.int32)
  for i, t in enumerate(tokens_list):
    t = np.asarray(t)
    if t.ndim != 4 or t.shape[1:] != (TILE, TILE, 4): raise ValueError(f"sample {i}: tokens must be (N,32,32,4), got {t.shape}")
    if t.shape[0] == 0: raise ValueError(f"sample {i}: no tokens (no line pixels in the mask)")
    t = t[:max_tokens]
    n[i] = len(t)
    x[i, :n[i], 0] = t[..., 0] > 0
    pe[i, :n[i]] = position_embedding(t, embed_dim)
  return x, pe, n


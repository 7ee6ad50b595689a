"""Mask cleaning, tokenization and position embeddings: the ViT's input, per the model contract.

Every number here is part of the contract the published weights were trained on (DESIGN.md):
15x15 neighbourhood with at least 10 other line pixels, 32 px patches anchored at the origin,
token channels (mask, row, col, row^2+col^2), stable sort by distance, 256-d sin/cos embedding.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

PATCH = 32


def _as_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
  mask = np.asarray(mask)
  if mask.ndim != 2: raise ValueError(f"{name} must be 2-D (H, W), got shape {mask.shape}")
  if not (mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.integer)):
    raise ValueError(f"{name} must be bool or integer (0/1 or 0/255), got {mask.dtype}")
  return (mask != 0).astype(np.uint8)


def clean_sparse_pixels(mask: np.ndarray, threshold: int = 10, neighborhood: int = 15) -> np.ndarray:
  """Keep a line pixel only if >= `threshold` other line pixels lie in its neighborhood x
  neighborhood window (zeros outside the image). Returns uint8 0/1 of the same shape."""
  m = _as_mask(mask)
  if neighborhood < 1 or neighborhood % 2 == 0: raise ValueError(f"neighborhood must be odd and >= 1, got {neighborhood}")
  r = neighborhood // 2
  # integral image of the zero-padded mask: an exact window count without float rounding
  ii = cv2.integral(np.pad(m, r))
  h, w = m.shape
  n = neighborhood
  count = ii[n:n + h, n:n + w] - ii[:h, n:n + w] - ii[n:n + h, :w] + ii[:h, :w]
  return (m & (count - m >= threshold)).astype(np.uint8)


def tokenize_mask(mask: np.ndarray, origin) -> np.ndarray:
  """Cut the mask into 32 px patches on a grid whose patch (0,0) has the origin pixel at its
  top-left corner, keep patches with any line pixel, and return int64 tokens (N, 32, 32, 4):
  channel 0 the mask, 1 the patch row, 2 the patch column (relative to the origin patch),
  3 row^2 + col^2; sorted by channel 3 ascending with a stable sort (ties keep row-major order)."""
  m = _as_mask(mask)
  h, w = m.shape
  oy, ox = _origin(origin, (h, w))
  above, left = -(-oy // PATCH), -(-ox // PATCH)            # patches needed before the origin
  below, right = -(-(h - oy) // PATCH), -(-(w - ox) // PATCH)
  padded = np.zeros(((above + below) * PATCH, (left + right) * PATCH), np.uint8)
  y0, x0 = above * PATCH - oy, left * PATCH - ox
  padded[y0:y0 + h, x0:x0 + w] = m
  patches = padded.reshape(above + below, PATCH, left + right, PATCH).transpose(0, 2, 1, 3)
  rr, cc = np.nonzero(patches.any(axis=(2, 3)))             # row-major order
  rows, cols = (rr - above).astype(np.int64), (cc - left).astype(np.int64)
  dist = rows * rows + cols * cols
  order = np.argsort(dist, kind="stable")
  tokens = np.empty((len(order), PATCH, PATCH, 4), np.int64)
  tokens[..., 0] = patches[rr[order], cc[order]]
  tokens[..., 1] = rows[order, None, None]
  tokens[..., 2] = cols[order, None, None]
  tokens[..., 3] = dist[order, None, None]
  return tokens


def position_embedding(tokens: np.ndarray, dim: int = 256) -> np.ndarray:
  """float32 (N, dim): sin/cos of the patch row and column at dim/4 frequencies, interleaved
  as [sin(row f), cos(row f), sin(col f), cos(col f)] per frequency."""
  tokens = np.asarray(tokens)
  if tokens.ndim != 4 or tokens.shape[1:] != (PATCH, PATCH, 4): raise ValueError(f"tokens must be (N, 32, 32, 4), got {tokens.shape}")
  if dim <= 0 or dim % 4: raise ValueError(f"dim must be a positive multiple of 4, got {dim}")
  freqs = np.exp(np.arange(0, dim, 4, dtype=np.float64) / dim * -math.log(10000.0))
  row = tokens[:, 0, 0, 1].astype(np.float64)[:, None] * freqs
  col = tokens[:, 0, 0, 2].astype(np.float64)[:, None] * freqs
  pe = np.empty((len(tokens), dim), np.float64)
  pe[:, 0::4], pe[:, 1::4], pe[:, 2::4], pe[:, 3::4] = np.sin(row), np.cos(row), np.sin(col), np.cos(col)
  return pe.astype(np.float32)


def _origin(origin, shape: tuple[int, int]) -> tuple[int, int]:
  o = np.asarray(origin)
  if o.shape != (2,) or not np.issubdtype(o.dtype, np.number) or not np.all(np.isfinite(o)):
    raise ValueError(f"origin must be [y, x], got {origin!r}")
  oy, ox = int(o[0]), int(o[1])
  if not (0 <= oy < shape[0] and 0 <= ox < shape[1]): raise ValueError(f"origin {[oy, ox]} lies outside the mask of shape {shape}")
  return oy, ox

"""Mask cleaning, tokenization and position embeddings: the ViT's input, per the model contract.

Every number here is part of the contract the published weights were trained on (the values in
poemap.contract; docs/DESIGN.md, "The contract"): 15x15 neighbourhood with at least 10 other line pixels,
32 px patches anchored at the origin, token channels (mask, row, col, row^2+col^2), stable sort by
distance, 256-d sin/cos embedding.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from poemap.contract import CLEAN_MIN, CLEAN_WINDOW, EMBED_DIM, PE_BASE
from poemap.contract import TILE as PATCH  # a token's patch is a UNet tile


def _as_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
  mask = np.asarray(mask)
  if mask.ndim != 2: raise ValueError(f"{name} must be 2-D (H, W), got shape {mask.shape}")
  if not (mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.integer)):
    raise ValueError(f"{name} must be bool or integer (0/1 or 0/255), got {mask.dtype}")
  return (mask != 0).astype(np.uint8)


def clean_sparse_pixels(mask: np.ndarray, threshold: int = CLEAN_MIN, neighborhood: int = CLEAN_WINDOW) -> np.ndarray:
  """Keep a line pixel only if >= `threshold` other line pixels lie in its neighborhood x
  neighborhood window (zeros outside the image). Returns uint8 0/1 of the same shape."""
  m = _as_mask(mask)
  out = np.empty_like(m)
  _clean_box(m, out, (0, m.shape[0]), (0, m.shape[1]), threshold, neighborhood)
  return out


def clean_sparse_box(mask: np.ndarray, out: np.ndarray, ys: tuple[int, int], xs: tuple[int, int], threshold: int = CLEAN_MIN,
                     neighborhood: int = CLEAN_WINDOW) -> None:
  """Recompute out[y0:y1, x0:x1] (clipped to the image) in place as clean_sparse_pixels(mask) has it, bit for bit:
  the same count over the box plus its neighbourhood margin of real pixels. For a mask that changed only
  inside the box shrunk by that margin, the rest of the old output still holds (stream/session.py)."""
  m = _as_mask(mask)
  if out.shape != m.shape or out.dtype != np.uint8: raise ValueError(f"out must be uint8 {m.shape}, got {out.dtype} {out.shape}")
  _clean_box(m, out, ys, xs, threshold, neighborhood)


def _clean_box(m: np.ndarray, out: np.ndarray, ys: tuple[int, int], xs: tuple[int, int], threshold: int, neighborhood: int) -> None:
  if neighborhood < 1 or neighborhood % 2 == 0: raise ValueError(f"neighborhood must be odd and >= 1, got {neighborhood}")
  h, w = m.shape
  y0, y1, x0, x1 = max(0, ys[0]), min(h, ys[1]), max(0, xs[0]), min(w, xs[1])
  if y1 <= y0 or x1 <= x0: return
  r, n = neighborhood // 2, neighborhood
  # the box with an r px margin, zeros outside the image
  a0, a1, b0, b1 = max(0, y0 - r), min(h, y1 + r), max(0, x0 - r), min(w, x1 + r)
  sub = np.pad(m[a0:a1, b0:b1], ((r - (y0 - a0), r - (a1 - y1)), (r - (x0 - b0), r - (b1 - x1))))
  # integral image: an exact window count without float rounding
  ii = cv2.integral(sub)
  bh, bw = y1 - y0, x1 - x0
  count = ii[n:n + bh, n:n + bw] - ii[:bh, n:n + bw] - ii[n:n + bh, :bw] + ii[:bh, :bw]
  c = m[y0:y1, x0:x1]
  out[y0:y1, x0:x1] = c & (count - c >= threshold)


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


def mask_tokens(mask: np.ndarray, origin, limit: int | None = None) -> np.ndarray:
  """The ViT's tokens of a revealed line mask (a UNet's mask of a live minimap, or a layout's mask seen through the
  fog): sparse pixels cleaned once, then tokenize_mask; the first `limit` (all: None). The one way from a mask to
  tokens: training samples (training.vitdata) call it, and the server's incremental form (stream.session.update_clean
  + update_tokens) equals it bit for bit. A mask must reach it uncleaned: cleaning twice removes more."""
  return tokenize_mask(clean_sparse_pixels(mask), origin)[:limit]


def token_grid(shape: tuple[int, int], origin) -> tuple[int, int, int, int]:
  """(above, left, rows, cols) of tokenize_mask's patch grid over a mask of this shape: patches before the
  origin patch, and the grid's size."""
  oy, ox = _origin(origin, shape)
  above, left = -(-oy // PATCH), -(-ox // PATCH)
  return above, left, above + -(-(shape[0] - oy) // PATCH), left + -(-(shape[1] - ox) // PATCH)


def patch_occupancy(mask: np.ndarray, origin, box: tuple[tuple[int, int], tuple[int, int]] | None = None,
                    occ: np.ndarray | None = None) -> np.ndarray:
  """bool (rows, cols) over tokenize_mask's patch grid: which patches hold a line pixel. With box ((y0, y1),
  (x0, x1)) in mask pixels, only the patches that overlap it are recomputed, into occ (the rest kept)."""
  m = np.asarray(mask)
  h, w = m.shape
  above, left, rows, cols = token_grid((h, w), origin)
  oy, ox = _origin(origin, (h, w))
  py, px = above * PATCH - oy, left * PATCH - ox  # where the mask starts in the padded grid
  if occ is None: occ = np.zeros((rows, cols), bool)
  if occ.shape != (rows, cols): raise ValueError(f"occ must be ({rows}, {cols}), got {occ.shape}")
  (y0, y1), (x0, x1) = box if box is not None else ((0, h), (0, w))
  r0, r1 = max(0, (y0 + py) // PATCH), min(rows, -(-(y1 + py) // PATCH))
  c0, c1 = max(0, (x0 + px) // PATCH), min(cols, -(-(x1 + px) // PATCH))
  if r1 <= r0 or c1 <= c0: return occ
  sub = np.zeros(((r1 - r0) * PATCH, (c1 - c0) * PATCH), m.dtype)
  a0, a1, b0, b1 = max(0, r0 * PATCH - py), min(h, r1 * PATCH - py), max(0, c0 * PATCH - px), min(w, c1 * PATCH - px)
  sub[a0 - (r0 * PATCH - py):a1 - (r0 * PATCH - py), b0 - (c0 * PATCH - px):b1 - (c0 * PATCH - px)] = m[a0:a1, b0:b1]
  # reduce each band's 32 rows first: long contiguous runs, ~100x faster than any() over a transposed patch view
  occ[r0:r1, c0:c1] = sub.reshape(r1 - r0, PATCH, sub.shape[1]).any(1).reshape(r1 - r0, c1 - c0, PATCH).any(2)
  return occ


def tokens_from_occupancy(mask: np.ndarray, origin, occ: np.ndarray, limit: int | None = None) -> np.ndarray:
  """The first `limit` (all: None) tokens of tokenize_mask(mask, origin), bit for bit, given its patch_occupancy:
  the server needs only the ViT's first max_tokens, and building every token costs more than the rest."""
  m = np.asarray(mask)
  h, w = m.shape
  above, left, _, _ = token_grid((h, w), origin)
  oy, ox = _origin(origin, (h, w))
  rr, cc = np.nonzero(occ)                                  # row-major, as tokenize_mask
  rows, cols = (rr - above).astype(np.int64), (cc - left).astype(np.int64)
  dist = rows * rows + cols * cols
  order = np.argsort(dist, kind="stable")[:limit]
  tokens = np.zeros((len(order), PATCH, PATCH, 4), np.int64)
  for k, i in enumerate(order):
    y, x = oy + rows[i] * PATCH, ox + cols[i] * PATCH       # the patch's top-left in mask pixels (may lie outside)
    a0, a1, b0, b1 = max(0, y), min(h, y + PATCH), max(0, x), min(w, x + PATCH)
    tokens[k, a0 - y:a1 - y, b0 - x:b1 - x, 0] = m[a0:a1, b0:b1] != 0
  tokens[..., 1] = rows[order, None, None]
  tokens[..., 2] = cols[order, None, None]
  tokens[..., 3] = dist[order, None, None]
  return tokens


def position_embedding(tokens: np.ndarray, dim: int = EMBED_DIM) -> np.ndarray:
  """float32 (N, dim): sin/cos of the patch row and column at dim/4 frequencies, interleaved
  as [sin(row f), cos(row f), sin(col f), cos(col f)] per frequency."""
  tokens = np.asarray(tokens)
  if tokens.ndim != 4 or tokens.shape[1:] != (PATCH, PATCH, 4): raise ValueError(f"tokens must be (N, 32, 32, 4), got {tokens.shape}")
  if dim <= 0 or dim % 4: raise ValueError(f"dim must be a positive multiple of 4, got {dim}")
  freqs = np.exp(np.arange(0, dim, 4, dtype=np.float64) / dim * -math.log(PE_BASE))
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

"""Whole-image UNet inference on 32 px tiles, and fixed-shape ViT inference, both under TinyJit.

Every tile is computed independently with the same kernels, so computing a subset of tiles gives
bit-identical results to the same tiles of a full pass: the server recomputes only changed tiles.
A UNet with a halo (models.unet.UNet(cfg, halo=H)) reads each tile with `halo` px of context on every side,
cut from the normalised image padded as the tile path pads it (0 after normalising, or normalised black on
the published path); a tile's result then depends on its haloed square, which is what must be unchanged for
the server to reuse it (stream.session).
"""
from __future__ import annotations

import numpy as np
from tinygrad import Tensor, TinyJit, dtypes
from tinygrad.helpers import Context

from models.vit import ViT, batch_arrays
from poemap.fidelity import BUNDLED, INPUT_PATHS, PUBLISHED, channel_stats, check_image, normalise

TILE = 32


def _check_stats(stats) -> tuple[np.ndarray, np.ndarray]:
  mean, std = (np.asarray(s, np.float32) for s in stats)
  if mean.shape != (3,) or std.shape != (3,) or not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std < 0).any():
    raise ValueError(f"stats must be (mean (3,), std (3,)) finite with std >= 0, got {mean} {std}")
  return mean, std


class TiledUNet:
  """Runs a UNet over 32 px tiles in fixed batches of `batch` (the last one zero-padded, so one kernel set serves all).
  input_path (poemap.fidelity) decides the padding and the default statistics: "bundled" pads with 0 after
  normalising and takes the image's own statistics; "published" pads with raw 0 (black) before normalising and
  takes the statistics of the image zero-padded to whole tiles, as the original server fed the published UNet."""
  def __init__(self, model, batch: int = 64, input_path: str = BUNDLED):
    if batch < 1: raise ValueError(f"batch must be >= 1, got {batch}")
    if input_path not in INPUT_PATHS: raise ValueError(f"input_path must be one of {INPUT_PATHS}, got {input_path!r}")
    self.model, self.batch, self.input_path, self.pad_raw = model, batch, input_path, input_path == PUBLISHED
    self.halo = int(getattr(model, "halo", 0))  # context px read on every side of a tile (0: the tile alone)
    self._jit = TinyJit(self._forward)

  def _pad_value(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray | float:
    """What lies past the image in normalised units: normalised raw black on the published path, else 0."""
    return normalise(np.zeros(3, np.uint8), mean, std) if self.pad_raw else 0.0

  def stats(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The statistics this input path takes of an image."""
    return channel_stats(image, TILE if self.pad_raw else 1)

  def _forward(self, x: Tensor) -> Tensor: return self.model(x).argmax(axis=1).cast(dtypes.uint8).realize()

  def _infer(self, tiles: np.ndarray) -> np.ndarray:
    """(K,3,32+2*halo,32+2*halo) float32 normalised -> (K,32,32) uint8 class ids."""
    out = np.empty((len(tiles), TILE, TILE), np.uint8)
    with Context(TRAINING=0):
      for s in range(0, len(tiles), self.batch):
        chunk = tiles[s:s + self.batch]
        if len(chunk) < self.batch: chunk = np.concatenate([chunk, np.zeros((self.batch - len(chunk), *chunk.shape[1:]), np.float32)])
        out[s:s + self.batch] = self._jit(Tensor(np.ascontiguousarray(chunk))).numpy()[:len(tiles) - s]
    return out

  def mask(self, image: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """uint8 (H,W) 0/1 line mask (argmax class) of an RGB uint8 image; stats default to the image's own."""
    image = check_image(image)
    mean, std = _check_stats(stats if stats is not None else self.stats(image))
    H, W = image.shape[:2]
    th, tw = -(-H // TILE), -(-W // TILE)
    h = self.halo
    x = np.empty((th * TILE + 2 * h, tw * TILE + 2 * h, 3), np.float32)
    x[:] = self._pad_value(mean, std)
    x[h:h + H, h:h + W] = normalise(image, mean, std)
    # the (tile + 2*halo) squares on the 32 px grid (overlapping with a halo), as a strided view of the padded image
    S, (s0, s1, s2) = TILE + 2 * h, x.strides
    tiles = np.lib.stride_tricks.as_strided(x, (th, tw, 3, S, S), (TILE * s0, TILE * s1, s2, s0, s1), writeable=False).reshape(-1, 3, S, S)
    out = self._infer(tiles).reshape(th, tw, TILE, TILE).transpose(0, 2, 1, 3).reshape(th * TILE, tw * TILE)
    return out[:H, :W]

  def tiles(self, image: np.ndarray, coords: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """uint8 (K,32,32) for the tiles at coords (K,2) [tile_row, tile_col], equal to the same tiles of
    mask(image, stats); pixels of edge tiles that lie past the image are 0."""
    image = check_image(image)
    mean, std = _check_stats(stats if stats is not None else self.stats(image))
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2 or (coords.size and not np.issubdtype(coords.dtype, np.integer)):
      raise ValueError(f"coords must be integer (K,2) [tile_row, tile_col], got {coords.dtype} {coords.shape}")
    H, W = image.shape[:2]
    th, tw = -(-H // TILE), -(-W // TILE)
    bad = (coords[:, 0] < 0) | (coords[:, 0] >= th) | (coords[:, 1] < 0) | (coords[:, 1] >= tw)
    if bad.any(): raise ValueError(f"tile coords {coords[bad].tolist()} outside the {th}x{tw} tile grid of a {H}x{W} image")
    if not len(coords): return np.zeros((0, TILE, TILE), np.uint8)
    r, c = coords[:, 0], coords[:, 1]
    if self.halo: out = self._infer(self._halo_tiles(image, r, c, mean, std))
    else: out = self._infer(self._plain_tiles(image, r, c, mean, std))
    for i in np.flatnonzero(((r + 1) * TILE > H) | ((c + 1) * TILE > W)): out[i, H - r[i] * TILE:], out[i, :, W - c[i] * TILE:] = 0, 0
    return out

  def _halo_tiles(self, image: np.ndarray, r: np.ndarray, c: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(K,3,S,S) normalised squares of side S = 32 + 2*halo centred on the tiles, padded past the image as mask() pads."""
    H, W = image.shape[:2]
    h = self.halo
    S = TILE + 2 * h
    x = np.empty((len(r), S, S, 3), np.float32)
    x[:] = self._pad_value(mean, std)
    for i, (y0, x0) in enumerate(zip(r * TILE - h, c * TILE - h)):
      ya, yb, xa, xb = max(0, y0), min(H, y0 + S), max(0, x0), min(W, x0 + S)
      x[i, ya - y0:yb - y0, xa - x0:xb - x0] = normalise(image[ya:yb, xa:xb], mean, std)  # elementwise: mask()'s values
    return x.transpose(0, 3, 1, 2)

  def _plain_tiles(self, image: np.ndarray, r: np.ndarray, c: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(K,3,32,32) normalised tiles; pixels past the image as mask() pads them."""
    H, W = image.shape[:2]
    # whole tiles come in one gather from a strided (rows, cols, 32, 32, 3) view; the few ragged edge tiles one by one
    raw = np.zeros((len(r), TILE, TILE, 3), np.uint8)
    whole = ((r + 1) * TILE <= H) & ((c + 1) * TILE <= W)
    if whole.any():
      s0, s1, s2 = image.strides
      view = np.lib.stride_tricks.as_strided(image, (H // TILE, W // TILE, TILE, TILE, 3), (TILE * s0, TILE * s1, s0, s1, s2), writeable=False)
      raw[whole] = view[r[whole], c[whole]]
    edge = np.flatnonzero(~whole)
    for i in edge:
      crop = image[r[i] * TILE:(r[i] + 1) * TILE, c[i] * TILE:(c[i] + 1) * TILE]
      raw[i, :crop.shape[0], :crop.shape[1]] = crop
    tiles = normalise(raw, mean, std)  # elementwise, so the same float32 values as normalising the image, then cutting
    if not self.pad_raw:  # bundled: padding past the image is 0 after normalising (published: normalised raw black, as it is)
      for i in edge: tiles[i, H - r[i] * TILE:], tiles[i, :, W - c[i] * TILE:] = 0, 0
    return tiles.transpose(0, 3, 1, 2)


class ViTRunner:
  """Layout probabilities from token arrays, in fixed batches of `batch` samples under TinyJit."""
  def __init__(self, model: ViT, batch: int = 1):
    if batch < 1: raise ValueError(f"batch must be >= 1, got {batch}")
    self.model, self.batch = model, batch
    self._jit = TinyJit(self._forward)

  def _forward(self, x: Tensor, pe: Tensor, n: Tensor) -> Tensor: return self.model.forward_batch(x, pe, n).softmax(-1).realize()

  def probs(self, tokens_list: list[np.ndarray]) -> np.ndarray:
    """tokens_list: (N,32,32,4) arrays from poemap.tokens.tokenize_mask, any number -> float32 (B,num_classes) softmax.
    An empty token array is a ValueError (the caller reports no_features)."""
    if len(tokens_list) == 0: raise ValueError("no samples")
    out = []
    with Context(TRAINING=0):
      for s in range(0, len(tokens_list), self.batch):  # one batch's arrays at a time (128 tokens of 32x32 floats a sample); the last one padded
        arrays = batch_arrays(tokens_list[s:s + self.batch], self.model.max_tokens, self.model.embed_dim, batch=self.batch)
        out.append(self._jit(*(Tensor(a) for a in arrays)).numpy())
    return np.concatenate(out)[:len(tokens_list)].astype(np.float32)

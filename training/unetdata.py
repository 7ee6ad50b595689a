"""UNet training data: 32 px patch pairs sampled from the auto_crop_50/mask_50 groups, normalised per
the model contract (each channel by its crop's mean/std, poemap.fidelity.normalise) and augmented; for a UNet
with a halo, the patch's image with that much context around it (sample_halo_patches).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from poemap.datadir import data_root, read_unet_groups, report_read
from poemap.fidelity import channel_stats, normalise
from poemap.fileio import load_npz_data
from poemap.usererror import UserError


@dataclass
class Crop:
  group: str
  image: np.ndarray   # uint8 (H,W,3) RGB
  mask: np.ndarray    # uint8 (H,W) 0/1
  mean: np.ndarray
  std: np.ndarray
  lines: np.ndarray   # (K,2) [y,x] of line pixels, for sampling patches that hold lines


def load_groups(root: str | os.PathLike | None = None) -> dict[str, list[Crop]]:
  """{group: crops}, every crop checked against its group's mask."""
  out: dict[str, list[Crop]] = {}
  skipped: list = []
  groups = read_unet_groups(root, skipped)
  report_read(f"UNet groups under {root or 'data'} (auto_crop_50 + mask_50)", len(groups), skipped)
  for g, crop_paths, mask_path in groups:
    mask = (load_npz_data(mask_path) > 0).astype(np.uint8)
    lines = np.argwhere(mask)
    crops = []
    for p in crop_paths:
      img = load_npz_data(p)
      if img.dtype != np.uint8 or img.shape != (*mask.shape, 3): raise UserError(f"{p}: want uint8 {mask.shape}+(3,), got {img.dtype} {img.shape}")
      crops.append(Crop(g, img, mask, *channel_stats(img), lines))
    out[g] = crops
  if not out: raise UserError(f"no UNet training groups (auto_crop_50/<group>/ + mask_50/<group>.npz) under {root}")
  return out


def load_group_roots(roots: list) -> dict[str, list[Crop]]:
  """The groups of several data roots as one pool, each named ROOTNAME/GROUP: the synthetic Coast names
  every root's groups sim_0000, ... so the plain names would collide. Two roots of one folder name are refused."""
  names = [data_root(r).resolve().name for r in roots]
  if len(set(names)) != len(names): raise UserError(f"data roots need distinct folder names, got {names}")
  return {f"{n}/{g}": crops for n, r in zip(names, roots) for g, crops in load_groups(r).items()}


def darkest_of(images: list[np.ndarray], k: int) -> list[np.ndarray]:
  """The per-pixel darkest of each k consecutive images of one region. A UNet group's crops are one region of minimap
  over different stretches of world: the map lines are the one thing fixed in place, while spell strokes, fires and the
  world's texture move and all add light over the ground, so the darkest of a few views keeps the lines and drops most
  of what looks like them (docs/MODELS.md, "The darkest of several views")."""
  return [np.minimum.reduce(images[i:i + k]) for i in range(len(images) - k + 1)]


def darkest_views(crops: list[Crop], k: int) -> list[Crop]:
  """darkest_of each 2..k consecutive crops of a group, as crops of their own (the group's mask, their own statistics):
  a canvas pixel has had anything from one view to many since the fog last lifted there."""
  return [Crop(c.group, img, c.mask, *channel_stats(img), c.lines)
          for j in range(2, k + 1) for c, img in zip(crops, darkest_of([c.image for c in crops], j))]


def split_groups(names: list[str], val_frac: float, seed: int) -> tuple[list[str], list[str]]:
  """Held-out validation groups: a seeded choice of round(val_frac * n) groups (at least one when there
  are two or more), so validation measures unseen minimaps, not unseen noise on seen ones."""
  names = sorted(names)
  k = min(len(names) - 1, max(1 if len(names) > 1 and val_frac > 0 else 0, round(val_frac * len(names))))
  val = set(np.random.default_rng(seed).permutation(names)[:k].tolist())
  return [n for n in names if n not in val], [n for n in names if n in val]


def sample_patches(crops: list[Crop], n: int, rng: np.random.Generator, patch: int = 32, line_frac: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
  """n patches: (x float32 (n,3,patch,patch) normalised, y int32 (n,patch,patch)). A fraction line_frac
  is centred near a random line pixel (lines are a few % of pixels; uniform sampling would mostly show
  background), the rest lies anywhere."""
  x, y, _ = sample_halo_patches(crops, n, rng, 0, patch, line_frac)
  return x, y


def sample_halo_patches(crops: list[Crop], n: int, rng: np.random.Generator, halo: int, patch: int = 32,
                        line_frac: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """sample_patches for a UNet with a halo (models.unet.UNet(cfg, halo=H)): the patch is drawn as there, and x is the
  (patch + 2*halo) square centred on it, 0 (the tiled runner's padding after normalising) where it reaches past the
  crop; y is the patch's labels only. Returns (x (n,3,S,S), y (n,patch,patch), inside bool (n,S,S): not padding)."""
  S = patch + 2 * halo
  x = np.zeros((n, 3, S, S), np.float32)
  y = np.empty((n, patch, patch), np.int32)
  inside = np.zeros((n, S, S), bool)
  for i, ci in enumerate(rng.integers(0, len(crops), n)):
    c = crops[ci]
    H, W = c.mask.shape
    if H < patch or W < patch: raise UserError(f"group {c.group}: crops of {H}x{W} are smaller than a {patch} px patch")
    if len(c.lines) and rng.random() < line_frac:
      cy, cx = c.lines[rng.integers(len(c.lines))]
      y0, x0 = int(np.clip(cy - rng.integers(patch), 0, H - patch)), int(np.clip(cx - rng.integers(patch), 0, W - patch))
    else: y0, x0 = int(rng.integers(H - patch + 1)), int(rng.integers(W - patch + 1))
    ya, yb, xa, xb = max(0, y0 - halo), min(H, y0 + patch + halo), max(0, x0 - halo), min(W, x0 + patch + halo)
    oy, ox = ya - (y0 - halo), xa - (x0 - halo)
    x[i, :, oy:oy + yb - ya, ox:ox + xb - xa] = normalise(c.image[ya:yb, xa:xb], c.mean, c.std).transpose(2, 0, 1)
    inside[i, oy:oy + yb - ya, ox:ox + xb - xa] = True
    y[i] = c.mask[y0:y0 + patch, x0:x0 + patch]
  return x, y, inside


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, noise: float = 0.1, jitter: float = 0.1,
            inside: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Random flips and 90° rotations (same on image and mask), per-patch colour jitter and pixel noise.
  Jitter is a per-channel gain/offset in normalised space: in raw space it would cancel out exactly in the
  per-image normalisation, while what really varies at inference is the image statistics (the server keeps
  them fixed for a session as the minimap grows). x may be larger than y (a haloed patch, centred on y's):
  both turn about their centres. inside (sample_halo_patches) marks real pixels: the padding stays 0, as at inference."""
  x, y = x.copy(), y.copy()
  n = len(x)
  pad = None if inside is None else ~inside
  for i in range(n):
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    xi, yi = np.rot90(x[i], k, axes=(1, 2)), np.rot90(y[i], k)
    if flip: xi, yi = xi[:, :, ::-1], yi[:, ::-1]
    x[i], y[i] = xi, yi
    if pad is not None:
      pi = np.rot90(pad[i], k)
      pad[i] = pi[:, ::-1] if flip else pi
  if jitter: x = x * rng.uniform(1 - jitter, 1 + jitter, (n, 3, 1, 1)).astype(np.float32) + rng.normal(0, jitter, (n, 3, 1, 1)).astype(np.float32)
  if noise: x = x + rng.normal(0, noise, x.shape).astype(np.float32)
  if pad is not None: x = np.where(pad[:, None], np.float32(0), x)
  return x.astype(np.float32), y


# ---- the original recipe (train_unet.py --recipe published): what AttentionUNet8_8600 was trained with

def sample_patches_original(crops: list[Crop], n: int, rng: np.random.Generator, patch: int = 32) -> tuple[np.ndarray, np.ndarray]:
  """n patches as the original loader drew them: the batch is shared out over all crops by a Dirichlet(1, ..., 1)
  draw (rounded, the remainder to the largest share), and each patch is a uniform crop whose corner lies in
  [0, H - patch) x [0, W - patch) (the far edge never starts a patch), normalised by its crop's statistics."""
  shares = np.round(rng.dirichlet(np.ones(len(crops))) * n).astype(int)
  shares[np.argmax(shares)] += n - shares.sum()
  x = np.empty((n, 3, patch, patch), np.float32)
  y = np.empty((n, patch, patch), np.int32)
  i = 0
  for c, k in zip(crops, shares):
    H, W = c.mask.shape
    if k and (H <= patch or W <= patch): raise UserError(f"group {c.group}: crops of {H}x{W} are not larger than a {patch} px patch")
    for _ in range(k):
      y0, x0 = int(rng.integers(0, H - patch)), int(rng.integers(0, W - patch))
      x[i] = normalise(c.image[y0:y0 + patch, x0:x0 + patch], c.mean, c.std).transpose(2, 0, 1)
      y[i] = c.mask[y0:y0 + patch, x0:x0 + patch]
      i += 1
  return x, y


def augment_original(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, p: float = 0.5, sigma: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
  """The original augmentation, each with probability p per patch: a left-right flip, a rotation by 90, 180
  or 270 degrees, and Gaussian noise of std sigma on the (already normalised) image, which is then clipped
  to [0, 1], as the original did: half of the patches are seen with every value below 0 cut to 0."""
  x, y = x.copy(), y.copy()
  for i in range(len(x)):
    xi, yi = x[i], y[i]
    if rng.random() < p: xi, yi = xi[:, :, ::-1], yi[:, ::-1]
    if rng.random() < p:
      k = int(rng.integers(1, 4))
      xi, yi = np.rot90(xi, k, axes=(1, 2)), np.rot90(yi, k)
    if rng.random() < p: xi = np.clip(xi + rng.normal(0, sigma, xi.shape), 0, 1)
    x[i], y[i] = xi, yi
  return x.astype(np.float32), y

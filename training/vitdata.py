"""ViT training samples: a full-layout line mask seen through the fog of war along (part of) a path.

A source is one (layout mask, origin, path) triple from the train tree. A sample takes a prefix of the
path (the exploration so far), drops some of its points (paths are drawn/recorded at uneven density),
reveals discs of radius 65 px around the rest (explore_map), and turns that into tokens around the origin
with poemap.tokens.mask_tokens, the server's function (sparse pixels cleaned once, after the fog, as on a live
mask). Samples are made in a background process that streams class-balanced steps into a queue, so training
starts at once; the trainer keeps what it got in a pool and draws class-balanced batches from it while the
producer is busy. Step k's samples are a function of (seed, k) alone, so a resumed run continues the stream.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poemap.datadir import read_layout, read_paths, report_read, scan_layouts
from poemap.explore import explore_map
from poemap.contract import FOG_RADIUS, TILE
from poemap.tokens import clean_sparse_pixels, mask_tokens, tokenize_mask
from poemap.usererror import UserError


@dataclass(frozen=True)
class Source:
  layout: int
  instance_dir: str
  n: str
  path_index: int


def find_sources(root: str | os.PathLike | None = None, log=print) -> list[Source]:
  """Every (layout mask, path) pair of the train tree. Like the original reader it needs only <n>_mask.png,
  <n>_origin.npz and paths.npz (the image may be <n>.png, <ts>_raw.png or absent); a layout image without
  its mask is an error that names the preparation command. Prints what it read and what it skipped, why."""
  out: list[Source] = []
  missing: list[str] = []
  skipped: list[tuple[str, str]] = []
  by_dir: dict[Path, list] = {}
  for f in scan_layouts(root, "train", skipped): by_dir.setdefault(f.instance_dir, []).append(f)
  for idir, files in by_dir.items():
    with_mask = [f for f in files if f.mask is not None]
    missing += [str(idir / f"{f.n}_mask.png") for f in files if f.mask is None]
    if not with_mask: continue
    paths = read_paths(idir)
    if not paths:
      skipped.append((str(idir), "no paths.npz" if not (idir / "paths.npz").exists() else "paths.npz holds no path"))
      continue
    out += [Source(f.layout, str(idir), f.n, i) for f in with_mask for i in range(len(paths))]
  if missing: raise UserError(f"{len(missing)} layout(s) have no line mask yet, e.g. {missing[0]}; "
                              "compute them with `python prepare_vit_data.py --unet <checkpoint>`")
  if log is not None: report_read(f"ViT training layouts under {root or 'data'}/train", len({(s.instance_dir, s.n) for s in out}), skipped, log)
  if not out: raise UserError(f"no (layout mask, path) pairs under {root or 'data'}/train")
  return out


class PackedMask:
  """A 0/1 layout mask kept at one bit per pixel (rows packed along x). Slicing [rows, cols] unpacks only
  that window, so the sample producer can hold thousands of full layouts (a 2700 x 2400 mask: 0.8 MB
  instead of 6.6 MB) and still cut each exploration's view as from the array."""
  def __init__(self, mask: np.ndarray):
    if mask.ndim != 2: raise ValueError(f"mask must be 2-D, got {mask.shape}")
    self.shape = mask.shape
    self.bits = np.packbits(np.asarray(mask) > 0, axis=1)

  def __getitem__(self, idx: tuple[slice, slice]) -> np.ndarray:
    ys, xs = idx
    x0, x1, _ = xs.indices(self.shape[1])
    b0 = x0 // 8
    return np.unpackbits(self.bits[ys, b0:(x1 + 7) // 8], axis=1)[:, x0 - 8 * b0:x1 - 8 * b0]


def crop_to_view(mask: np.ndarray | PackedMask, origin: np.ndarray, path: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The part of the mask the path can reveal (and the origin), with origin and path shifted into it.
  Tokens and cleaning come out identical to the full mask's: tokenize re-anchors its grid at the origin,
  and everything outside the revealed discs is 0 in both."""
  H, W = mask.shape
  y0, x0 = max(0, min(int(path[:, 0].min()) - radius - 1, int(origin[0]))), max(0, min(int(path[:, 1].min()) - radius - 1, int(origin[1])))
  y1, x1 = min(H, max(int(path[:, 0].max()) + radius + 2, int(origin[0]) + 1)), min(W, max(int(path[:, 1].max()) + radius + 2, int(origin[1]) + 1))
  return mask[y0:y1, x0:x1], origin - [y0, x0], path - [y0, x0]


def make_sample(mask: np.ndarray | PackedMask, origin: np.ndarray, path: np.ndarray, rng: np.random.Generator, min_frac: float = 0.05,
                max_drop: float = 0.5, radius: int = FOG_RADIUS, origin_jitter: int = 0, clean: bool = True) -> np.ndarray:
  """Tokens (N,32,32,4) of one random exploration along `path` (a prefix, with points dropped). With
  origin_jitter > 0 the token grid is anchored up to that many px away from the recorded origin: a live
  session starts wherever the player stood when streaming began, and a shifted grid cuts different
  patches, so the model cannot learn one layout image's exact patch contents. clean=False tokenizes the revealed
  mask as it is (the original recipe, which cleaned the whole layout mask once before the fog: EpochSteps)."""
  K = len(path)
  k = int(rng.integers(max(1, int(np.ceil(min_frac * K))), K + 1))
  sub = path[:k]
  if k > 2 and max_drop > 0:  # keep the first point: the player always starts at the entrance
    keep = rng.random(k) >= rng.uniform(0, max_drop)
    keep[0] = True
    sub = sub[keep]
  origin = np.asarray(origin)
  if origin_jitter: origin = np.clip(origin + rng.integers(-origin_jitter, origin_jitter + 1, 2), 0, np.array(mask.shape) - 1)
  m, o, p = crop_to_view(mask, origin, sub, radius)
  seen = explore_map(m, p, radius)
  return mask_tokens(seen, o) if clean else tokenize_mask(seen, o)


def pack(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
  """Compact form for queues and pools: (bit-packed patches, (N,2) int16 row/col, N)."""
  return np.packbits(tokens[..., 0].astype(bool)), tokens[:, 0, 0, 1:3].astype(np.int16), len(tokens)


def unpack(packed: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
  bits, rc, n = packed
  t = np.zeros((n, TILE, TILE, 4), np.int64)
  t[..., 0] = np.unpackbits(bits)[:n * TILE * TILE].reshape(n, TILE, TILE)
  t[..., 1], t[..., 2] = rc[:, 0, None, None], rc[:, 1, None, None]
  t[..., 3] = t[..., 1] ** 2 + t[..., 2] ** 2
  return t


def balanced_labels(classes: list[int], n: int, rng: np.random.Generator) -> list[int]:
  """n labels cycling through the classes in random order, so every class appears n/C times (±1)."""
  out: list[int] = []
  while len(out) < n: out += rng.permutation(classes).tolist()
  return out[:n]


def _producer(sources: list[Source], seed: int, batch: int, q, stop, opts: dict, start: int = 0) -> None:
  """Background process: loads every source once, then puts class-balanced steps of packed samples forever,
  step k drawn from its own generator (seed, k), starting at step `start`."""
  cache: dict[tuple[str, str], tuple[PackedMask, np.ndarray]] = {}
  paths: dict[str, list[np.ndarray]] = {}
  by_class: dict[int, list[Source]] = {}
  for s in sources: by_class.setdefault(s.layout, []).append(s)
  classes = sorted(by_class)
  k = start
  while not stop.is_set():
    rng, k, step = np.random.default_rng([seed, k]), k + 1, []
    for label in balanced_labels(classes, batch, rng):
      s = by_class[label][int(rng.integers(len(by_class[label])))]
      if (s.instance_dir, s.n) not in cache:
        _, origin, mask = read_layout(s.instance_dir, s.n, with_image=False)
        assert mask is not None  # find_sources keeps only layouts with a mask
        cache[(s.instance_dir, s.n)] = (PackedMask(mask), origin)
      if s.instance_dir not in paths: paths[s.instance_dir] = read_paths(s.instance_dir)
      packed, origin = cache[(s.instance_dir, s.n)]
      for _ in range(10):  # an early prefix may reveal no line at all: try another
        t = make_sample(packed, origin, paths[s.instance_dir][s.path_index], rng, **opts)
        if len(t): break
      if len(t): step.append((label, pack(t)))
    while not stop.is_set():
      try:
        q.put(step, timeout=0.5)
        break
      except queue.Full: continue


def round_robin_steps(labels: list[int], batch: int, rng: np.random.Generator) -> list[list[int]]:
  """One epoch of the original recipe: every sample once, each class's samples in a fresh random order,
  dealt out one class after another (classes in a random order each round; a class that has run out
  drops out), cut into steps of `batch` (the last one may be shorter). Returns indices into `labels`."""
  by_class: dict[int, list[int]] = {}
  for i, l in enumerate(labels): by_class.setdefault(int(l), []).append(i)
  queues = {c: list(rng.permutation(ix)) for c, ix in by_class.items()}
  order: list[int] = []
  while queues:
    for c in rng.permutation(sorted(queues)).tolist():
      order.append(int(queues[c].pop(0)))
      if not queues[c]: del queues[c]
  return [order[s:s + batch] for s in range(0, len(order), batch)]


class EpochSteps:
  """The original recipe's samples: each (layout mask, path) source seen along its whole path, computed once (they do
  not change), served as epochs of round-robin class-balanced steps (round_robin_steps), epoch e shuffled by its own
  generator (seed, e). As the original did, the whole layout mask is cleaned once, before the fog (its preparation
  step cleaned the masks it wrote), and the revealed mask is not cleaned again. next() has SampleStream's signature;
  a sample that reveals no line is left out (and counted in .empty). start: the first step (a resumed run)."""
  def __init__(self, sources: list[Source], batch: int, seed: int, radius: int = FOG_RADIUS, start: int = 0):
    self.batch, self.seed, self.fresh = batch, seed, 0
    self.samples, self.labels, self.empty = [], [], 0
    masks: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    rng = np.random.default_rng(seed)  # unused by whole-path samples without jitter, kept for make_sample's signature
    for s in sources:
      if (s.instance_dir, s.n) not in masks:
        _, origin, mask = read_layout(s.instance_dir, s.n, with_image=False)
        assert mask is not None  # find_sources keeps only layouts with a mask
        masks[(s.instance_dir, s.n)] = (clean_sparse_pixels(mask), origin)
      mask, origin = masks[(s.instance_dir, s.n)]
      t = make_sample(mask, origin, read_paths(s.instance_dir)[s.path_index], rng, min_frac=1.0, max_drop=0.0, radius=radius, clean=False)
      if len(t): self.samples.append(pack(t)); self.labels.append(s.layout)
      else: self.empty += 1
    if not self.samples: raise UserError("no source reveals any line along its whole path")
    per_epoch = -(-len(self.samples) // batch)
    self.epoch, skip = divmod(start, per_epoch)
    self._steps: list[list[int]] = self._epoch()[skip:] if skip else []

  def _epoch(self) -> list[list[int]]:
    self.epoch += 1
    return round_robin_steps(self.labels, self.batch, np.random.default_rng([self.seed, self.epoch]))

  def next(self, wait: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    if not self._steps: self._steps = self._epoch()
    ix = self._steps.pop(0)
    self.fresh += 1
    return [unpack(self.samples[i]) for i in ix], np.array([self.labels[i] for i in ix], np.int32)

  def close(self) -> None: pass


class SampleStream:
  """Class-balanced training batches: the producer process's steps in order, or (wait=False) a draw from
  the pool of samples received so far whenever no fresh step is ready, so the trainer never waits."""
  def __init__(self, sources: list[Source], batch: int, seed: int, pool_size: int = 20000, start: int = 0, **opts):
    self.batch, self.pool_size = batch, pool_size
    self.rng = np.random.default_rng(seed + 1)
    self.pool: dict[int, list] = {}
    self.fresh = 0
    ctx = mp.get_context("spawn")  # no fork after tinygrad started: the child only needs numpy/OpenCV
    self.q, self.stop = ctx.Queue(maxsize=8), ctx.Event()
    self.proc = ctx.Process(target=_producer, args=(sources, seed, batch, self.q, self.stop, opts, start), daemon=True)
    self.proc.start()

  def _add(self, step: list) -> None:
    for label, packed in step:
      lst = self.pool.setdefault(label, [])
      if len(lst) < self.pool_size // max(1, len(self.pool)): lst.append(packed)
      else: lst[int(self.rng.integers(len(lst)))] = packed

  def next(self, wait: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    """(tokens list, int32 labels) of one batch. wait=True takes the producer's steps in order (the run is
    then a function of the seed alone); wait=False draws from the pool when no fresh step is ready."""
    try: step = self.q.get() if wait or not self.pool else self.q.get_nowait()
    except queue.Empty: step = None
    if step is not None:
      if not wait: self._add(step)  # the pool only serves the no-wait mode
      self.fresh += 1
      return [unpack(p) for _, p in step], np.array([l for l, _ in step], np.int32)
    labels = balanced_labels(sorted(self.pool), self.batch, self.rng)
    return [unpack(self.pool[l][int(self.rng.integers(len(self.pool[l])))]) for l in labels], np.array(labels, np.int32)

  def close(self) -> None:
    self.stop.set()
    self.proc.join(timeout=5)
    if self.proc.is_alive(): self.proc.terminate()

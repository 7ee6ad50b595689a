"""Replay sessions: what the client would capture while a simulated player explores a layout.

A session holds the captured centre squares in capture order and the ground truth of where the
player moved, so stitching can be tested and the demo can run without the game.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from poemap.fileio import atomic_write_bytes
from poemap.sim.layout import make_layout
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, capture_radius, make_world, render_capture

SESSION_KEYS = ("frames", "positions", "layout_id", "fps", "resolution")


def make_session(layout_id: int, seed: int, n_frames: int = 60, resolution: tuple[int, int] = (3840, 2160), progress: bool = False) -> dict:
  """Render a replay. Keys: frames (T, 2r, 2r, 3) uint8 RGB, r = 600 at 4K scaled by height;
  positions (T, 2) float64 player [y, x] in frame pixels relative to the first frame; layout_id;
  fps; resolution (width, height); seed; layout_positions (T, 2) int64 at 4K minimap scale;
  center [y, x] of the player icon in a frame."""
  resolution = (int(resolution[0]), int(resolution[1]))
  layout = make_layout(layout_id, seed)
  w = walk_full(layout, seed, n_frames)
  world = make_world(layout, seed)
  reveal = Reveal(layout.shape)
  r = capture_radius(resolution)
  frames = np.empty((n_frames, 2 * r, 2 * r, 3), np.uint8)
  it = range(n_frames)
  if progress:
    from tqdm import tqdm
    it = tqdm(it, desc=f"session {layout_id}/{seed}", unit="frame")
  for t in it:
    reveal.visit(w.trails[t])
    frames[t] = render_capture(world, w.positions[t], reveal.mask, t, resolution)
  s = 2 * r / 1200.0
  return {"frames": frames, "positions": (w.positions - w.positions[0]).astype(np.float64) * s, "layout_id": int(layout_id),
          "fps": float(w.fps), "resolution": np.asarray(resolution, np.int64), "seed": int(seed),
          "layout_positions": w.positions, "center": np.array([r, r], np.int64)}


def save_session(path: str | os.PathLike, session: dict, compress: bool = False, overwrite: bool = False) -> Path:
  """One .npz with every session key (np.load works on it directly). Uncompressed by default: a
  60-frame 4K session is ~260 MB but writes in a second; compress=True for files to keep."""
  missing = [k for k in SESSION_KEYS if k not in session]
  if missing: raise ValueError(f"session lacks keys {missing}")
  buf = io.BytesIO()
  (np.savez_compressed if compress else np.savez)(buf, **{k: np.asarray(v) for k, v in session.items()})
  return atomic_write_bytes(path, buf.getvalue(), overwrite)


def load_session(path: str | os.PathLike) -> dict:
  path = Path(path)
  if not path.is_file(): raise FileNotFoundError(f"no such session: {path}")
  with np.load(path, allow_pickle=False) as f:
    missing = [k for k in SESSION_KEYS if k not in f.files]
    if missing: raise ValueError(f"{path}: not a session file, lacks {missing}")
    out = {k: f[k] for k in f.files}
  fr = out["frames"]
  if fr.dtype != np.uint8 or fr.ndim != 4 or fr.shape[3] != 3: raise ValueError(f"{path}: frames must be (T,H,W,3) uint8, got {fr.dtype} {fr.shape}")
  for k in ("layout_id", "seed"):
    if k in out: out[k] = int(out[k])
  out["fps"] = float(out["fps"])
  return out

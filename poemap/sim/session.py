"""Replay sessions: what the client would capture while a simulated player explores a layout.

A session holds the captured centre squares in capture order and the ground truth of where the
player moved, so stitching can be tested and the demo can run without the game.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from poemap.contract import CAPTURE_RADIUS_4K
from poemap.fileio import atomic_write_bytes
from poemap.sim import interrupt
from poemap.sim.classes import N_CLASSES
from poemap.sim.layout import make_layout
from poemap.sim.look import Look
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, capture_radius, crop, make_world, render_capture

SESSION_KEYS = ("frames", "positions", "layout_id", "fps", "resolution")


def make_session(layout_id: int, seed: int, n_frames: int = 60, resolution: tuple[int, int] | None = None, progress: bool = False,
                 look: Look | None = None, interruptions: int = 0, interrupt_kinds: tuple[str, ...] = interrupt.KINDS,
                 lead_in: int = 0, lead_in_kind: str = "loading") -> dict:
  """Render a replay. Keys: frames (T, 2r, 2r, 3) uint8 RGB, r = 600 at 4K scaled by height;
  positions (T, 2) float64 player [y, x] in frame pixels relative to the first frame; layout_id;
  fps; resolution (width, height); seed; layout_positions (T, 2) int64 at 4K minimap scale;
  center [y, x] of the player icon in a frame; kinds (T,) str: '' for a game frame, else the
  interruption shown instead (poemap.sim.interrupt); overlap (T,) int: length in 4K px of the map
  lines frames t-1 and t both show (0 when either is an interruption); look: the Look as JSON.
  `look` (default: the coast's) sets the resolution unless `resolution` is given; `interruptions`
  events of `interrupt_kinds` replace game frames (poemap.sim.interrupt.schedule); the first `lead_in` of
  the n_frames are `lead_in_kind` frames (loading screens, or any interruption kind, e.g. the passive tree opened on
  arrival), the player standing at the entrance (a capture begun when the game's log names the area, before the game
  shows it)."""
  if not 0 <= lead_in < n_frames: raise ValueError(f"lead_in must be in [0, n_frames), got {lead_in}")
  if lead_in_kind not in interrupt.KINDS: raise ValueError(f"lead_in_kind must be one of {', '.join(interrupt.KINDS)}, got {lead_in_kind!r}")
  look = Look() if look is None else look
  resolution = look.resolution if resolution is None else (int(resolution[0]), int(resolution[1]))
  layout = make_layout(layout_id, seed)
  w = walk_full(layout, seed, n_frames)
  world = make_world(layout, seed, look)
  reveal = Reveal(layout.shape, world.fog_axes)
  r = capture_radius(resolution)
  irng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(layout_id), 43])
  rest = n_frames - lead_in
  kinds = [lead_in_kind] * lead_in + (interrupt.schedule(irng, rest, interruptions, tuple(interrupt_kinds)) if interruptions else [""] * rest)
  # frame t shows step idx[t] of the walk: the character stands still while the game can't be
  # played (interrupt.STILL), and walks on behind a panel or with the overlay off
  idx = np.cumsum([0] + [k not in interrupt.STILL and t > lead_in for t, k in enumerate(kinds[1:], 1)])
  other = _other_area(layout_id, seed, look, n_frames) if "other_area" in kinds else None
  frames = np.empty((n_frames, 2 * r, 2 * r, 3), np.uint8)
  overlap = np.zeros(n_frames, np.int64)
  it = range(n_frames)
  if progress:
    from tqdm import tqdm  # deferred: the client replays sessions (stream.capture) and has no tqdm
    it = tqdm(it, desc=f"session {layout_id}/{seed}", unit="frame")
  side4 = 2 * CAPTURE_RADIUS_4K
  for t in it:
    if t and not kinds[t] and not kinds[t - 1]:
      # map lines revealed by t-1 inside both capture squares (4K minimap px), as line length
      (ay, ax), (by, bx) = w.positions[idx[t - 1]] - CAPTURE_RADIUS_4K, w.positions[idx[t]] - CAPTURE_RADIUS_4K
      y0, x0, y1, x1 = max(ay, by), max(ax, bx), min(ay, by) + side4, min(ax, bx) + side4
      if y1 > y0 and x1 > x0:
        vis = crop(world.map_lines, y0, x0, y1 - y0, x1 - x0) & (crop(reveal.mask, y0, x0, y1 - y0, x1 - x0) > 0)
        overlap[t] = int(np.count_nonzero(vis)) // look.line_width
    if t == 0 or idx[t] != idx[t - 1]: reveal.visit(w.trails[idx[t]])
    frames[t] = _frame(kinds[t], world, w.positions[idx[t]], reveal.mask, t, resolution, irng, other, [int(seed) & 0xFFFFFFFF, int(layout_id), 44])
  s = 2 * r / 1200.0
  walked = w.positions[idx]
  return {"frames": frames, "positions": (walked - walked[0]).astype(np.float64) * s, "layout_id": int(layout_id),
          "fps": float(w.fps), "resolution": np.asarray(resolution, np.int64), "seed": int(seed),
          "layout_positions": walked, "center": np.array([r, r], np.int64), "kinds": np.array(kinds, dtype="<U16"),
          "overlap": overlap, "look": json.dumps(look.to_dict())}


def _other_area(layout_id: int, seed: int, look: Look, n_frames: int) -> tuple:
  """Another area in the same look: another class and instance, walked part of the way."""
  lay = make_layout((layout_id + 4) % N_CLASSES, seed + 7919)
  walk = walk_full(lay, seed + 7919, n_frames)
  rev = Reveal(lay.shape, make_world(lay, seed + 7919, look).fog_axes)
  for tr in walk.trails[:n_frames // 2]: rev.visit(tr)
  return make_world(lay, seed + 7919, look), walk.positions[n_frames // 2], rev.mask


def _frame(kind: str, world, player, reveal: np.ndarray, t: int, resolution: tuple[int, int], rng: np.random.Generator, other,
           tree_seed: list[int]) -> np.ndarray:
  r = capture_radius(resolution)
  if kind == "": return render_capture(world, player, reveal, t, resolution)
  if kind == "desktop": return interrupt.desktop(2 * r, rng)
  if kind == "loading": return interrupt.loading(2 * r, rng)
  # the tree stays as it is drawn while it is open (and when opened again): one per session
  if kind == "tree": return interrupt.passive_tree(2 * r, np.random.default_rng(tree_seed))
  if kind == "overlay_off": return render_capture(world, player, np.zeros_like(reveal), t, resolution)
  if kind == "other_area": return render_capture(other[0], other[1], other[2], t, resolution)
  game = render_capture(world, player, reveal, t, resolution)
  if kind == "panel": return interrupt.panel(game, rng)
  if kind == "death": return interrupt.death(game, rng)
  raise ValueError(f"unknown interruption kind {kind!r}")


def parse_seeds(s: str) -> list[int]:
  """Seeds for a batch of sessions from the command line: '5000-5041' or '5,7,9-12'."""
  out: list[int] = []
  for part in s.split(","):
    a, _, b = part.partition("-")
    try: out.extend(range(int(a), int(b) + 1) if b else [int(a)])
    except ValueError: raise ValueError(f"seeds must look like 5000-5041 or 5,7,9-12, got {s!r}") from None
  return out


def save_session(path: str | os.PathLike, session: dict, compress: bool = False, overwrite: bool = False) -> Path:
  """One .npz with every session key (np.load works on it directly). Uncompressed by default: a
  60-frame 4K session is ~260 MB but writes in a second; compress=True for files to keep."""
  missing = [k for k in SESSION_KEYS if k not in session]
  if missing: raise ValueError(f"session lacks keys {missing}")
  buf = io.BytesIO()
  arrays: dict[str, Any] = {k: np.asarray(v) for k, v in session.items()}
  (np.savez_compressed if compress else np.savez)(buf, **arrays)
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
  if "look" in out: out["look"] = str(out["look"])
  out["fps"] = float(out["fps"])
  return out

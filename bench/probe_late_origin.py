"""What the ViT says when the canvas began late: its tokens anchored where the player stood, not at the entrance.

A canvas that begins after the entrance (MinimapCanvas.began_late: faint lines there, a passive tree opened on arrival)
has its origin where its first frame lay, and holds only what the captures since then showed. The ViT was trained on
masks anchored at the entrance (origin jitter 16 px). For every seed and class: an instance, a walk, and at every frame
the revealed map lines at 1/2 scale (what a perfect UNet gives: poemap.sim.layout.half_scale) inside the capture
squares of the frames since `start`, anchored at the player's position at `start` (start 0: the entrance, as always).
Per start: how often the top class is right, how often it is wrong at p >= the overlay's threshold (confidently wrong),
and the overlay's GuideSelector replayed over each walk: the share of frames it shows a guide, and shows a wrong one, as
it is and with stricter numbers (--strict-threshold, --strict-k). This is why a late canvas gets no guide
(GuideSelector(late=True)): see docs/MODELS.md, "A canvas begun past the entrance".

  .venv/bin/python bench/probe_late_origin.py --seeds 40000-40001 --starts 0,1,2,4 --strict-threshold 0.95 --strict-k 5
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.checkpoint import load_vit  # noqa: E402
from models.tiled import ViTRunner  # noqa: E402
from poemap.contract import CAPTURE_RADIUS_4K  # noqa: E402
from poemap.sim.classes import N_CLASSES  # noqa: E402
from poemap.sim.layout import half_scale, make_layout  # noqa: E402
from poemap.sim.player import walk_full  # noqa: E402
from poemap.sim.render import Reveal  # noqa: E402
from poemap.sim.session import parse_seeds  # noqa: E402
from poemap.tokens import mask_tokens  # noqa: E402
from stream.overlay import STABLE_FLOOR, GuideSelector  # noqa: E402


def walk_tokens(l: int, seed: int, n_frames: int, start: int, max_tokens: int) -> list[np.ndarray | None]:
  """Per frame t >= start: the tokens of the lines a canvas begun at frame `start` holds (None: no line yet)."""
  lay = make_layout(l, seed)
  w = walk_full(lay, seed, n_frames)
  rev, seen = Reveal(lay.shape), np.zeros(lay.shape, bool)
  r = CAPTURE_RADIUS_4K
  out: list[np.ndarray | None] = []
  for t in range(n_frames):
    rev.visit(w.trails[t])
    if t < start: continue
    y, x = w.positions[t]
    seen[max(0, y - r):y + r, max(0, x - r):x + r] = True
    m = lay.lines & (rev.mask > 0) & seen
    ys, xs = np.nonzero(m[::4, ::4])
    if not len(ys): out.append(None); continue
    # the box of lines held, whole 2x2 blocks, with the origin inside it
    oy, ox = w.positions[start]
    y0, x0 = max(0, min(ys.min() * 4, oy) - 16) // 2 * 2, max(0, min(xs.min() * 4, ox) - 16) // 2 * 2
    y1, x1 = max(ys.max() * 4, oy) + 16, max(xs.max() * 4, ox) + 16
    mask = half_scale(m[y0:y1, x0:x1])
    origin = [(oy - y0) // 2, (ox - x0) // 2]
    tok = mask_tokens(mask.astype(np.uint8), origin, max_tokens)
    out.append(tok if len(tok) else None)
  return out


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("40000-40004"))
  ap.add_argument("--starts", default="0,3,6", help="frames after the entrance at which the canvas begins")
  ap.add_argument("--frames", type=int, default=40)
  ap.add_argument("--vit", default="ViT_synth")
  ap.add_argument("--threshold", type=float, default=0.8, help="the overlay's confidence threshold")
  ap.add_argument("--k", type=int, default=3, help="the overlay's results in a row")
  ap.add_argument("--floor", type=float, default=STABLE_FLOOR, help="the least p of each of those results (0: any)")
  ap.add_argument("--strict-threshold", type=float, default=0.95, help="a stricter selector's threshold")
  ap.add_argument("--strict-k", type=int, default=5, help="a stricter selector's results in a row")
  a = ap.parse_args()
  starts = [int(s) for s in a.starts.split(",")]
  st, sk = a.strict_threshold, a.strict_k
  vit = load_vit(a.vit)
  runner = ViTRunner(vit, batch=32)
  t0 = time.time()
  print(f"{len(a.seeds)} seeds x {N_CLASSES} classes, {a.frames} frames, ViT {a.vit}; a guide shown: threshold {a.threshold}, k {a.k} "
        f"at p >= {a.floor}; "
        f"strict: threshold {st}, k {sk}")
  print(f"{'start':>5s} {'n':>5s} {'top right':>9s} {'conf. wrong':>11s}   {'selector: shown':>15s} {'wrong':>6s}   "
        f"{'strict: shown':>13s} {'wrong':>6s}")
  for start in starts:
    n = right = conf_wrong = 0
    shown = {False: [0, 0], True: [0, 0]}  # strict -> [frames shown, frames shown wrong]
    for seed in tqdm(a.seeds, desc=f"start {start}", leave=False):
      for l in range(N_CLASSES):
        toks = walk_tokens(l, seed, a.frames, start, vit.max_tokens)
        have = [t for t in toks if t is not None]
        probs = iter(runner.probs(have)) if have else iter(())
        sels = {False: GuideSelector(a.k, a.threshold, floor=a.floor), True: GuideSelector(sk, st, floor=a.floor)}
        for tok in toks:
          p = next(probs) if tok is not None else None
          if p is not None:
            top = int(np.argmax(p))
            n, right, conf_wrong = n + 1, right + (top == l), conf_wrong + (top != l and p[top] >= a.threshold)
          for s, sel in sels.items():
            got = sel.update("ok", int(np.argmax(p)), p.tolist()) if p is not None else sel.update("no_features")
            shown[s][0] += got is not None
            shown[s][1] += got is not None and got != l
    frames = len(a.seeds) * N_CLASSES * (a.frames - start)
    cell = lambda s: f"{shown[s][0] / frames:15.1%} {shown[s][1] / frames:6.1%}"
    print(f"{start:5d} {n:5d} {right / max(1, n):9.1%} {conf_wrong / max(1, n):11.1%}   {cell(False)}   {cell(True)[2:]}")
  print(f"({time.time() - t0:.0f} s; shares of the frames from the canvas's start)")


if __name__ == "__main__":
  main()

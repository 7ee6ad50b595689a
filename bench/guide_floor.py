"""How well can any causal "you are here" do on the synthetic Coast? An oracle's error against the truth.

The truth (poemap.sim.guides.guide_truth) maps each corridor node to node at equal arc-length
fractions. Midway along a corridor the fraction depends on the instance's corridor length, which no
revealed line shows until its far end is in view. The oracle knows the corridor the player is on,
the node it was entered at and the player's exact arc length from it, and is exact across the corridor;
it places the player at that arc length times the instance's size relative to the guide's on the
guide's corridor. Its error is then (fraction walked) x |the two corridors' length difference|.
`--sees-ahead PX` lets it also snap to the node ahead once that node is nearer than PX (4K px).

  .venv/bin/python bench/guide_floor.py --seeds 100-105 [--sees-ahead 300]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poemap.sim.classes import N_CLASSES  # noqa: E402
from poemap.sim.guides import GUIDE_SEED  # noqa: E402
from poemap.sim.layout import make_layout  # noqa: E402
from poemap.sim.player import walk_full  # noqa: E402
from poemap.sim.session import parse_seeds  # noqa: E402


def locate(lay, p: np.ndarray) -> tuple[tuple[str, str], float]:
  """The nearest corridor centre line to p and the arc-length fraction along it."""
  best = None
  for e, pl in lay.polylines.items():
    a, v = pl[:-1], np.diff(pl, axis=0)
    L = np.maximum((v ** 2).sum(1), 1e-9)
    t = np.clip(((p - a) * v).sum(1) / L, 0, 1)
    d = np.hypot(*(p - a - t[:, None] * v).T)
    i = int(np.argmin(d))
    if best is None or d[i] < best[0]:
      seg = np.sqrt(L)
      best = (d[i], e, float((seg[:i].sum() + t[i] * seg[i]) / seg.sum()))
  assert best is not None, "a layout has corridors"
  return best[1], best[2]


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("100-105"))
  ap.add_argument("--frames", type=int, default=60)
  ap.add_argument("--every", type=int, default=3)
  ap.add_argument("--sees-ahead", type=float, default=0.0, help="4K px: the node ahead is known this near")
  a = ap.parse_args()
  err = []
  for l in range(N_CLASSES):
    g = make_layout(l, GUIDE_SEED)
    for sd in a.seeds:
      lay = make_layout(l, sd)
      w, r = walk_full(lay, sd, a.frames), g.unit / lay.unit
      cur, frm = None, 0
      for t in range(a.frames):
        for q in list(w.trails[t][::2]) + [w.positions[t]]:  # the node a corridor was entered at: where the walk came onto it
          e, s = locate(lay, np.asarray(q, np.float64))
          if e != cur: cur, frm = e, int(s >= 0.5)
        if t % a.every: continue
        Li = np.hypot(*np.diff(lay.polylines[e], axis=0).T).sum() * r
        Lg = np.hypot(*np.diff(g.polylines[e], axis=0).T).sum()
        walked = s if frm == 0 else 1 - s
        err.append(0.0 if (1 - walked) * Li / r < a.sees_ahead else walked * abs(Li - Lg) / 2)  # 4K px of the guide's instance -> 1/2 scale
  E = np.array(err)
  print(f"{len(E)} placements; oracle error at 1/2 scale: median {np.median(E):.1f} px, p75 {np.percentile(E, 75):.1f}, "
        f"p90 {np.percentile(E, 90):.1f}, p95 {np.percentile(E, 95):.1f} px")


if __name__ == "__main__": main()

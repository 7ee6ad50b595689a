"""Stitching accuracy on synthetic Coast sessions: MinimapCanvas over seeded 60-frame 4K replays of
every class, final position against ground truth. Prints per session and the share within 2 px.

  .venv/bin/python bench/eval_stitch.py [--sessions 20] [--frames 60] [--seed 0]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poemap.sim.session import make_session  # noqa: E402
from poemap.stitch import MinimapCanvas  # noqa: E402


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--sessions", type=int, default=20)
  ap.add_argument("--frames", type=int, default=60)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--tolerance", type=float, default=2.0)
  a = ap.parse_args()
  errs, t_make, t_stitch = [], [], []
  for i in range(a.sessions):
    layout_id, seed = i % 9, a.seed + i // 9
    t0 = time.perf_counter()
    s = make_session(layout_id, seed, a.frames)
    t1 = time.perf_counter()
    c = MinimapCanvas(s["frames"][0])
    for f in s["frames"][1:]: c.add(f)
    t2 = time.perf_counter()
    err = float(np.abs((c.position - c.origin) - s["positions"][-1]).max())
    errs.append(err); t_make.append(t1 - t0); t_stitch.append((t2 - t1) / max(1, a.frames - 1))
    print(f"session {i:2d} layout {layout_id} seed {seed}: final error {err:8.2f} px, skipped {c.skipped:2d}, "
          f"farthest {np.abs(s['positions']).max():6.0f} px, render {t1 - t0:5.1f} s", flush=True)
  ok = sum(e <= a.tolerance for e in errs)
  print(f"\n{ok}/{len(errs)} sessions ({100 * ok / len(errs):.0f} %) within {a.tolerance} px; median error {np.median(errs):.2f} px")
  print(f"median session render {np.median(t_make):.1f} s for {a.frames} frames; median stitch {1000 * np.median(t_stitch):.0f} ms/frame")
  return 0


if __name__ == "__main__":
  sys.exit(main())

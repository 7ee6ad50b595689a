"""Medians of the numpy core's hot paths (not a test): `python bench/bench_core.py [--repeat N]`."""
import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poemap.stitch import MinimapCanvas, find_translation  # noqa: E402
from poemap.tokens import clean_sparse_pixels, position_embedding, tokenize_mask  # noqa: E402
from training.vitdata import PackedMask, make_sample  # noqa: E402


def median_ms(fn, repeat: int) -> float:
  fn()  # warm caches (window, allocations)
  ts = []
  for _ in range(repeat):
    t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
  return 1000 * float(np.median(ts))


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--repeat", type=int, default=20)
  args = ap.parse_args()
  rng = np.random.default_rng(0)
  world = rng.integers(0, 50, (3600, 3600, 3)).astype(np.uint8)
  for _ in range(2200):
    x, y = rng.integers(0, 3600, 2)
    cv2.line(world, (int(x), int(y)), (int(x + rng.integers(-200, 200)), int(y + rng.integers(-200, 200))), (130, 70, 220), 4)
  a, b = world[900:2100, 900:2100].copy(), world[960:2160, 830:2030].copy()
  print(f"find_translation, 1200x1200 pair:          {median_ms(lambda: find_translation(a, b), args.repeat):7.1f} ms median (target < 30)")

  frames = [world[900 + 30 * i:2100 + 30 * i, 900 + 20 * i:2100 + 20 * i].copy() for i in range(min(args.repeat, 50) + 1)]
  canvas = MinimapCanvas(frames[0])
  ts = []
  for f in frames[1:]:
    t = time.perf_counter(); ok = canvas.add(f); ts.append(time.perf_counter() - t)
    assert ok
  print(f"MinimapCanvas.add, 1200x1200 frame:        {1000 * np.median(ts):7.1f} ms median")

  mask = (rng.random((1500, 1500)) < 0.2).astype(np.uint8)
  def tok(): position_embedding(tokenize_mask(mask, (700, 760)))
  print(f"tokenize_mask + position_embedding, 1500^2 @20%: {median_ms(tok, args.repeat):5.1f} ms median (target < 50)")
  print(f"clean_sparse_pixels, 1500^2:               {median_ms(lambda: clean_sparse_pixels(mask), args.repeat):7.1f} ms median")

  # one ViT training sample from a full layout mask (the size the sim writes), kept as an array or bit-packed
  layout = np.zeros((2712, 2436), np.uint8)
  for _ in range(300):
    x, y = rng.integers(0, 2436), rng.integers(0, 2712)
    cv2.line(layout, (int(x), int(y)), (int(x + rng.integers(-150, 150)), int(y + rng.integers(-150, 150))), 1, 3)
  path = np.clip(np.cumsum(rng.integers(-6, 7, (1200, 2)), axis=0) + [1356, 1218], 0, [2711, 2435])
  packed = PackedMask(layout)
  for name, m in (("array", layout), ("bit-packed", packed)):
    r = np.random.default_rng(0)
    t = median_ms(lambda: make_sample(m, path[0], path, r, origin_jitter=16), args.repeat)
    held = m.nbytes if isinstance(m, np.ndarray) else m.bits.nbytes
    print(f"make_sample from a 2712x2436 mask, {name:10s} {t:7.1f} ms median, {held / 2**20:4.1f} MiB held per layout")


if __name__ == "__main__":
  main()

"""Per-tile UNet cost (published AttentionUNet with random weights, and the small configs) and ViT
latency per sample (the published ViT6_219_15 and the bundled ViT_synth architectures), through the same
TinyJit paths the server uses. Prints medians. tinygrad settings come from the environment: BEAM=2 times
searched kernels (the first run searches, minutes; later ones read tinygrad's cache), DEV=CUDA another device.

  python bench/bench_models.py [--configs published,small,tiny] [--batch 64] [--reps 5] [--vit-batch 1] [--vits published,bundled]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tinygrad import Device  # noqa: E402
from tinygrad.helpers import BEAM
from tinygrad.nn.state import get_parameters  # noqa: E402

from models import UNET_CONFIGS, TiledUNet, ViT, ViTRunner, build_unet  # noqa: E402
from poemap.tokens import tokenize_mask  # noqa: E402


def median_time(fn, reps: int, warmup: int = 3) -> float:
  for _ in range(warmup): fn()  # TinyJit: plain run, capture, then replays
  ts = []
  for _ in range(reps):
    st = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - st)
  return statistics.median(ts)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--configs", default=",".join(UNET_CONFIGS), help="UNet configs to time, comma-separated")
  ap.add_argument("--batch", type=int, default=64, help="tiles per UNet batch")
  ap.add_argument("--reps", type=int, default=5)
  ap.add_argument("--vit-batch", type=int, default=1)
  ap.add_argument("--vits", default="published,bundled", help="ViT architectures to time ('' for none)")
  args = ap.parse_args()
  rng = np.random.default_rng(0)
  print(f"device {Device.DEFAULT}, BEAM={BEAM.value}; UNet batch {args.batch} tiles; medians of {args.reps}")
  # one full batch of tiles: an image of exactly `batch` tiles in one row
  img = rng.integers(0, 256, (32, 32 * args.batch, 3), dtype=np.uint8)
  per_tile = {}
  for name in args.configs.split(","):
    model = build_unet(name)
    tiled = TiledUNet(model, batch=args.batch)
    t = median_time(lambda: tiled.mask(img), args.reps)
    per_tile[name] = t / args.batch
    n_params = sum(int(v.numel()) for v in get_parameters(model))
    print(f"unet {name:10s} {n_params:>9,d} params  {per_tile[name] * 1e3:8.3f} ms/tile  ({t * 1e3:.1f} ms/batch)")
  if "published" in per_tile:
    for name, t in per_tile.items():
      if name != "published": print(f"  {name}: {per_tile['published'] / t:.1f}x cheaper per tile than published")
  # the bundled ViT_synth's architecture (docs/MODELS.md); ViT() is the published one's
  archs = {"published": {}, "bundled": dict(layers=3, embed_dim=64, num_heads=2, ff_dim=128)}
  for name in [v for v in args.vits.split(",") if v]:
    runner = ViTRunner(ViT(**archs[name]), batch=args.vit_batch)
    for n_tok in (20, 128, 300):  # few, exactly max, truncated: one kernel set serves all
      mask = (rng.random((32 * 24, 32 * 24)) < 0.02).astype(np.uint8)
      toks = tokenize_mask(mask, (32 * 12, 32 * 12))[:n_tok]
      samples = [toks] * args.vit_batch
      t = median_time(lambda: runner.probs(samples), args.reps)
      print(f"vit {name:9s} {len(toks):4d} tokens, batch {args.vit_batch}: {t / args.vit_batch * 1e3:8.2f} ms/sample")


if __name__ == "__main__":
  main()

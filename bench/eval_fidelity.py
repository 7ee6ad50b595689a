"""How far fixed-statistics incremental inference drifts from the published input path's exact form.

The published UNet was only ever fed the original's input: each minimap INTER_CUBIC-shrunk, zero-padded to
whole 32 px tiles and normalised by that padded minimap's own statistics, recomputed on every request
(poemap/fidelity.py). With per-request statistics the input of every tile changes whenever the minimap
grows, so incremental inference is exact only when it recomputes every revealed tile (stream.session,
per_request=True: only the black tiles share one pass). This replays synthetic sessions through the
real client path (MinimapCanvas + cubic shrink) and, per frame, compares
  exact: per-request statistics of the padded minimap (what the server runs on the published path), with
  fixed: the statistics of the session's first padded minimap, tiles reused while unchanged (the bundled
          path's trick applied to the published input),
by the line mask F1 of fixed against exact (raw UNet mask and after sparse-pixel cleaning), the agreement
of the ViT's layout, and the tiles each computed. Use a UNet trained the original way:

  python train_unet.py --recipe published --data out/fid_train --config small --batch 64 --lr 2e-3 --steps 300 --save-every 100 \\
    --out out/fid_unet.safetensors
  python bench/eval_fidelity.py --unet out/fid_unet_300.safetensors --sessions 4 --frames 30
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.checkpoint import load_tiled_unet, load_vit  # noqa: E402
from models.tiled import TiledUNet, ViTRunner
from poemap.fidelity import PUBLISHED, shrink_cubic_with_origin  # noqa: E402
from poemap.sim.session import make_session  # noqa: E402
from poemap.stitch import MinimapCanvas  # noqa: E402
from poemap.tokens import clean_sparse_pixels, tokenize_mask  # noqa: E402
from stream.session import alignment, update_mask  # noqa: E402


def f1(pred: np.ndarray, ref: np.ndarray) -> float:
  tp, n = int((pred & ref).sum()), int(pred.sum() + ref.sum())
  return 1.0 if n == 0 else 2 * tp / n


def layout(vit: ViTRunner, mask: np.ndarray, origin: np.ndarray) -> int | None:
  t = tokenize_mask(mask, origin)
  return int(vit.probs([t])[0].argmax()) if len(t) else None


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--unet", required=True, help="UNet checkpoint (it is run on the published input path whatever it was made for)")
  ap.add_argument("--vit", default="ViT_synth", help="ViT checkpoint for the layout agreement (default %(default)s)")
  ap.add_argument("--sessions", type=int, default=4, help="synthetic sessions, layouts 0, 2, 4, ... (default %(default)s)")
  ap.add_argument("--frames", type=int, default=30, help="frames per session (default %(default)s)")
  ap.add_argument("--seed", type=int, default=9300, help="first session seed (default %(default)s; the demo's replays use 9100-9108)")
  ap.add_argument("--json", metavar="FILE", help="also write the per-frame records here")
  a = ap.parse_args()
  tiled = load_tiled_unet(a.unet, batch=32)
  tiled = TiledUNet(tiled.model, batch=32, input_path=PUBLISHED)
  vit = ViTRunner(load_vit(a.vit), batch=1)
  recs: list[dict[str, Any]] = []
  for k in range(a.sessions):
    lid, seed = (2 * k) % 9, a.seed + k
    t0 = time.perf_counter()
    frames = make_session(lid, seed, a.frames)["frames"]
    canvas, exact, fixed = None, None, None
    for i, fr in enumerate(frames):
      if canvas is None: canvas = MinimapCanvas(fr)
      elif not canvas.add(fr): continue
      mm, o = shrink_cubic_with_origin(canvas.image, canvas.origin)
      if fixed is not None and alignment(fixed, mm, o) is None: fixed = None  # the server starts afresh then too
      exact, ne = update_mask(tiled, exact, mm, o, per_request=True)
      fixed, nf = update_mask(tiled, fixed, mm, o, stats=tiled.stats(mm) if fixed is None else None)
      ce, cf = clean_sparse_pixels(exact.mask), clean_sparse_pixels(fixed.mask)
      le, lf = layout(vit, ce, o), layout(vit, cf, o)
      recs.append(dict(session=k, layout=lid, frame=i, tiles=int(np.prod([-(-s // 32) for s in mm.shape[:2]])), tiles_exact=ne, tiles_fixed=nf,
                       f1_raw=f1(fixed.mask > 0, exact.mask > 0), f1_clean=f1(cf > 0, ce > 0), layout_exact=le, layout_fixed=lf,
                       mean_drift=float(np.abs(fixed.stats[0] - exact.stats[0]).max()),
                       std_drift=float(np.abs(fixed.stats[1] - exact.stats[1]).max())))
    r = [x for x in recs if x["session"] == k]
    print(f"session {k} (layout {lid}, seed {seed}): {len(r)} frames in {time.perf_counter() - t0:.0f} s; "
          f"F1 raw min {min(x['f1_raw'] for x in r):.4f}, "
          f"clean min {min(x['f1_clean'] for x in r):.4f}; layout agrees {sum(x['layout_exact'] == x['layout_fixed'] for x in r)}/{len(r)}; "
          f"tiles exact {sum(x['tiles_exact'] for x in r)} vs fixed {sum(x['tiles_fixed'] for x in r)}", flush=True)
  q = lambda key: np.percentile([x[key] for x in recs], [0, 5, 50]).round(4).tolist()
  print(f"\n{len(recs)} frames over {a.sessions} sessions")
  print(f"mask F1 fixed vs exact, raw: min / p5 / median {q('f1_raw')}; cleaned: {q('f1_clean')}")
  print(f"layout agreement: {sum(x['layout_exact'] == x['layout_fixed'] for x in recs)}/{len(recs)} frames")
  print(f"statistics drift (max over channels): mean up to {max(x['mean_drift'] for x in recs):.2f}, "
        f"std up to {max(x['std_drift'] for x in recs):.2f} (0-255 units)")
  print(f"UNet tiles computed: exact {sum(x['tiles_exact'] for x in recs)}, fixed incremental {sum(x['tiles_fixed'] for x in recs)}, "
        f"of {sum(x['tiles'] for x in recs)} tiles in all minimaps")
  if a.json: Path(a.json).write_text(json.dumps(recs, indent=1))


if __name__ == "__main__": main()

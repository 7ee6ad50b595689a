"""Probe: the UNet's line F1 on the canvas as the client keeps it (`image`) and on its darkest views (`dark`).

Replays sim sessions (one family's named look per run of seeds, no interruptions) through MinimapCanvas(darkest=True)
as the client does, shrinks both canvases to ½ scale as the client would send them, and scores a UNet's whole-canvas
mask against the sim's truth (bench_server.truth: the map lines the fog has revealed by then, placed by the walk's
first position, so the stitcher's error costs both alike) at frames 19 and the last. Statistics are the first
minimap's, as the server's bundled path fixes them. "kept": sessions whose canvas placed at least half the frames;
where it lost the player, the truth no longer lies under the canvas and both streams score low.

  .venv/bin/python bench/probe_dark_canvas.py --unet UNet_synth_halo --families spells,multicolour --seeds 14000-14003
  .venv/bin/python bench/probe_dark_canvas.py --unet UNet_synth_halo --compare-unet out/UNet_dark.safetensors --seeds 14100-14105
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import truth  # noqa: E402
from models.checkpoint import load_tiled_unet  # noqa: E402
from poemap.colorfilter import confusion, scores  # noqa: E402
from poemap.fidelity import channel_stats  # noqa: E402
from poemap.sim.look import FAMILIES, named_look  # noqa: E402
from poemap.sim.session import make_session, parse_seeds  # noqa: E402
from poemap.stitch import MinimapCanvas, shrink_with_origin  # noqa: E402

STREAMS = ("image", "dark")


def replay(session: dict, evals: list[int]) -> tuple[dict[str, dict[int, tuple[np.ndarray, np.ndarray]]], list, int]:
  """Per stream the ½-scale (minimap, origin) at each eval frame; a (shape, origin) stand-in per frame for truth();
  how many frames the canvas placed."""
  frames = session["frames"]
  canvas = MinimapCanvas(frames[0], darkest=True)
  out: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {k: {} for k in STREAMS}
  shapes, placed = [], 1
  for t, f in enumerate(frames):
    if t: placed += bool(canvas.add(f))
    img, origin = shrink_with_origin(canvas.image, canvas.origin)
    shapes.append((np.broadcast_to(np.zeros((1, 1, 1), np.uint8), img.shape), origin))
    if t in evals:
      assert canvas.dark is not None
      out["image"][t] = (img, origin)
      out["dark"][t] = (shrink_with_origin(canvas.dark, canvas.origin)[0], origin)
  return out, shapes, placed


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--families", default=",".join(FAMILIES))
  ap.add_argument("--seeds", default="14000-14003", help="a-b (inclusive) or a,b,c")
  ap.add_argument("--frames", type=int, default=40)
  ap.add_argument("--unet", default="UNet_synth_halo", help="model name under data/model or a path")
  ap.add_argument("--compare-unet", default=None, help="a second UNet scored on the same canvases")
  a = ap.parse_args(argv)
  nets = {n: load_tiled_unet(n, batch=64).mask for n in [a.unet] + ([a.compare_unet] if a.compare_unet else [])}
  evals = sorted({min(19, a.frames - 1), a.frames - 1})
  tot: defaultdict[tuple, np.ndarray] = defaultdict(lambda: np.zeros(3, np.int64))
  jobs = [(fam, seed) for fam in a.families.split(",") for seed in parse_seeds(a.seeds)]
  for fam, seed in tqdm(jobs, desc="sessions"):
    s = make_session(seed % 8, seed, a.frames, look=named_look(fam, seed))
    maps, shapes, placed = replay(s, evals)
    gts = truth(s, shapes)
    stats = channel_stats(maps["image"][evals[0]][0])
    kept = "kept" if placed >= a.frames // 2 else "lost"
    cells = []
    for net, mask in nets.items():
      for k in STREAMS:
        c = np.sum([confusion(mask(maps[k][t][0], stats), gts[t]) for t in evals], 0)
        for key in ((fam, net, k), (fam, net, k, kept), ("all", net, k), ("all", net, k, kept)): tot[key] += c
        cells.append(f"{Path(net).stem}:{k} {scores(*c)['f1']:.3f}")
    tqdm.write(f"{fam} {seed}: placed {placed}/{a.frames} " + " ".join(cells))
  print(f"\nline F1 on the whole ½-scale canvas at frames {evals} (pooled pixels; kept sessions in brackets)\n")
  cols = [(net, k) for net in nets for k in STREAMS]
  print("| family | " + " | ".join(f"{Path(n).stem} {k}" for n, k in cols) + " |\n| --- |" + " --- |" * len(cols))
  for fam in a.families.split(",") + ["all"]:
    row = [f"{scores(*tot[(fam, n, k)])['f1']:.3f} ({scores(*tot[(fam, n, k, 'kept')])['f1']:.3f})" for n, k in cols]
    print(f"| {fam} | " + " | ".join(row) + " |")
  return 0


if __name__ == "__main__":
  sys.exit(main())

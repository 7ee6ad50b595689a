"""Probe: what the UNet's line F1 would be if the canvas kept, per pixel, the darkest of its last views.

Map lines are the one thing fixed in canvas coordinates; spell strokes, fires and the world's texture move from view to
view, and all of them add light over the ground. A per-pixel minimum over k views of the same minimap region therefore
keeps the lines and drops most of what looks like them. The sim's UNet groups are exactly such views: one region of
revealed minimap rendered over several stretches of world, sharing one line mask. Per look family, this scores a UNet
(as it is, not trained on such images) on single crops, on the minimum of k consecutive crops of a group, and on the
median of three. The product's counterpart is MinimapCanvas(darkest=True), the darkest of all views since the fog
lifted (bench/probe_dark_canvas.py scores a UNet on it).

  .venv/bin/python bench/probe_min_views.py --data out/synth_looks31 --unet UNet_synth_halo
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models.checkpoint import load_tiled_unet  # noqa: E402
from poemap.colorfilter import confusion, scores  # noqa: E402
from poemap.datadir import read_group_families, read_unet_groups  # noqa: E402
from poemap.fileio import load_npz_data  # noqa: E402
from training.unetdata import darkest_of  # noqa: E402


def views(crops: list[np.ndarray], k: int) -> dict[str, list[np.ndarray]]:
  """The images scored per group: each crop, the minimum of each k consecutive crops, the median of each three."""
  return {"single": crops, f"min of {k}": darkest_of(crops, k),
          "median of 3": [np.median(np.stack(crops[i:i + 3]), 0).astype(np.uint8) for i in range(len(crops) - 2)]}


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--data", required=True, help="a sim data directory with UNet groups rendered in looks (--look random)")
  ap.add_argument("--unet", default="UNet_synth_halo", help="model name under data/model or a path")
  ap.add_argument("--k", type=int, default=2, help="views in the minimum")
  a = ap.parse_args(argv)
  mask = load_tiled_unet(a.unet, batch=64).mask
  family = read_group_families(a.data)
  counts: dict[tuple[str, str], list[int]] = {}
  for name, crop_paths, mask_path in tqdm(read_unet_groups(a.data), desc="groups"):
    truth = load_npz_data(mask_path)
    for kind, images in views([load_npz_data(p) for p in crop_paths], a.k).items():
      for im in images:
        for key in ((family.get(name, "?"), kind), ("all", kind)):
          c = counts.setdefault(key, [0, 0, 0])
          for i, v in enumerate(confusion(mask(im), truth)): c[i] += v
  kinds = ["single", f"min of {a.k}", "median of 3"]
  print(f"\nline F1 of {a.unet} on {a.data} (pooled pixels, argmax; precision / recall in brackets)\n")
  print("| family | " + " | ".join(kinds) + " |\n| --- |" + " --- |" * len(kinds))
  for fam in sorted({f for f, _ in counts} - {"all"}) + ["all"]:
    cells = []
    for kind in kinds:
      s = scores(*counts.get((fam, kind), [0, 0, 0]))
      cells.append(f"{s['f1']:.3f} ({s['precision']:.2f} / {s['recall']:.2f})")
    print(f"| {fam} | " + " | ".join(cells) + " |")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())

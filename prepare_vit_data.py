"""Compute the line mask <n>_mask.png of every full layout <n>.png (or <ts>_raw.png) in <data>/train with a trained UNet:
the preparation step of the published pipeline (the ViT trains on the masks the UNet really produces).

Each layout is run through the UNet on 32 px tiles with its own channel statistics, exactly as the
server does. The mask is written as the UNet gives it: a training sample cleans sparse pixels once, after
the fog, as the server does on a live mask (poemap.tokens.mask_tokens). Masks are written atomically;
existing masks are left alone unless --overwrite.

  python prepare_vit_data.py --unet UNet_synth
  python prepare_vit_data.py --data out/synth --unet data/model/UNet_synth.safetensors --overwrite
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from models.checkpoint import load_tiled_unet
from poemap.datadir import report_read, scan_layouts, write_layout_mask
from poemap.fileio import load_png
from poemap.usererror import UserError, run_main


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", default=None, help="data root (default: $POEMAP_DATA or <repo>/data)")
  p.add_argument("--unet", default="UNet_synth", help="UNet checkpoint path or name under <data>/model/ (default %(default)s)")
  p.add_argument("--overwrite", action="store_true", help="recompute masks that already exist")
  p.add_argument("--batch", type=int, default=64, help="tiles per UNet batch (default %(default)s)")
  a = p.parse_args(argv)
  try: tiled = load_tiled_unet(a.unet, batch=a.batch)
  except (FileNotFoundError, ValueError) as e: raise UserError(str(e)) from None
  skipped: list = []
  files = scan_layouts(a.data, "train", skipped)
  skipped += [(str(f.instance_dir / f"{f.n}_origin.npz"), "a mask without its image: nothing to compute it from (kept as it is)")
              for f in files if f.image is None]
  todo = [f for f in files if f.image is not None]
  report_read(f"full layouts under {a.data or 'data'}/train", len(todo), skipped)
  if not todo: raise UserError(f"no full layouts (train/<layout>/<instance>/<n>.png or <ts>_raw.png + _origin.npz) under {a.data or 'data'}")
  kept = [f for f in todo if f.mask is not None and not a.overwrite]
  written = 0
  for f in tqdm([f for f in todo if f not in kept], desc="masks", unit="layout"):
    write_layout_mask(f.instance_dir, f.n, tiled.mask(load_png(f.image)), overwrite=a.overwrite)
    written += 1
  print(f"wrote {written} mask(s)" + (f"; kept {len(kept)} existing (pass --overwrite to recompute them)" if kept else ""))
  return 0


if __name__ == "__main__": run_main(main)

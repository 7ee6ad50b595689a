"""Compute the line mask <n>_mask.png of every full layout <n>.png in <data>/train with a trained UNet:
the preparation step of the published pipeline (the ViT trains on the masks the UNet really produces).

Each layout is run through the UNet on 32 px tiles with its own channel statistics, exactly as the
server does, then sparse pixels are cleaned. Masks are written atomically; existing masks are left
alone unless --overwrite.

  python prepare_vit_data.py --unet UNet_synth
  python prepare_vit_data.py --data out/synth --unet data/model/UNet_synth.safetensors --overwrite
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from models.checkpoint import load_unet
from models.tiled import TiledUNet
from poemap.datadir import layout_instances, write_layout_mask
from poemap.fileio import load_png
from poemap.tokens import clean_sparse_pixels
from poemap.usererror import UserError, run_main
from poemap.vitdata import layout_numbers


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", default=None, help="data root (default: $POEMAP_DATA or <repo>/data)")
  p.add_argument("--unet", default="UNet_synth", help="UNet checkpoint path or name under <data>/model/ (default %(default)s)")
  p.add_argument("--overwrite", action="store_true", help="recompute masks that already exist")
  p.add_argument("--batch", type=int, default=64, help="tiles per UNet batch (default %(default)s)")
  a = p.parse_args(argv)
  try: tiled = TiledUNet(load_unet(a.unet), batch=a.batch)
  except (FileNotFoundError, ValueError) as e: raise UserError(str(e)) from None
  todo = [(idir, n) for _, idir in layout_instances(a.data, "train") for n in layout_numbers(idir)]
  if not todo: raise UserError(f"no full layouts (train/<layout>/<instance>/<n>.png + <n>_origin.npz) under {a.data or 'data'}")
  kept = [(d, n) for d, n in todo if (d / f"{n}_mask.png").exists() and not a.overwrite]
  written = 0
  for idir, n in tqdm([t for t in todo if t not in kept], desc="masks", unit="layout"):
    write_layout_mask(idir, n, clean_sparse_pixels(tiled.mask(load_png(idir / f"{n}.png"))), overwrite=a.overwrite)
    written += 1
  print(f"wrote {written} mask(s)" + (f"; kept {len(kept)} existing (pass --overwrite to recompute them)" if kept else ""))
  return 0


if __name__ == "__main__": run_main(main)

"""Write an evaluation report for a UNet and a ViT on a data directory: ViT accuracy on the test tree
(curated samples when test/curation_mask.json exists) overall, per class and against the number of
revealed tokens, a confusion matrix, the failing samples as images; UNet line F1 against the
colour-filter baseline on auto_crop_50/mask_50. Evaluate on data generated with seeds not used in training.

  python evaluate.py --data out/synth_eval --unet UNet_synth --vit ViT_synth --out docs/report

Files: summary.json, summary.md, confusion.png, accuracy_vs_tokens.png, failures/*.png.
"""
from __future__ import annotations

import argparse

from models.checkpoint import load_unet, load_vit
from models.tiled import TiledUNet, ViTRunner
from poemap.datadir import model_path, read_curation_mask
from poemap.report import unet_vs_filter, vit_predictions, vit_summary, write_report
from poemap.usererror import UserError, run_main


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", default=None, help="data root to evaluate on (default: $POEMAP_DATA or <repo>/data)")
  p.add_argument("--unet", default="UNet_synth", help="UNet checkpoint path or name under data/model/ (default %(default)s); 'none' to skip")
  p.add_argument("--vit", default="ViT_synth", help="ViT checkpoint path or name under data/model/ (default %(default)s); 'none' to skip")
  p.add_argument("--out", default="out/report", help="report directory (default %(default)s); its report files are replaced")
  p.add_argument("--all-test", action="store_true", help="use every test sample, not only the curated ones")
  p.add_argument("--max-crops", type=int, default=None, help="UNet: at most this many crops per group (default all)")
  p.add_argument("--max-failures", type=int, default=12, help="failing samples drawn (default %(default)s)")
  a = p.parse_args(argv)
  summary: dict = {"data": str(a.data or "data")}
  recs = None
  try:
    if a.unet != "none":
      summary["unet_checkpoint"] = str(model_path(a.unet))
      tiled = TiledUNet(load_unet(a.unet), batch=64)
      summary["unet"] = unet_vs_filter(tiled.mask, a.data, a.max_crops)
      if not summary["unet"]["crops"]: raise UserError(f"no auto_crop_50/mask_50 groups under {a.data or 'data'} (pass --unet none to skip the UNet)")
    if a.vit != "none":
      summary["vit_checkpoint"] = str(model_path(a.vit))
      vit = load_vit(a.vit)
      recs = vit_predictions(ViTRunner(vit, batch=32), a.data, not a.all_test)
      if not recs: raise UserError(f"no test samples under {a.data or 'data'}/test (pass --vit none to skip the ViT)")
      summary["test_selection"] = "curated" if read_curation_mask(a.data) is not None and not a.all_test else "all"
      summary["vit"] = vit_summary(recs, vit.config["num_classes"])
  except (FileNotFoundError, ValueError) as e: raise UserError(str(e)) from None
  files = write_report(a.out, summary, recs, a.max_failures)
  if u := summary.get("unet"): print(f"UNet line F1 {u['unet']['f1']:.4f} (cleaned {u['unet_cleaned']['f1']:.4f}) vs colour filter {u['color_filter']['f1']:.4f} on {u['crops']} crops")
  if v := summary.get("vit"): print(f"ViT accuracy {v['acc']:.4f} on {v['n']} {summary['test_selection']} test samples")
  print(f"wrote {len(files)} files to {a.out}")
  return 0


if __name__ == "__main__": run_main(main)

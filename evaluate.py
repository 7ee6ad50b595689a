"""Write an evaluation report for a UNet and a ViT on a data directory: ViT accuracy on the test tree
(curated samples when test/curation_mask.json exists) overall, per class and against the number of
revealed tokens, a confusion matrix, the failing samples as images; UNet line F1 against the
colour-filter baseline on auto_crop_50/mask_50. Evaluate on data generated with seeds not used in training.

  python evaluate.py --data out/synth_eval --unet UNet_synth --vit ViT_synth --out docs/report
  python evaluate.py --data out/synth_eval5 out/synth_eval7 ...    several roots: pooled, with a row per root

Files: summary.json, summary.md, confusion.png, accuracy_vs_tokens.png, failures/*.png.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from models.checkpoint import load_tiled_unet, load_vit
from models.tiled import ViTRunner
from poemap.datadir import model_path, read_curation_mask
from poemap.usererror import UserError, run_main
from training.report import unet_vs_filter, vit_predictions, vit_summary, write_report


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", nargs="+", default=[None], help="data root(s) to evaluate on, pooled (default: $POEMAP_DATA or <repo>/data)")
  p.add_argument("--unet", default="UNet_synth", help="UNet checkpoint path or name under data/model/ (default %(default)s); 'none' to skip")
  p.add_argument("--vit", default="ViT_synth", help="ViT checkpoint path or name under data/model/ (default %(default)s); 'none' to skip")
  p.add_argument("--out", default="out/report", help="report directory (default %(default)s); its report files are replaced")
  p.add_argument("--all-test", action="store_true", help="use every test sample, not only the curated ones")
  p.add_argument("--compare-unet", default=None, metavar="CHECKPOINT", help="also score this UNet (e.g. the previous bundled one) "
                 "on the same crops, overall and per look family")
  p.add_argument("--max-crops", type=int, default=None, help="UNet: at most this many crops per group (default all)")
  p.add_argument("--max-failures", type=int, default=12, help="failing samples drawn (default %(default)s)")
  a = p.parse_args(argv)
  names = [str(d or "data") for d in a.data]
  for d in a.data:
    if d is not None and not Path(d).is_dir(): raise UserError(f"no data directory {d}")
  summary: dict = {"data": names[0] if len(names) == 1 else names}
  recs = None
  try:
    if a.unet != "none":
      summary["unet_checkpoint"] = str(model_path(a.unet))
      tiled = load_tiled_unet(a.unet, batch=64)
      others = {}
      if a.compare_unet:
        summary["compare_unet_checkpoint"] = str(model_path(a.compare_unet))
        others[f"compare: {Path(a.compare_unet).stem}"] = load_tiled_unet(a.compare_unet, batch=64).mask
      summary["unet"] = unet_vs_filter(tiled.mask, a.data, a.max_crops, others)
      if not summary["unet"]["crops"]: raise UserError(f"no auto_crop_50/mask_50 groups under {', '.join(names)} (pass --unet none to skip the UNet)")
    if a.vit != "none":
      summary["vit_checkpoint"] = str(model_path(a.vit))
      vit = load_vit(a.vit)
      runner, recs = ViTRunner(vit, batch=32), []
      for d, name in zip(a.data, names):  # several roots are pooled; each sample remembers its root
        recs += [dict(r, data=name) for r in vit_predictions(runner, d, not a.all_test)]
      if not recs: raise UserError(f"no test samples under {', '.join(f'{n}/test' for n in names)} (pass --vit none to skip the ViT)")
      curated = [read_curation_mask(d) is not None and not a.all_test for d in a.data]
      summary["test_selection"] = "curated" if all(curated) else "all" if not any(curated) else "curated where a curation mask exists"
      summary["vit"] = vit_summary(recs, vit.config["num_classes"])
  except (FileNotFoundError, ValueError) as e: raise UserError(str(e)) from None
  files = write_report(a.out, summary, recs, a.max_failures)
  if u := summary.get("unet"):
    print(f"UNet line F1 {u['unet']['f1']:.4f} (cleaned {u['unet_cleaned']['f1']:.4f}) vs colour filter {u['color_filter']['f1']:.4f} "
          f"on {u['crops']} crops")
    cols = [k for k in u if isinstance(u[k], dict) and "f1" in u[k]]
    for fam, v in u.get("by_family", {}).items():
      print(f"  {fam:12s} {v['crops']:4d} crops: " + ", ".join(f"{k} {v[k]['f1']:.4f}" for k in cols))
  if v := summary.get("vit"):
    if len(v["by_data"]) > 1:
      for d in v["by_data"]: print(f"  {d['data']}: ViT accuracy {d['acc']:.4f} on {d['n']} samples ({d['walks']} walks)")
    lo, hi = v["acc_ci95_walks"]
    print(f"ViT accuracy {v['acc']:.4f} (95 % {lo:.3f}-{hi:.3f}, bootstrap over {v['walks']} walks) "
          f"on {v['n']} {summary['test_selection']} test samples")
  print(f"wrote {len(files)} files to {a.out}")
  return 0


if __name__ == "__main__": run_main(main)

"""Train the line-extraction UNet on 32 px patch pairs from <data>/auto_crop_50 + <data>/mask_50.

Two recipes (docs/MODELS.md). `--recipe ours` (default): the published architecture and batch with our
sampling (half the patches near lines), flips/rotations, colour jitter and noise, a held-out validation
set. `--recipe published`: the original's recipe that made AttentionUNet8_8600: 20000 steps, a
checkpoint every 200 steps with the step in its name, uniform crops shared out over all crops, flip /
rotation / noise each with p 0.5, noise sigma 0.05 then clipping to [0, 1], no held-out set; the
checkpoints are marked for the published input path (poemap/fidelity.py). Flags given explicitly win
over either recipe. The bundled synthetic-Coast model uses a small config for CPU real time; see
docs/MODELS.md for its exact command. Examples:

  python train_unet.py                                            # our recipe, data/ -> out/unet.safetensors
  python train_unet.py --recipe published                         # the original recipe -> out/unet_200.safetensors, ...
  python train_unet.py --data out/synth --config small --batch 128 --steps 3000 --out data/model/UNet_synth.safetensors
  python train_unet.py --config small --mid-chan 12                # a named config with one size changed
  python train_unet.py --config small --halo 16                    # each 32 px tile read with 16 px of context around it
  python train_unet.py --config small --halo 16 --darkest 2        # single crops and the darkest of two views of a region

--out keeps the weights of the best validation F1 (the last ones without a validation set); every --save-every
steps a resume state is written beside it (OUT.resume), and `--resume` with the same flags continues from it.
Ctrl+C finishes the current step and saves both (written atomically, never torn).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tinygrad import Tensor
from tinygrad.nn.state import get_parameters
from tqdm import tqdm

from models.checkpoint import load_checkpoint, save_checkpoint
from models.config import UNET_CONFIGS, add_config_flags, build_unet, config_from_args, split_halo, unet_config
from models.tiled import TiledUNet
from models.unet import UNetConfig
from poemap.colorfilter import line_f1
from poemap.contract import TILE
from poemap.fidelity import BUNDLED, DARKEST, PUBLISHED
from poemap.usererror import UserError, run_main
from training.loop import (
  Stepper,
  add_optimizer_flags,
  add_run_flags,
  checkpoint_target,
  fit,
  lr_from_args,
  seed_all,
  step_norm,
  step_rng,
  wandb_run,
  weighted_cross_entropy,
)
from training.unetdata import (
  augment,
  augment_original,
  darkest_views,
  load_group_roots,
  load_groups,
  sample_halo_patches,
  sample_patches,
  sample_patches_original,
  split_groups,
)

# the original recipe (hooved/poemap train_unet.py + dataloader.py) as flag defaults; explicit flags still win
PUBLISHED_RECIPE = dict(config="published", steps=20000, save_every=200, step_names=True, augment="original", val_frac=0.0)


def get_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--recipe", choices=("ours", "published"), default="ours", help="flag defaults: ours, or the original recipe of the published "
                 "UNet (see the top of this help) (default %(default)s)")
  add_run_flags(p, "out/unet.safetensors", "--config", save_every=500)
  p.add_argument("--config", default="published", help=f"architecture: one of {sorted(UNET_CONFIGS)} (models/config.py) or a JSON config such as "
                 "'{\"arch\": \"UNet\", \"mid_chan\": 4, \"depth\": 1}'; the size flags below change single fields of it "
                 "(default %(default)s, the published AttentionUNet)")
  add_config_flags(p, UNetConfig, defaults=False)
  p.add_argument("--halo", type=int, default=0, help="context px on every side of a tile: the UNet reads a (patch + 2*halo) px square "
                 "centred on each tile and predicts the tile only (the loss is on the tile); a multiple of 2**depth; 0 = the tile alone, "
                 "the model contract's UNet (default %(default)s)")
  p.add_argument("--patch", type=int, default=TILE, help="patch side, px (default %(default)s)")
  add_optimizer_flags(p, 512, "patches", 10000, "constant")
  p.add_argument("--class-weights", default="1,1",
                 help="cross-entropy weights 'background,line', or 'auto' = inverse class frequency, capped at 10 (default %(default)s)")
  p.add_argument("--extra-data", action="append", default=[], metavar="ROOT",
                 help="another data root whose UNet groups join --data's (repeatable; every group is then named ROOTNAME/GROUP, "
                 "and the validation groups are drawn from the pool)")
  p.add_argument("--darkest", type=int, default=0, metavar="K", help="also train (and validate) on the per-pixel darkest of each 2..K "
                 "consecutive crops of a group (training.unetdata.darkest_views: what MinimapCanvas(darkest=True) shows); "
                 "0 = single crops only (default %(default)s)")
  p.add_argument("--line-frac", type=float, default=0.5, help="fraction of patches centred near a line pixel (default %(default)s)")
  p.add_argument("--noise", type=float, default=0.1, help="augmentation: pixel noise std in normalised units (default %(default)s)")
  p.add_argument("--jitter", type=float, default=0.1, help="augmentation: per-channel gain/offset jitter (default %(default)s)")
  p.add_argument("--val-frac", type=float, default=0.15,
                 help="fraction of groups held out for validation F1, which picks the kept checkpoint (default %(default)s)")
  p.add_argument("--val-crops", type=int, default=8, help="crops per held-out group used for validation (default %(default)s)")
  p.add_argument("--eval-every", type=int, default=500, help="validate every N steps (default %(default)s)")
  p.add_argument("--augment", choices=("ours", "original"), default="ours", help="ours: --line-frac sampling, --jitter, --noise; original: "
                 "uniform crops, flip/rotate/noise each p 0.5, noise sigma 0.05 clipped to [0, 1] (default %(default)s)")
  p.add_argument("--step-names", action="store_true", help="write OUT_<step>.safetensors at every save point instead of --out (the original's rule)")
  p.add_argument("--seed", type=int, default=0, help="seeds weights, sampling and augmentation (default %(default)s)")
  p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (when installed)")
  if p.parse_known_args(argv)[0].recipe == "published": p.set_defaults(**PUBLISHED_RECIPE)
  a = p.parse_args(argv)
  if a.darkest == 1 or a.darkest < 0: p.error(f"--darkest {a.darkest}: 0 (off) or the number of views in the minimum, >= 2")
  if a.batch % a.accum: p.error(f"--batch {a.batch} is not a multiple of --accum {a.accum}")
  if a.config.lstrip().startswith("{"):
    try: a.config = json.loads(a.config)
    except json.JSONDecodeError as e: p.error(f"--config is not valid JSON: {e}")
  elif a.config not in UNET_CONFIGS: p.error(f"--config {a.config!r}: not one of {sorted(UNET_CONFIGS)} nor a JSON config")
  return a


def model_config(a: argparse.Namespace) -> UNetConfig:
  """--config (a name or JSON) with the size flags given on top; a JSON config's "halo" sets --halo where that is not given."""
  spec = a.config
  if isinstance(spec, dict):
    spec, halo = split_halo(spec)
    a.halo = a.halo or halo
  try: return config_from_args(UNetConfig, a, unet_config(spec))
  except (TypeError, ValueError) as e: raise UserError(f"--config: {e}") from None


def class_weights(spec: str, crops) -> np.ndarray:
  if spec == "auto":
    pos = np.mean([c.mask.mean() for c in crops])
    return np.array([1.0, min(10.0, (1 - pos) / max(pos, 1e-6))], np.float32)
  try: w = np.array([float(v) for v in spec.split(",")], np.float32)
  except ValueError: raise UserError(f"--class-weights must be 'auto' or two numbers like '1,3', got {spec!r}") from None
  if w.shape != (2,) or (w <= 0).any(): raise UserError(f"--class-weights wants two positive numbers, got {spec!r}")
  return w


def validate(tiled: TiledUNet, crops) -> dict[str, float]:
  """Pixel F1 of whole held-out crops, run exactly as the server does (tiles, the crop's own stats)."""
  return line_f1([(c.image, c.mask) for c in crops], tiled.mask)


def train(a: argparse.Namespace) -> dict:
  """Runs the training described by the parsed flags; returns training.loop.fit's history with "val" = its evaluations."""
  out = checkpoint_target(a.out, a.overwrite, a.resume)
  seed_all(a.seed)
  groups = load_groups(a.data) if not a.extra_data else load_group_roots([a.data, *a.extra_data])
  train_names, val_names = split_groups(list(groups), a.val_frac, a.seed)
  darkest = {g: darkest_views(cs, a.darkest) if a.darkest else [] for g, cs in groups.items()}
  train = [c for g in train_names for c in groups[g] + darkest[g]]
  val = [c for g in val_names for c in groups[g][:a.val_crops] + darkest[g][:a.val_crops]]
  weights = class_weights(a.class_weights, train)
  print(f"{len(train_names)} training groups ({len(train)} crops), {len(val_names)} held out: {', '.join(val_names) or '-'}; "
        f"class weights {weights.tolist()}")

  cfg, halo = model_config(a), a.halo
  if halo and a.augment == "original": raise UserError("--halo needs our sampling (--augment ours): the original recipe has no context patches")
  try: model = build_unet(cfg, seed=a.seed, halo=halo)
  except ValueError as e: raise UserError(f"--halo: {e}") from None
  if a.init: load_checkpoint(model, a.init)
  print(f"UNet config {json.dumps(model.config)}: {sum(p.numel() for p in get_parameters(model)):,} parameters -> {out}")
  w_t = Tensor(weights)
  def loss_fn(x: Tensor, y: Tensor, norm: Tensor) -> Tensor:
    logits = model(x).permute(0, 2, 3, 1).reshape(-1, 2)
    return weighted_cross_entropy(logits, y.reshape(-1), w_t, norm=norm)
  stepper = Stepper(get_parameters(model), loss_fn, lr_from_args(a), a.accum, a.weight_decay)
  tiled = TiledUNet(model, batch=64)
  micro = a.batch // a.accum

  def batch(step: int) -> list[tuple[np.ndarray, ...]]:
    rng = step_rng(a.seed, step)
    def one() -> tuple[np.ndarray, np.ndarray]:
      if a.augment == "original": return augment_original(*sample_patches_original(train, micro, rng, a.patch), rng)
      if halo:  # the patch with its context; the loss is on the patch (the model predicts its centre only)
        x, y, inside = sample_halo_patches(train, micro, rng, halo, a.patch, a.line_frac)
        return augment(x, y, rng, a.noise, a.jitter, inside)
      return augment(*sample_patches(train, micro, rng, a.patch, a.line_frac), rng, a.noise, a.jitter)
    mbs = [one() for _ in range(a.accum)]
    norm = step_norm([weights[y] for _, y in mbs])  # the whole step's weight: micro-batches add up to the full batch
    return [(x, y, norm) for x, y in mbs]
  def snapshot(done: int) -> Path:
    p = out.with_name(f"{out.stem}_{done}{out.suffix}")
    if p.exists() and not (a.overwrite or a.resume): raise UserError(f"{p} exists; pass --overwrite to replace it, or choose another --out")
    return save_checkpoint(model, p, overwrite=True, input_path=input_path)
  def report(step: int, loss: float, v: dict | None, better: bool) -> None:
    if v: tqdm.write(f"step {step + 1}: loss {loss:.4f}  val F1 {v['f1']:.4f} (precision {v['precision']:.4f}, recall {v['recall']:.4f})"
                     f"{'  (best, saved)' if better else ''}")
  input_path = PUBLISHED if a.augment == "original" else DARKEST if a.darkest else BUNDLED
  keep = "best" if val else "none" if a.step_names else "last"
  hist = fit(model, stepper, batch, out, a, keep=keep, evaluate=(lambda: validate(tiled, val)) if val else None, score=lambda v: (v["f1"],),
             eval_every=a.eval_every, snapshot=snapshot if a.step_names else None, input_path=input_path, desc="unet", report=report,
             run=wandb_run(a.wandb, "poemap-unet", vars(a)))
  hist["val"] = hist["evals"]
  return hist


def main(argv=None) -> int:
  train(get_args(argv))
  return 0


if __name__ == "__main__": run_main(main)

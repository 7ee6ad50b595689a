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

Ctrl+C finishes the current step and saves a checkpoint (written atomically, never torn).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tinygrad import Tensor
from tinygrad.nn.state import get_parameters
from tqdm import tqdm, trange

from models.checkpoint import load_checkpoint
from models.config import UNET_CONFIGS, build_unet
from models.tiled import TiledUNet
from poemap.colorfilter import line_f1
from poemap.fidelity import BUNDLED, PUBLISHED
from poemap.usererror import UserError, run_main
from training.loop import (
  Stepper,
  StopOnSigint,
  add_optimizer_flags,
  add_run_flags,
  checkpoint_target,
  lr_from_args,
  save,
  seed_all,
  wandb_run,
  weighted_cross_entropy,
)
from training.unetdata import augment, augment_original, load_groups, sample_patches, sample_patches_original, split_groups

# the original recipe (hooved/poemap train_unet.py + dataloader.py) as flag defaults; explicit flags still win
PUBLISHED_RECIPE = dict(config="published", steps=20000, save_every=200, step_names=True, augment="original", val_frac=0.0)


def get_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--recipe", choices=("ours", "published"), default="ours", help="flag defaults: ours, or the original recipe of the published "
                 "UNet (see the top of this help) (default %(default)s)")
  add_run_flags(p, "out/unet.safetensors", "--config")
  p.add_argument("--config", default="published", help=f"architecture: one of {sorted(UNET_CONFIGS)} (models/config.py) or a JSON config such as "
                 "'{\"arch\": \"UNet\", \"mid_chan\": 4, \"depth\": 1}' (default %(default)s, the published AttentionUNet)")
  p.add_argument("--patch", type=int, default=32, help="patch side, px (default %(default)s)")
  add_optimizer_flags(p, 512, "patches", 10000, "constant")
  p.add_argument("--class-weights", default="1,1", help="cross-entropy weights 'background,line', or 'auto' = inverse class frequency, capped at 10 (default %(default)s)")
  p.add_argument("--line-frac", type=float, default=0.5, help="fraction of patches centred near a line pixel (default %(default)s)")
  p.add_argument("--noise", type=float, default=0.1, help="augmentation: pixel noise std in normalised units (default %(default)s)")
  p.add_argument("--jitter", type=float, default=0.1, help="augmentation: per-channel gain/offset jitter (default %(default)s)")
  p.add_argument("--val-frac", type=float, default=0.15, help="fraction of groups held out for validation F1 (default %(default)s)")
  p.add_argument("--val-crops", type=int, default=8, help="crops per held-out group used for validation (default %(default)s)")
  p.add_argument("--eval-every", type=int, default=500, help="validate every N steps (default %(default)s)")
  p.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps (default %(default)s)")
  p.add_argument("--augment", choices=("ours", "original"), default="ours", help="ours: --line-frac sampling, --jitter, --noise; original: "
                 "uniform crops, flip/rotate/noise each p 0.5, noise sigma 0.05 clipped to [0, 1] (default %(default)s)")
  p.add_argument("--step-names", action="store_true", help="name each checkpoint after its step: OUT_<step>.safetensors (the original's rule)")
  p.add_argument("--seed", type=int, default=0, help="seeds weights, sampling and augmentation (default %(default)s)")
  p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (when installed)")
  if p.parse_known_args(argv)[0].recipe == "published": p.set_defaults(**PUBLISHED_RECIPE)
  a = p.parse_args(argv)
  if a.batch % a.accum: p.error(f"--batch {a.batch} is not a multiple of --accum {a.accum}")
  if a.config.lstrip().startswith("{"):
    try: a.config = json.loads(a.config)
    except json.JSONDecodeError as e: p.error(f"--config is not valid JSON: {e}")
  elif a.config not in UNET_CONFIGS: p.error(f"--config {a.config!r}: not one of {sorted(UNET_CONFIGS)} nor a JSON config")
  return a


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
  """Runs the training described by the parsed flags; returns {"losses": [...], "val": [(step, scores)], "out": path, "steps": n}."""
  out = checkpoint_target(a.out, a.overwrite)
  rng = seed_all(a.seed)
  groups = load_groups(a.data)
  train_names, val_names = split_groups(list(groups), a.val_frac, a.seed)
  train = [c for g in train_names for c in groups[g]]
  val = [c for g in val_names for c in groups[g][:a.val_crops]]
  weights = class_weights(a.class_weights, train)
  print(f"{len(train_names)} training groups ({len(train)} crops), {len(val_names)} held out: {', '.join(val_names) or '-'}; class weights {weights.tolist()}")

  model = build_unet(a.config)
  if a.init:
    load_checkpoint(model, a.init)
  print(f"UNet config {json.dumps(model.config)}: {sum(p.numel() for p in get_parameters(model)):,} parameters -> {out}")
  w_t = Tensor(weights)
  def loss_fn(x: Tensor, y: Tensor) -> Tensor:
    logits = model(x).permute(0, 2, 3, 1).reshape(-1, 2)
    return weighted_cross_entropy(logits, y.reshape(-1), w_t)
  stepper = Stepper(get_parameters(model), loss_fn, lr_from_args(a), a.accum, a.weight_decay)
  tiled = TiledUNet(model, batch=64)
  input_path = PUBLISHED if a.augment == "original" else BUNDLED
  def save_at(done: int) -> Path:
    p = out.with_name(f"{out.stem}_{done}{out.suffix}") if a.step_names else out
    if a.step_names and p.exists() and not a.overwrite: raise UserError(f"{p} exists; pass --overwrite to replace it, or choose another --out")
    hist["saved"].append(save(model, p, input_path))
    return p
  def batch() -> tuple[np.ndarray, np.ndarray]:
    if a.augment == "original": return augment_original(*sample_patches_original(train, micro, rng, a.patch), rng)
    return augment(*sample_patches(train, micro, rng, a.patch, a.line_frac), rng, a.noise, a.jitter)
  run = wandb_run(a.wandb, "poemap-unet", vars(a))
  micro = a.batch // a.accum

  best, step, t0 = None, 0, time.time()
  hist: dict = {"losses": [], "val": [], "out": out, "saved": []}
  with StopOnSigint() as sig:
    bar = trange(a.steps, desc="unet", unit="step", dynamic_ncols=True)
    for step in bar:
      mbs = [batch() for _ in range(a.accum)]
      loss = stepper(mbs)
      hist["losses"].append(loss)
      bar.set_postfix(loss=f"{loss:.4f}", **({"val_f1": f"{best:.4f}"} if best is not None else {}))
      if run: run.log({"loss": loss, "lr": stepper.lr_at(step)}, step=step)
      done = step + 1
      if val and (done % a.eval_every == 0 or done == a.steps):
        v = validate(tiled, val)
        best = v["f1"]
        hist["val"].append((done, v))
        tqdm_write(f"step {done}: loss {loss:.4f}  val F1 {v['f1']:.4f} (precision {v['precision']:.4f}, recall {v['recall']:.4f})")
        if run: run.log({f"val_{k}": x for k, x in v.items()}, step=step)
      if done % a.save_every == 0 or done == a.steps: save_at(done)
      if sig.stop:
        tqdm_write(f"stopped at step {done}; saved {save_at(done)}")
        break
    else: step = a.steps - 1
  if a.steps == 0: save_at(0)
  hist["steps"] = len(hist["losses"])
  print(f"done: {hist['steps']} steps in {time.time() - t0:.0f} s; checkpoint {hist['saved'][-1] if hist['saved'] else out}")
  return hist


def main(argv=None) -> int:
  train(get_args(argv))
  return 0


def tqdm_write(msg: str) -> None:
  tqdm.write(msg)


if __name__ == "__main__": run_main(main)

"""Train the layout ViT on line-mask tokens revealed along paths through full layouts (<data>/train), and
evaluate it on the live-like test samples (<data>/test, or those of --select-data; only the curated ones
when curation_mask.json exists).

Each step is a class-balanced batch of explorations (a prefix of a path with some points dropped, seen
through the fog of war, radius 65 px), padded to a fixed shape with a loss mask so one set of kernels
serves every step. Samples are made in a background process; training starts as soon as the first step
is ready. The checkpoint with the best test accuracy (ties: lower test loss) is kept at --out; every
--save-every steps a resume state is written beside it (OUT.resume), and `--resume` with the same flags
continues from it. The size flags default to the published architecture (models.vit.ViTConfig); the bundled
synthetic-Coast model is smaller, see docs/MODELS.md.

`--recipe published` gives the original recipe of ViT6_219_15 as flag defaults (explicit flags win): each
source's whole path revealed, the layout mask cleaned once before the fog (the original's order), epochs of round-robin class-balanced
steps over those fixed samples, dropout 0.1 (attention, feed-forward) and 0.3 (patch embedding) in
training only, Adam at 1e-3 constant, and the checkpoint saved whenever the training loss sets a record.

  python train_vit.py --data out/synth --steps 2000 --out out/vit.safetensors

Ctrl+C finishes the current step and leaves a valid checkpoint (the best so far, or the current weights) and
the resume state.
"""
from __future__ import annotations

import argparse

import numpy as np
from tinygrad import Tensor
from tinygrad.nn.state import get_parameters
from tqdm import tqdm

from models.checkpoint import load_checkpoint
from models.config import add_config_flags, config_from_args
from models.tiled import ViTRunner
from models.vit import ViT, ViTConfig, batch_arrays
from poemap.contract import FOG_RADIUS
from poemap.datadir import read_tokens, report_read, test_samples
from poemap.usererror import run_main
from training.loop import (
  Stepper,
  add_optimizer_flags,
  add_run_flags,
  checkpoint_target,
  fit,
  lr_from_args,
  seed_all,
  step_norm,
  wandb_run,
  weighted_cross_entropy,
)
from training.vitdata import EpochSteps, SampleStream, find_sources

# the original recipe as flag defaults; explicit flags still win
PUBLISHED_RECIPE = dict(sampling="epochs", dropout=0.1, embed_dropout=0.3, lr=1e-3, lr_schedule="constant", keep="train-loss")


def get_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--recipe", choices=("ours", "published"), default="ours",
                 help="flag defaults: ours, or the original recipe (above) (default %(default)s)")
  add_run_flags(p, "out/vit.safetensors", "architecture flags", save_every=200)
  add_config_flags(p, ViTConfig)
  add_optimizer_flags(p, 64, "samples", 3000, "cosine")
  p.add_argument("--min-frac", type=float, default=0.05, help="shortest path prefix, as a fraction of the path (default %(default)s)")
  p.add_argument("--max-drop", type=float, default=0.5, help="largest fraction of path points dropped (default %(default)s)")
  p.add_argument("--origin-jitter", type=int, default=0, help="anchor the token grid up to N px from the recorded origin (default %(default)s)")
  p.add_argument("--radius", type=int, default=FOG_RADIUS, help="fog-of-war light radius, px at 1080p scale (default %(default)s, the contract)")
  p.add_argument("--select-data", default=None, help="data root whose test tree picks the kept checkpoint (default: --data); "
                 "a few walks per class cannot rank checkpoints that differ by a sample or two, so a larger set helps")
  p.add_argument("--eval-every", type=int, default=200, help="evaluate on the test tree every N steps (default %(default)s)")
  p.add_argument("--eval-batch", type=int, default=32, help="samples per evaluation batch (default %(default)s)")
  p.add_argument("--sampling", choices=("ours", "epochs"), default="ours", help="ours: random explorations (--min-frac, --max-drop, "
                 "--origin-jitter), cleaned after the fog; epochs: each source's whole path, in epochs of round-robin class-balanced steps "
                 "(default %(default)s)")
  p.add_argument("--dropout", type=float, default=0.0, help="dropout on the attention and feed-forward branches, training only (default %(default)s)")
  p.add_argument("--embed-dropout", type=float, default=0.0, help="dropout on the patch embedding, training only (default %(default)s)")
  p.add_argument("--keep", choices=("test-acc", "train-loss"), default="test-acc", help="save the checkpoint when the test accuracy (ties: "
                 "test loss) or when the training loss sets a record (default %(default)s)")
  p.add_argument("--seed", type=int, default=0, help="seeds weights and sampling (default %(default)s)")
  p.add_argument("--no-wait", action="store_true", help="when the sample producer lags, train on a class-balanced draw of the samples "
                 "received so far instead of waiting (faster on few cores, but the run then depends on timing)")
  p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (when installed)")
  if p.parse_known_args(argv)[0].recipe == "published": p.set_defaults(**PUBLISHED_RECIPE)
  a = p.parse_args(argv)
  if a.batch % a.accum: p.error(f"--batch {a.batch} is not a multiple of --accum {a.accum}")
  try: config_from_args(ViTConfig, a)
  except ValueError as e: p.error(str(e))
  return a


def load_test(root) -> tuple[list[np.ndarray], np.ndarray]:
  skipped: list = []
  read = [(layout, p, read_tokens(p)) for layout, p in test_samples(root, skipped=skipped)]
  skipped += [(str(p), "no tokens: nothing to classify (the server says no_features)") for _, p, t in read if not len(t)]
  samples = [(l, t) for l, _, t in read if len(t)]
  report_read(f"test samples under {root or 'data'}/test", len(samples), skipped)
  return [t for _, t in samples], np.array([l for l, _ in samples], np.int64)


def evaluate(runner: ViTRunner, tokens: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
  probs = runner.probs(tokens)
  nll = -np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12))
  return {"acc": float((probs.argmax(1) == labels).mean()), "loss": float(nll.mean())}


def train(a: argparse.Namespace) -> dict:
  """Runs the training described by the parsed flags; returns training.loop.fit's history with "test" = its evaluations."""
  out = checkpoint_target(a.out, a.overwrite, a.resume)
  seed_all(a.seed)
  sources = find_sources(a.data)
  test_tokens, test_labels = load_test(a.select_data or a.data)
  cfg = config_from_args(ViTConfig, a)
  model = ViT(cfg, seed=a.seed, dropout=a.dropout, embed_dropout=a.embed_dropout)
  if a.init: load_checkpoint(model, a.init)
  n_classes = len({s.layout for s in sources})
  print(f"{len(sources)} (layout, path) sources over {n_classes} classes; {len(test_labels)} test samples; "
        f"ViT {sum(p.numel() for p in get_parameters(model)):,} parameters -> {out}")

  def loss_fn(x: Tensor, pe: Tensor, n: Tensor, y: Tensor, w: Tensor, norm: Tensor) -> Tensor:
    return weighted_cross_entropy(model.forward_batch(x, pe, n), y, mask=w, norm=norm)
  stepper = Stepper(get_parameters(model), loss_fn, lr_from_args(a), a.accum, a.weight_decay)
  runner = ViTRunner(model, batch=a.eval_batch)
  micro = a.batch // a.accum
  stream: EpochSteps | SampleStream | None = None

  def batch(step: int) -> list[tuple[np.ndarray, ...]]:
    nonlocal stream
    if stream is None:  # made at the first step a run takes: a resumed run's stream starts at its step
      if a.sampling == "epochs":
        stream = EpochSteps(sources, a.batch, a.seed, a.radius, start=step)
        print(f"{len(stream.samples)} fixed samples (whole paths, uncleaned); the layout masks were cleaned once, before the fog, as the original did"
              + (f"; {stream.empty} left out: they reveal no line" if stream.empty else ""))
      else: stream = SampleStream(sources, a.batch, a.seed, start=step, min_frac=a.min_frac, max_drop=a.max_drop, radius=a.radius,
                                  origin_jitter=a.origin_jitter)
    tokens, labels = stream.next(wait=not a.no_wait)
    mbs = []
    for s in range(0, a.batch, micro):  # a short step (the last of an epoch) is padded: rows of zero loss weight, mask token only (n = 0)
      tk, lb = tokens[s:s + micro], labels[s:s + micro]
      x, pe, n = batch_arrays(tk, cfg.max_tokens, cfg.embed_dim, batch=micro)
      w = (np.arange(micro) < len(tk)).astype(np.float32)
      mbs.append((x, pe, n, np.r_[lb, np.zeros(micro - len(lb), np.int32)].astype(np.int32), w))
    norm = step_norm([w for *_, w in mbs])
    return [(*mb, norm) for mb in mbs]

  ema: list[float] = []
  def report(step: int, loss: float, ev: dict | None, better: bool) -> None:
    ema.append(loss if not ema else 0.98 * ema[-1] + 0.02 * loss)
    if ev: tqdm.write(f"step {step + 1}: lr {stepper.lr_at(step):.2e}  train loss {ema[-1]:.4f}  test acc {ev['acc']:.4f}  test loss {ev['loss']:.4f}"
                      f"{'  (best, saved)' if better else ''}")
  keep = "train-loss" if a.keep == "train-loss" else "best" if len(test_labels) else "last"
  try:
    hist = fit(model, stepper, batch, out, a, keep=keep, evaluate=(lambda: evaluate(runner, test_tokens, test_labels)) if len(test_labels) else None,
               score=lambda ev: (ev["acc"], -ev["loss"]), eval_every=a.eval_every, desc="vit", report=report,
               run=wandb_run(a.wandb, "poemap-vit", vars(a)))
  finally:
    if stream is not None: stream.close()
  hist["test"] = hist["evals"]
  return hist


def main(argv=None) -> int:
  train(get_args(argv))
  return 0


if __name__ == "__main__": run_main(main)

"""Train the layout ViT on line-mask tokens revealed along paths through full layouts (<data>/train), and
evaluate it on the live-like test samples (<data>/test, or those of --select-data; only the curated ones
when curation_mask.json exists).

Each step is a class-balanced batch of explorations (a prefix of a path with some points dropped, seen
through the fog of war, radius 65 px), padded to a fixed shape with a loss mask so one set of kernels
serves every step. Samples are made in a background process; training starts as soon as the first step
is ready. The checkpoint with the best test accuracy (ties: lower test loss) is kept at --out.
Defaults are the published architecture (3 blocks, 256-d, 4 heads, ff 512, 128 tokens); the bundled
synthetic-Coast model is smaller, see docs/MODELS.md.

`--recipe published` gives the original recipe of ViT6_219_15 as flag defaults (explicit flags win): each
source's whole path revealed, no re-cleaning of the revealed mask, epochs of round-robin class-balanced
steps over those fixed samples, dropout 0.1 (attention, feed-forward) and 0.3 (patch embedding) in
training only, Adam at 1e-3 constant, and the checkpoint saved whenever the training loss sets a record.

  python train_vit.py --data out/synth --steps 2000 --out out/vit.safetensors

Ctrl+C finishes the current step and leaves a valid checkpoint (the best so far, or the current weights).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from tinygrad import Tensor
from tinygrad.nn.state import get_parameters
from tqdm import tqdm, trange

from models.checkpoint import load_checkpoint
from models.tiled import ViTRunner
from models.vit import ViT, batch_arrays
from poemap.datadir import read_tokens, report_read, test_samples
from poemap.usererror import run_main
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
from training.vitdata import LIGHT_RADIUS, EpochSteps, SampleStream, find_sources

# the original recipe as flag defaults; explicit flags still win
PUBLISHED_RECIPE = dict(sampling="epochs", dropout=0.1, embed_dropout=0.3, lr=1e-3, lr_schedule="constant", keep="train-loss")


def get_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--recipe", choices=("ours", "published"), default="ours", help="flag defaults: ours, or the original recipe (above) (default %(default)s)")
  add_run_flags(p, "out/vit.safetensors", "architecture flags")
  p.add_argument("--layers", type=int, default=3, help="transformer blocks (default %(default)s)")
  p.add_argument("--embed-dim", type=int, default=256, help="token/position embedding size (default %(default)s)")
  p.add_argument("--heads", type=int, default=4, help="attention heads (default %(default)s)")
  p.add_argument("--ff-dim", type=int, default=512, help="feed-forward size (default %(default)s)")
  p.add_argument("--max-tokens", type=int, default=128, help="tokens per sample, nearest to the origin first (default %(default)s)")
  p.add_argument("--classes", type=int, default=9, help="layout classes (default %(default)s)")
  add_optimizer_flags(p, 64, "samples", 3000, "cosine")
  p.add_argument("--min-frac", type=float, default=0.05, help="shortest path prefix, as a fraction of the path (default %(default)s)")
  p.add_argument("--max-drop", type=float, default=0.5, help="largest fraction of path points dropped (default %(default)s)")
  p.add_argument("--origin-jitter", type=int, default=0, help="anchor the token grid up to N px from the recorded origin (default %(default)s)")
  p.add_argument("--radius", type=int, default=LIGHT_RADIUS, help="fog-of-war light radius, px at 1080p scale (default %(default)s, the contract)")
  p.add_argument("--select-data", default=None, help="data root whose test tree picks the kept checkpoint (default: --data); "
                 "a few walks per class cannot rank checkpoints that differ by a sample or two, so a larger set helps")
  p.add_argument("--eval-every", type=int, default=200, help="evaluate on the test tree every N steps (default %(default)s)")
  p.add_argument("--eval-batch", type=int, default=32, help="samples per evaluation batch (default %(default)s)")
  p.add_argument("--sampling", choices=("ours", "epochs"), default="ours", help="ours: random explorations (--min-frac, --max-drop, "
                 "--origin-jitter), cleaned; epochs: each source's whole path, uncleaned, in epochs of round-robin class-balanced steps (default %(default)s)")
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
  return a


def load_test(root) -> tuple[list[np.ndarray], np.ndarray]:
  skipped: list = []
  samples = [(layout, p, read_tokens(p)) for layout, p in test_samples(root, skipped=skipped)]
  skipped += [(str(p), "no tokens: nothing to classify (the server says no_features)") for _, p, t in samples if not len(t)]
  samples = [(l, t) for l, _, t in samples if len(t)]
  report_read(f"test samples under {root or 'data'}/test", len(samples), skipped)
  return [t for _, t in samples], np.array([l for l, _ in samples], np.int64)


def evaluate(runner: ViTRunner, tokens: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
  probs = np.concatenate([runner.probs(tokens[s:s + runner.batch]) for s in range(0, len(tokens), runner.batch)])
  nll = -np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12))
  return {"acc": float((probs.argmax(1) == labels).mean()), "loss": float(nll.mean())}


def train(a: argparse.Namespace) -> dict:
  """Runs the training described by the parsed flags; returns {"losses": [...], "test": [(step, scores)], "out": path, "steps": n}."""
  out = checkpoint_target(a.out, a.overwrite)
  seed_all(a.seed)
  sources = find_sources(a.data)
  test_tokens, test_labels = load_test(a.select_data or a.data)
  model = ViT(num_classes=a.classes, max_tokens=a.max_tokens, layers=a.layers, embed_dim=a.embed_dim, num_heads=a.heads, ff_dim=a.ff_dim,
              dropout=a.dropout, embed_dropout=a.embed_dropout)
  if a.init:
    load_checkpoint(model, a.init)
  n_classes = len({s.layout for s in sources})
  print(f"{len(sources)} (layout, path) sources over {n_classes} classes; {len(test_labels)} test samples; "
        f"ViT {sum(p.numel() for p in get_parameters(model)):,} parameters -> {out}")

  def loss_fn(x: Tensor, pe: Tensor, n: Tensor, y: Tensor, w: Tensor) -> Tensor:
    return weighted_cross_entropy(model.forward_batch(x, pe, n), y, mask=w)
  stepper = Stepper(get_parameters(model), loss_fn, lr_from_args(a), a.accum, a.weight_decay)
  runner = ViTRunner(model, batch=a.eval_batch)
  run = wandb_run(a.wandb, "poemap-vit", vars(a))
  micro = a.batch // a.accum

  def micro_batches(tokens: list[np.ndarray], labels: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    out = []
    for s in range(0, a.batch, micro):
      tk, lb = tokens[s:s + micro], labels[s:s + micro]
      x, pe, n = batch_arrays(tk, a.max_tokens, a.embed_dim)
      pad = micro - len(tk)  # padded rows: zero loss weight, mask token only (n = 0)
      w = np.r_[np.ones(len(tk), np.float32), np.zeros(pad, np.float32)]
      if pad:
        x, pe = np.concatenate([x, np.zeros((pad, *x.shape[1:]), np.float32)]), np.concatenate([pe, np.zeros((pad, *pe.shape[1:]), np.float32)])
        n, lb = np.r_[n, np.zeros(pad, np.int32)], np.r_[lb, np.zeros(pad, np.int32)]
      out.append((x, pe, n.astype(np.int32), lb.astype(np.int32), w))
    return out

  if a.sampling == "epochs":
    stream = EpochSteps(sources, a.batch, a.seed, a.radius)
    print(f"{len(stream.samples)} fixed samples (whole paths, uncleaned)" + (f"; {stream.empty} left out: they reveal no line" if stream.empty else ""))
  else: stream = SampleStream(sources, a.batch, a.seed, min_frac=a.min_frac, max_drop=a.max_drop, radius=a.radius, origin_jitter=a.origin_jitter)
  best: tuple[float, float] | None = None
  best_loss: float | None = None
  saved, t0, done, ema = False, time.time(), 0, None
  hist: dict = {"losses": [], "test": [], "out": out}
  try:
    with StopOnSigint() as sig:
      bar = trange(a.steps, desc="vit", unit="step", dynamic_ncols=True)
      for step in bar:
        tokens, labels = stream.next(wait=not a.no_wait)
        loss = stepper(micro_batches(tokens, labels))
        hist["losses"].append(loss)
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        done = step + 1
        if a.keep == "train-loss" and (best_loss is None or loss < best_loss):  # the original's rule: a record training loss
          best_loss = loss
          save(model, out)
          saved = True
        bar.set_postfix(loss=f"{ema:.4f}", fresh=stream.fresh, **({"test_acc": f"{best[0]:.4f}"} if best else {}))
        if run: run.log({"loss": loss, "lr": stepper.lr_at(step)}, step=step)
        if len(test_labels) and (done % a.eval_every == 0 or done == a.steps):
          ev = evaluate(runner, test_tokens, test_labels)
          hist["test"].append((done, ev))
          better = a.keep == "test-acc" and (best is None or (ev["acc"], -ev["loss"]) > best)
          tqdm.write(f"step {done}: lr {stepper.lr_at(step):.2e}  train loss {ema:.4f}  test acc {ev['acc']:.4f}  test loss {ev['loss']:.4f}"
                     f"{'  (best, saved)' if better else ''}")
          if run: run.log({f"test_{k}": v for k, v in ev.items()}, step=step)
          if better:
            best = (ev["acc"], -ev["loss"])
            save(model, out)
            saved = True
        if sig.stop:
          tqdm.write(f"stopped at step {done}")
          break
  finally:
    stream.close()
    if not saved: save(model, out)  # no evaluation yet (or no test tree): keep the current weights
  print(f"done: {done} steps in {time.time() - t0:.0f} s ({stream.fresh} fresh batches from the producer); "
        f"checkpoint {out}" + (f" (test acc {best[0]:.4f})" if best else ""))
  hist["steps"] = done
  return hist


def main(argv=None) -> int:
  train(get_args(argv))
  return 0


if __name__ == "__main__": run_main(main)

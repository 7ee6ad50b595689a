"""Plumbing shared by train_unet.py and train_vit.py: seeding, Ctrl+C that stops at a step boundary,
optimizer steps with gradient accumulation under TinyJit, checkpoint targets that never clobber, metrics.
"""
from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Callable

import numpy as np
from tinygrad import Tensor, TinyJit
from tinygrad.helpers import Context
from tinygrad.nn.optim import Adam

from models.checkpoint import save_checkpoint
from poemap.datadir import model_path
from poemap.usererror import UserError


def seed_all(seed: int) -> np.random.Generator:
  """Seed numpy's global state and tinygrad's RNG (weights init, dropout); returns a Generator for data sampling."""
  np.random.seed(seed)
  Tensor.manual_seed(seed)
  return np.random.default_rng(seed)


class StopOnSigint:
  """The first Ctrl+C (SIGINT) sets .stop so the loop ends after the current step and saves; a second
  one raises KeyboardInterrupt as usual. Checkpoints are written atomically, so even that leaves no torn file."""
  def __init__(self): self.stop, self._old = False, None
  def _handler(self, signum, frame):
    if self.stop: raise KeyboardInterrupt
    self.stop = True
    print("\ninterrupted: finishing this step and saving a checkpoint (Ctrl+C again to abort)", flush=True)
  def __enter__(self):
    self._old = signal.signal(signal.SIGINT, self._handler)
    return self
  def __exit__(self, *exc): signal.signal(signal.SIGINT, self._old)


def checkpoint_target(out: str | os.PathLike, overwrite: bool) -> Path:
  """The path a run will write; an existing file there is refused unless overwrite (the run replaces it as it goes)."""
  p = model_path(out)
  if p.exists() and not overwrite: raise UserError(f"{p} exists; pass --overwrite to replace it, or choose another --out")
  return p


def save(model, path: Path, input_path: str | None = None) -> Path:
  """Atomic save over our own earlier checkpoint (the target was checked at start by checkpoint_target)."""
  return save_checkpoint(model, path, overwrite=True, input_path=input_path)


def scheduled_lr(step: int, lr: float, steps: int, schedule: str = "constant", warmup: int = 0, min_lr: float = 0.0) -> float:
  """The learning rate of optimizer step `step` (0-based) of `steps`: a linear warm-up over `warmup` steps,
  then `lr` ("constant") or a half cosine from `lr` down to `min_lr` at the last step ("cosine")."""
  if schedule not in ("constant", "cosine"): raise ValueError(f"schedule must be constant or cosine, got {schedule!r}")
  if step < warmup: return lr * (step + 1) / (warmup + 1)
  if schedule == "constant": return lr
  t = min(1.0, (step - warmup) / max(1, steps - 1 - warmup))
  return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))


def add_run_flags(p, out: str, init_same: str) -> None:
  """Where both training scripts read data and write their checkpoint."""
  p.add_argument("--data", default=None, help="data root (default: $POEMAP_DATA or <repo>/data)")
  p.add_argument("--out", default=out, help="checkpoint path or name under <data>/model/ (default %(default)s)")
  p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
  p.add_argument("--init", default=None, help=f"start from this checkpoint's weights (same {init_same})")


def add_optimizer_flags(p, batch: int, batch_unit: str, steps: int, schedule: str) -> None:
  """The optimizer flags both training scripts share (the schedule is read back by lr_from_args)."""
  p.add_argument("--batch", type=int, default=batch, help=f"{batch_unit} per optimizer step (default %(default)s)")
  p.add_argument("--accum", type=int, default=1, help="gradient accumulation: micro-batches per step, batch/accum each (default %(default)s)")
  p.add_argument("--lr", type=float, default=3e-4, help="Adam learning rate (default %(default)s)")
  p.add_argument("--lr-schedule", choices=("constant", "cosine"), default=schedule, help="constant, or a half cosine down to --min-lr (default %(default)s)")
  p.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate warm-up (default %(default)s)")
  p.add_argument("--min-lr", type=float, default=None, help="final learning rate of the cosine schedule (default: --lr / 20)")
  p.add_argument("--weight-decay", type=float, default=0.0, help="decoupled weight decay (default %(default)s)")
  p.add_argument("--steps", type=int, default=steps, help="optimizer steps (default %(default)s)")


def lr_from_args(a) -> Callable[[int], float]:
  min_lr = a.lr / 20 if a.min_lr is None else a.min_lr
  return lambda step: scheduled_lr(step, a.lr, a.steps, a.lr_schedule, a.warmup, min_lr)


class Stepper:
  """One optimizer step per call over `accum` micro-batches. loss_fn(*micro_batch_tensors) -> scalar loss.
  With accum > 1 the gradients are summed into persistent buffers by one TinyJit'd micro step, and a
  second TinyJit'd step applies their mean: memory of one micro-batch, result of the whole batch.
  `lr` is a number or a function of the step index (see scheduled_lr); the jitted steps read it from
  the optimizer's lr buffer, so changing it costs no recompilation."""
  def __init__(self, params: list[Tensor], loss_fn: Callable[..., Tensor], lr: float | Callable[[int], float], accum: int = 1, weight_decay: float = 0.0):
    if accum < 1: raise ValueError(f"accum must be >= 1, got {accum}")
    self.params, self.loss_fn, self.accum = params, loss_fn, accum
    self.lr_at = lr if callable(lr) else (lambda step: lr)
    self.step = 0
    self.opt = Adam(params, lr=self.lr_at(0))
    self.wd = weight_decay
    if accum > 1: self.acc = [Tensor.zeros(*p.shape, dtype=p.dtype).contiguous().realize() for p in params]
    self._full, self._micro, self._apply = TinyJit(self._full_step), TinyJit(self._micro_step), TinyJit(self._apply_step)

  def _decay(self):
    # decoupled weight decay (AdamW style) on matrices/kernels only, not norms and biases
    if self.wd: [p.assign(p * (1 - self.opt.lr * self.wd)) for p in self.params if p.ndim >= 2]

  def _full_step(self, *xs: Tensor) -> Tensor:
    with Context(TRAINING=1):
      self.opt.zero_grad()
      loss = self.loss_fn(*xs)
      loss.backward()
      self._decay()
      self.opt.step()
      return loss.realize()

  def _micro_step(self, *xs: Tensor) -> Tensor:
    with Context(TRAINING=1):
      self.opt.zero_grad()
      loss = self.loss_fn(*xs)
      loss.backward()
      Tensor.realize(loss, *[a.assign(a + p.grad) for a, p in zip(self.acc, self.params)])
      return loss

  def _apply_step(self) -> Tensor:
    with Context(TRAINING=1):
      for a, p in zip(self.acc, self.params): p.grad = a / self.accum
      self._decay()
      self.opt.step()
      Tensor.realize(*[a.assign(a.zeros_like()) for a in self.acc])
      return self.acc[0]

  def __call__(self, micro_batches: list[tuple[np.ndarray, ...]]) -> float:
    """micro_batches: `accum` tuples of equally shaped arrays; returns the mean loss."""
    if len(micro_batches) != self.accum: raise ValueError(f"want {self.accum} micro-batches, got {len(micro_batches)}")
    self.opt.lr.assign(Tensor([self.lr_at(self.step)], dtype=self.opt.lr.dtype, device=self.opt.lr.device)).realize()
    self.step += 1
    if self.accum == 1: return float(self._full(*[Tensor(a) for a in micro_batches[0]]).item())
    losses = [float(self._micro(*[Tensor(a) for a in mb]).item()) for mb in micro_batches]
    self._apply()
    return float(np.mean(losses))

  @property
  def lr(self) -> float: return float(self.opt.lr.numpy().reshape(-1)[0])


def weighted_cross_entropy(logits: Tensor, y: Tensor, weights: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
  """Mean cross-entropy of (N,C) logits vs int (N,) labels; optional per-class weights (C,) and a 0/1 (N,)
  mask of rows that count (padding rows in fixed-shape batches)."""
  nll = -(logits.log_softmax(-1) * y.one_hot(logits.shape[-1])).sum(-1)
  w = weights[y] if weights is not None else Tensor.ones(y.shape[0])
  if mask is not None: w = w * mask
  return (nll * w).sum() / w.sum().maximum(1e-8)


def wandb_run(enabled: bool, project: str, config: dict):
  """A Weights & Biases run when asked for and installed; None otherwise (it is optional)."""
  if not enabled: return None
  try: import wandb  # deferred: optional, not in the requirements; only a run that asks for it needs it
  except ImportError:
    print("wandb is not installed: logging to the console only")
    return None
  return wandb.init(project=project, config=config)

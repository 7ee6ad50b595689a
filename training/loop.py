"""The training skeleton both train_unet.py and train_vit.py run: seeding, optimizer steps with exact gradient
accumulation under TinyJit, the checkpoint rule (keep the best selection score), a resume state written at
every save point so `--resume` continues an interrupted run from its last saved step, and Ctrl+C that
finishes the step and saves. Every file is written atomically (temp file + rename): no torn checkpoint.

A run is a function of its seed: step k's data come from a generator seeded (seed, k) (the trainers' batch
functions), the weights from the seed, and tinygrad's dropout counter is part of the resume state, so a
resumed run continues as the uninterrupted one would (bit for bit on one machine).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tinygrad import Tensor, TinyJit, dtypes
from tinygrad.helpers import Context
from tinygrad.nn.optim import Adam
from tinygrad.nn.state import get_state_dict, safe_load, safe_save
from tqdm import tqdm, trange

from models.checkpoint import read_header_meta, save_checkpoint
from poemap.datadir import model_path
from poemap.fileio import atomic_write_with
from poemap.usererror import UserError

RESUME_KEY = "poemap_resume"
KEEP_RULES = ("best", "train-loss", "last", "none")  # what --out holds; "none": only the snapshots (the original UNet recipe)


def seed_all(seed: int) -> None:
  """Seed numpy's global state and tinygrad's RNG (dropout); data draws use step_rng."""
  np.random.seed(seed)
  Tensor.manual_seed(seed)


def step_rng(seed: int, step: int) -> np.random.Generator:
  """The generator of step `step`'s data: a function of (seed, step) alone, so a resumed run draws what the uninterrupted one would."""
  return np.random.default_rng([seed, step])


class StopOnSigint:
  """The first Ctrl+C (SIGINT) sets .stop so the loop ends after the current step and saves; a second
  one raises KeyboardInterrupt as usual (the last saved state stays, written atomically)."""
  def __init__(self): self.stop, self._old = False, None
  def _handler(self, signum, frame):
    if self.stop: raise KeyboardInterrupt
    self.stop = True
    tqdm.write("\ninterrupted: finishing this step and saving a checkpoint (Ctrl+C again to abort)")
  def __enter__(self):
    self._old = signal.signal(signal.SIGINT, self._handler)
    return self
  def __exit__(self, *exc): signal.signal(signal.SIGINT, self._old)


def checkpoint_target(out: str | os.PathLike, overwrite: bool, resume: bool = False) -> Path:
  """The path a run will write; an existing file there is refused unless overwrite or resume (the run replaces it as it goes)."""
  p = model_path(out)
  if resume and not resume_path(p).exists():
    raise UserError(f"--resume: no resume state {resume_path(p)} (it is written at every save point of a run)")
  if p.exists() and not (overwrite or resume): raise UserError(f"{p} exists; pass --overwrite to replace it, or choose another --out")
  return p


def resume_path(out: Path) -> Path:
  """Where a run keeps its resume state: beside --out, not matching *.safetensors (it is no model file)."""
  return out.with_name(out.name + ".resume")


def scheduled_lr(step: int, lr: float, steps: int, schedule: str = "constant", warmup: int = 0, min_lr: float = 0.0) -> float:
  """The learning rate of optimizer step `step` (0-based) of `steps`: a linear warm-up over `warmup` steps,
  then `lr` ("constant") or a half cosine from `lr` down to `min_lr` at the last step ("cosine")."""
  if schedule not in ("constant", "cosine"): raise ValueError(f"schedule must be constant or cosine, got {schedule!r}")
  if step < warmup: return lr * (step + 1) / (warmup + 1)
  if schedule == "constant": return lr
  t = min(1.0, (step - warmup) / max(1, steps - 1 - warmup))
  return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))


def add_run_flags(p: argparse.ArgumentParser, out: str, init_same: str, save_every: int) -> None:
  """Where both training scripts read data and write their checkpoint, and how often they save."""
  p.add_argument("--data", default=None, help="data root (default: $POEMAP_DATA or <repo>/data)")
  p.add_argument("--out", default=out, help="checkpoint path or name under <data>/model/ (default %(default)s)")
  p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
  p.add_argument("--init", default=None, help=f"start from this checkpoint's weights (same {init_same})")
  p.add_argument("--save-every", type=int, default=save_every,
                 help="write the resume state every N steps (and --out, where no selection set picks it) (default %(default)s)")
  p.add_argument("--resume", action="store_true", help="continue an interrupted run of the same flags from its resume state (OUT.resume)")


def add_optimizer_flags(p: argparse.ArgumentParser, batch: int, batch_unit: str, steps: int, schedule: str) -> None:
  """The optimizer flags both training scripts share (the schedule is read back by lr_from_args)."""
  p.add_argument("--batch", type=int, default=batch, help=f"{batch_unit} per optimizer step (default %(default)s)")
  p.add_argument("--accum", type=int, default=1, help="gradient accumulation: micro-batches per step, batch/accum each; "
                 "the same step as one batch, in the memory of one micro-batch (default %(default)s)")
  p.add_argument("--lr", type=float, default=3e-4, help="Adam learning rate (default %(default)s)")
  p.add_argument("--lr-schedule", choices=("constant", "cosine"), default=schedule,
                 help="constant, or a half cosine down to --min-lr (default %(default)s)")
  p.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate warm-up (default %(default)s)")
  p.add_argument("--min-lr", type=float, default=None, help="final learning rate of the cosine schedule (default: --lr / 20)")
  p.add_argument("--weight-decay", type=float, default=0.0, help="decoupled weight decay (default %(default)s)")
  p.add_argument("--steps", type=int, default=steps, help="optimizer steps (default %(default)s)")


def lr_from_args(a: argparse.Namespace) -> Callable[[int], float]:
  min_lr = a.lr / 20 if a.min_lr is None else a.min_lr
  return lambda step: scheduled_lr(step, a.lr, a.steps, a.lr_schedule, a.warmup, min_lr)


def weighted_cross_entropy(logits: Tensor, y: Tensor, weights: Tensor | None = None, mask: Tensor | None = None,
                           norm: Tensor | None = None) -> Tensor:
  """Cross-entropy of (N,C) logits vs int (N,) labels; optional per-class weights (C,) and a 0/1 (N,) mask of rows
  that count (padding rows in fixed-shape batches). The weighted mean over these rows, or with norm ((1,): one over
  the weight of the whole optimizer step) this micro-batch's share of the step's mean: what Stepper's accumulation sums."""
  nll = -(logits.log_softmax(-1) * y.one_hot(int(logits.shape[-1]))).sum(-1)
  w = weights[y] if weights is not None else Tensor.ones(y.shape[0])
  if mask is not None: w = w * mask
  if norm is not None: return ((nll * w).sum() * norm).sum()
  return (nll * w).sum() / w.sum().maximum(1e-8)


def step_norm(row_weights: list[np.ndarray]) -> np.ndarray:
  """norm for weighted_cross_entropy: one over the summed row weights of every micro-batch of a step, float32 (1,)."""
  return np.array([1 / max(float(sum(w.sum() for w in row_weights)), 1e-8)], np.float32)


class Stepper:
  """One optimizer step per call over `accum` micro-batches. loss_fn(*micro_batch_tensors) -> this micro-batch's share
  of the step's loss (weighted_cross_entropy with norm), so the summed gradients are the whole batch's. With accum > 1
  they are summed into persistent buffers by one TinyJit'd micro step, and a second TinyJit'd step applies them:
  memory of one micro-batch, result of the whole batch. `lr` is a number or a function of the step index (see
  scheduled_lr); the jitted steps read it from the optimizer's lr buffer, so changing it costs no recompilation."""
  def __init__(self, params: list[Tensor], loss_fn: Callable[..., Tensor], lr: float | Callable[[int], float], accum: int = 1,
               weight_decay: float = 0.0):
    if accum < 1: raise ValueError(f"accum must be >= 1, got {accum}")
    self.params, self.loss_fn, self.accum = params, loss_fn, accum
    self.lr_at: Callable[[int], float] = lr if callable(lr) else (lambda step: lr)
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
      # before the update: realized after it, the loss would read the new weights
      Tensor.realize(loss, *[p.grad for p in self.params if p.grad is not None])
      self._decay()
      self.opt.step()
      return loss

  def _micro_step(self, *xs: Tensor) -> Tensor:
    with Context(TRAINING=1):
      self.opt.zero_grad()
      loss = self.loss_fn(*xs)
      loss.backward()
      Tensor.realize(loss, *[a.assign(a + p.grad) for a, p in zip(self.acc, self.params)])
      return loss

  def _apply_step(self) -> Tensor:
    with Context(TRAINING=1):
      for a, p in zip(self.acc, self.params): p.grad = a
      self._decay()
      self.opt.step()
      Tensor.realize(*[a.assign(a.zeros_like()) for a in self.acc])
      return self.acc[0]

  def __call__(self, micro_batches: list[tuple[np.ndarray, ...]]) -> float:
    """micro_batches: `accum` tuples of equally shaped arrays; returns the step's loss (the sum of the micro-batches' shares)."""
    if len(micro_batches) != self.accum: raise ValueError(f"want {self.accum} micro-batches, got {len(micro_batches)}")
    self.opt.lr.assign(Tensor([self.lr_at(self.step)], dtype=self.opt.lr.dtype, device=self.opt.lr.device)).realize()
    self.step += 1
    if self.accum == 1: return float(self._full(*[Tensor(a) for a in micro_batches[0]]).item())
    losses = [float(self._micro(*[Tensor(a) for a in mb]).item()) for mb in micro_batches]
    self._apply()
    return float(np.sum(losses))

  @property
  def lr(self) -> float: return float(self.opt.lr.numpy().reshape(-1)[0])

  def state(self) -> dict[str, Tensor]:
    """Adam's moments and bias-correction products by name (the parameters are the model's)."""
    o = self.opt
    return {**{f"opt.m.{i}": t for i, t in enumerate(o.m)}, **{f"opt.v.{i}": t for i, t in enumerate(o.v)}, "opt.b1_t": o.b1_t, "opt.b2_t": o.b2_t}


def _rng_state() -> dict:
  return {"seed": Tensor._seed, "counters": {d: c.numpy().tolist() for d, c in Tensor._device_rng_counters.items()}}


def _set_rng_state(s: dict) -> None:
  Tensor.manual_seed(s["seed"])
  for dev, counter in s["counters"].items():
    Tensor._next_counter(dev, 0)  # creates the device's seed and counter buffers as the first random op would
    Tensor._device_rng_counters[dev].assign(Tensor(counter, dtype=dtypes.uint32, device=dev)).realize()


def save_state(path: Path, model, stepper: Stepper, meta: dict) -> Path:
  """The resume state: the model's weights, the optimizer's state, tinygrad's RNG and the run's bookkeeping (meta, JSON)."""
  tensors = {**{f"model.{k}": v for k, v in get_state_dict(model).items()}, **stepper.state()}
  Tensor.realize(*tensors.values())
  meta = {**meta, "step": stepper.step, "rng": _rng_state()}
  return atomic_write_with(path, lambda tmp: safe_save(tensors, tmp, {RESUME_KEY: json.dumps(meta)}), overwrite=True)


def load_state(path: Path, model, stepper: Stepper) -> dict:
  """Load a resume state into model and stepper in place; returns its bookkeeping."""
  sd = safe_load(str(path))
  meta = json.loads(read_header_meta(path.resolve())[1][RESUME_KEY])  # absolute: a bare name would be looked up under data/model/
  own = {**{f"model.{k}": v for k, v in get_state_dict(model).items()}, **stepper.state()}
  if set(own) != set(sd) or any(own[k].shape != sd[k].shape for k in own):
    raise UserError(f"{path} does not fit this run's model and optimizer (other sizes or --accum?); start afresh without --resume")
  for k, t in own.items(): t.assign(sd[k].to(t.device).cast(t.dtype)).realize()
  stepper.step = meta["step"]
  _set_rng_state(meta["rng"])
  return meta


def run_flags(a: argparse.Namespace) -> dict:
  """The flags a resumed run must share with the run it continues (--steps may grow: the schedule follows the new value)."""
  return {k: v for k, v in sorted(vars(a).items())
          if k not in ("resume", "overwrite", "steps", "wandb", "no_wait", "save_every", "eval_every", "init")}


def fit(model, stepper: Stepper, batch: Callable[[int], list[tuple[np.ndarray, ...]]], out: Path, a: argparse.Namespace, *,
        keep: str = "best", evaluate: Callable[[], dict] | None = None, score: Callable[[dict], tuple] = lambda m: (), eval_every: int = 0,
        snapshot: Callable[[int], Path] | None = None, input_path: str | None = None, desc: str = "train",
        report: Callable[[int, float, dict | None, bool], None] | None = None, run: Any = None) -> dict:
  """Train for a.steps optimizer steps: stepper(batch(step)) per step; evaluate() every eval_every steps and at the end.
  --out (out) holds, by `keep`: "best" the weights of the best score(metrics) so far (the current weights until the
  first evaluation), "train-loss" those of the lowest training loss, "last" the weights at the last save point, "none"
  nothing (snapshot(step) writes step-named files instead). At every save point (every a.save_every steps, the end, a
  stop) the resume state is written and snapshot(step) called. a.resume continues from the resume state. Returns
  {"losses", "evals": [(step, metrics)], "out", "saved": [snapshot paths], "steps", "best"}."""
  if keep not in KEEP_RULES: raise ValueError(f"keep must be one of {KEEP_RULES}, got {keep!r}")
  state = resume_path(out)
  hist: dict = {"losses": [], "evals": [], "out": out, "saved": [], "best": None}
  book: dict = {"flags": run_flags(a), "best_loss": None, "kept": False}
  if a.resume:
    book = load_state(state, model, stepper)
    now = json.loads(json.dumps(run_flags(a)))  # as the state holds them (JSON)
    if diff := sorted("--" + k.replace("_", "-") for k in set(book["flags"]) | set(now) if book["flags"].get(k) != now.get(k)):
      raise UserError(f"--resume: the run in {state} had other flags: {', '.join(diff)}")
    hist["losses"], hist["evals"], hist["best"] = book["losses"], [tuple(e) for e in book["evals"]], book["best"]
    tqdm.write(f"resumed {state} at step {stepper.step}")
  def keep_out() -> None:
    save_checkpoint(model, out, overwrite=True, input_path=input_path)
    book["kept"] = True
  def save_point() -> None:
    if keep == "last" or (keep in ("best", "train-loss") and not book["kept"]): keep_out()  # a stop before any record leaves the current weights
    if snapshot is not None: hist["saved"].append(snapshot(stepper.step))
    save_state(state, model, stepper, {**book, "losses": hist["losses"], "evals": hist["evals"], "best": hist["best"]})

  t0, start, consistent = time.time(), stepper.step, True
  with StopOnSigint() as sig:
    try:
      for step in (bar := trange(start, a.steps, initial=start, total=a.steps, desc=desc, unit="step", dynamic_ncols=True)):
        mbs = batch(step)
        consistent = False  # a hard interrupt inside the step may leave the weights half updated: then the last save stands
        loss = stepper(mbs)
        consistent = True
        hist["losses"].append(loss)
        done = step + 1
        if keep == "train-loss" and (book["best_loss"] is None or loss < book["best_loss"]):  # the original ViT recipe's rule
          book["best_loss"] = loss
          keep_out()
        metrics, better = None, False
        if evaluate is not None and (done % eval_every == 0 or done == a.steps):
          metrics = evaluate()
          hist["evals"].append((done, metrics))
          better = keep == "best" and (hist["best"] is None or score(metrics) > tuple(hist["best"]))
          if better:
            hist["best"] = list(score(metrics))
            keep_out()
        if report is not None: report(step, loss, metrics, better)
        if run is not None:
          run.log({"loss": loss, "lr": stepper.lr_at(step), **({f"eval_{k}": v for k, v in metrics.items()} if metrics else {})}, step=step)
        bar.set_postfix(loss=f"{loss:.4f}", **({"best": "/".join(f"{v:.4f}" for v in hist["best"])} if hist["best"] else {}))
        if done % a.save_every == 0 or done == a.steps or sig.stop: save_point()
        if sig.stop:
          tqdm.write(f"stopped at step {done}; `--resume` continues from here")
          break
    except KeyboardInterrupt:
      if consistent: save_point()
      raise
  if start == a.steps: save_point()  # nothing to train (--steps 0): the initial weights
  if stepper.step == a.steps and state.exists(): state.unlink()  # finished: nothing to resume
  hist["steps"] = stepper.step
  print(f"done: {stepper.step} steps ({stepper.step - start} in this run) in {time.time() - t0:.0f} s; "
        f"checkpoint {out if book['kept'] else hist['saved'][-1] if hist['saved'] else '-'}")
  return hist


def wandb_run(enabled: bool, project: str, config: dict):
  """A Weights & Biases run when asked for and installed; None otherwise (it is optional)."""
  if not enabled: return None
  try: import wandb  # deferred: optional, not in the requirements; only a run that asks for it needs it
  except ImportError:
    print("wandb is not installed: logging to the console only")
    return None
  return wandb.init(project=project, config=config)

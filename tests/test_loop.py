"""The training skeleton (training.loop): accumulated micro-batches make the full batch's step, the losses are
numpy's cross-entropy, a run stopped by Ctrl+C (or a hard KeyboardInterrupt) leaves a loadable checkpoint and a
resume state, and `--resume` continues bit for bit as the uninterrupted run would have."""
from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinygrad import Tensor

import train_unet
import train_vit
from models.checkpoint import load_unet, load_vit
from tests.test_train import UNET_MICRO, VIT_MICRO, make_tiny_data
from training import loop
from training.loop import Stepper, resume_path, step_norm, weighted_cross_entropy
from training.vitdata import EpochSteps, SampleStream, find_sources


def np_cross_entropy(logits: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, mask: np.ndarray | None = None) -> float:
  z = logits.astype(np.float64)
  logp = z - z.max(-1, keepdims=True)
  logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
  w = (weights[y] if weights is not None else np.ones(len(y))) * (mask if mask is not None else 1)
  return float(-(logp[np.arange(len(y)), y] * w).sum() / w.sum())


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 12), st.integers(2, 5), st.integers(0, 2**31))
def test_cross_entropy_matches_numpy(n, c, seed):
  rng = np.random.default_rng(seed)
  logits, y = (rng.standard_normal((n, c)) * 3).astype(np.float32), rng.integers(0, c, n).astype(np.int32)
  weights, mask = rng.uniform(0.5, 3, c).astype(np.float32), (rng.random(n) < 0.7).astype(np.float32)
  mask[0] = 1
  got = weighted_cross_entropy(Tensor(logits), Tensor(y), Tensor(weights), Tensor(mask)).item()
  assert got == pytest.approx(np_cross_entropy(logits, y, weights, mask), rel=1e-5)
  # with norm: a micro-batch's share of a step's mean; the shares of a split add up to the whole
  k = max(1, n // 2)
  norm = step_norm([weights[y] * mask])
  parts = [weighted_cross_entropy(Tensor(logits[s]), Tensor(y[s]), Tensor(weights), Tensor(mask[s]), Tensor(norm)).item()
           for s in (slice(0, k), slice(k, n)) if len(y[s])]
  assert sum(parts) == pytest.approx(np_cross_entropy(logits, y, weights, mask), rel=1e-5)


def _linear_stepper(accum: int, w0: np.ndarray, class_w: np.ndarray) -> tuple[Stepper, Tensor]:
  w = Tensor(w0.copy()).contiguous().realize()
  def loss_fn(x: Tensor, y: Tensor, m: Tensor, norm: Tensor) -> Tensor: return weighted_cross_entropy(x @ w, y, Tensor(class_w), m, norm)
  return Stepper([w], loss_fn, 0.05, accum), w


def test_accumulation_equals_the_full_batch_and_the_loss_is_numpys():
  rng = np.random.default_rng(0)
  w0 = rng.standard_normal((5, 3)).astype(np.float32)
  class_w = np.array([1.0, 4.0, 0.5], np.float32)  # unequal weights and masked rows: a mean of the micro-batches' means would differ
  steps = [(rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8).astype(np.int32), (rng.random(8) < 0.8).astype(np.float32))
           for _ in range(3)]
  runs = {}
  for accum in (1, 2, 4):
    stepper, w = _linear_stepper(accum, w0, class_w)
    losses = []
    for x, y, m in steps:
      norm = step_norm([class_w[y] * m])
      k = len(x) // accum
      losses.append(stepper([(x[s:s + k], y[s:s + k], m[s:s + k], norm) for s in range(0, len(x), k)]))
    runs[accum] = (losses, w.numpy())
  # the first step's loss is numpy's cross-entropy of the initial weights' logits
  x, y, m = steps[0]
  assert runs[1][0][0] == pytest.approx(np_cross_entropy(x @ w0, y, class_w, m), rel=1e-5)
  for accum in (2, 4):
    np.testing.assert_allclose(runs[accum][0], runs[1][0], rtol=1e-5)
    np.testing.assert_allclose(runs[accum][1], runs[1][1], atol=1e-6)
  assert not np.allclose(runs[1][1], w0)


class _Interrupt:
  """Wraps cls.name so that call `at` first sends SIGINT (soft: the loop finishes the step and saves) or raises
  KeyboardInterrupt (hard: a second Ctrl+C, here while the next batch is fetched, between two steps)."""
  def __init__(self, monkeypatch, cls, name: str, at: int, hard: bool):
    self.calls, self.at, self.hard, self.orig = 0, at, hard, getattr(cls, name)
    monkeypatch.setattr(cls, name, lambda obj, *args, **kw: self(obj, *args, **kw))
  def __call__(self, obj, *args, **kw):
    self.calls += 1
    if self.calls == self.at and self.hard: raise KeyboardInterrupt
    if self.calls == self.at: signal.raise_signal(signal.SIGINT)
    return self.orig(obj, *args, **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
  return make_tiny_data(tmp_path_factory.mktemp("data"))


UNET_ARGS = ["--config", UNET_MICRO, "--batch", "8", "--lr", "1e-2", "--steps", "6", "--save-every", "2", "--val-frac", "0"]


def test_unet_resume_after_ctrl_c_continues_bit_for_bit(tiny, tmp_path, monkeypatch):
  args = ["--data", str(tiny), *UNET_ARGS]
  whole = train_unet.train(train_unet.get_args([*args, "--out", str(tmp_path / "a.safetensors")]))
  out = tmp_path / "b.safetensors"
  with monkeypatch.context() as mp:
    _Interrupt(mp, loop.Stepper, "__call__", at=3, hard=False)
    first = train_unet.train(train_unet.get_args([*args, "--out", str(out)]))
  assert first["steps"] == 3 and resume_path(out).exists() and load_unet(out).config["mid_chan"] == 4  # a stop saves the state and --out
  with pytest.raises(Exception, match="exists"): train_unet.train(train_unet.get_args([*args, "--out", str(out)]))  # no silent restart over it
  with pytest.raises(Exception, match="other flags: --lr"):
    train_unet.train(train_unet.get_args([*args, "--lr", "1e-3", "--out", str(out), "--resume"]))
  rest = train_unet.train(train_unet.get_args([*args, "--out", str(out), "--resume"]))
  assert rest["steps"] == 6 and rest["losses"] == whole["losses"]
  assert out.read_bytes() == (tmp_path / "a.safetensors").read_bytes()
  assert not resume_path(out).exists() and not list(tmp_path.glob(".*.tmp"))  # a finished run leaves no state behind, and no temp file


def test_hard_interrupt_leaves_the_last_step_loadable_and_resumable(tiny, tmp_path, monkeypatch):
  args = ["--data", str(tiny), *VIT_MICRO, "--batch", "6", "--accum", "2", "--lr", "3e-3", "--steps", "4", "--eval-every", "2", "--eval-batch", "9",
          "--save-every", "100", "--dropout", "0.1"]
  whole = train_vit.train(train_vit.get_args([*args, "--out", str(tmp_path / "a.safetensors")]))
  out = tmp_path / "b.safetensors"
  with monkeypatch.context() as mp:
    _Interrupt(mp, SampleStream, "next", at=4, hard=True)  # fetching step 4's batch: 3 steps done, the weights consistent
    with pytest.raises(KeyboardInterrupt): train_vit.train(train_vit.get_args([*args, "--out", str(out)]))
  assert load_vit(out).config["layers"] == 1 and resume_path(out).exists()  # the best of the one evaluation so far, and the state at step 3
  rest = train_vit.train(train_vit.get_args([*args, "--out", str(out), "--resume"]))
  assert rest["losses"] == whole["losses"] and [s for s, _ in rest["test"]] == [2, 4] and rest["test"] == whole["test"]
  assert out.read_bytes() == (tmp_path / "a.safetensors").read_bytes()


def test_epoch_steps_resume_at_any_step(tiny):
  """The original recipe's epochs: a stream started at step k serves what the uninterrupted one serves from step k."""
  sources = find_sources(tiny, log=None)
  whole = EpochSteps(sources, batch=5, seed=3)
  want = [whole.next() for _ in range(7)]  # 12 samples in steps of 5: three steps an epoch, so this crosses two epoch boundaries
  for k in (1, 3, 5):
    resumed = EpochSteps(sources, batch=5, seed=3, start=k)
    for tokens, labels in want[k:]:
      got_tokens, got_labels = resumed.next()
      np.testing.assert_array_equal(got_labels, labels)
      assert all(np.array_equal(a, b) for a, b in zip(got_tokens, tokens))

"""train_unet.py, train_vit.py and prepare_vit_data.py on a tiny generated data directory: real tinygrad
steps that must lower the loss, loadable checkpoints, Ctrl+C leaving a valid checkpoint."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinygrad import Tensor

import train_unet
import train_vit
from models.checkpoint import load_tiled_unet, load_unet, load_vit, save_checkpoint
from models.config import build_unet
from models.tiled import ViTRunner
from poemap import REPO_ROOT
from poemap.datadir import write_curation_mask, write_layout, write_paths, write_unet_group
from poemap.explore import explore_map
from poemap.fileio import load_png, save_npz
from poemap.tokens import tokenize_mask
from training.loop import Stepper, scheduled_lr

LINE_RGB = (130, 60, 220)


def _lines(rng: np.random.Generator, shape: tuple[int, int], n: int) -> np.ndarray:
  m = np.zeros(shape, np.uint8)
  for _ in range(n):
    p, q = rng.integers(0, shape[1], 2), rng.integers(0, shape[0], 2)
    cv2.line(m, (int(p[0]), int(q[0])), (int(p[1]), int(q[1])), 1, 2)
  return m


def _layout_mask(label: int, size: int = 320) -> np.ndarray:
  """Class 0: horizontal corridor walls, class 1: vertical ones, class 2: a diagonal, all leaving the centre."""
  m = np.zeros((size, size), np.uint8)
  c = size // 2
  if label == 0: cv2.line(m, (c, c - 20), (size - 5, c - 20), 1, 2); cv2.line(m, (c, c + 20), (size - 5, c + 20), 1, 2)
  elif label == 1: cv2.line(m, (c - 20, c), (c - 20, size - 5), 1, 2); cv2.line(m, (c + 20, c), (c + 20, size - 5), 1, 2)
  else: cv2.line(m, (c - 20, c), (5, 5), 1, 2); cv2.line(m, (c + 20, c), (25, 5), 1, 2)
  return m


def _path(label: int, size: int = 320) -> np.ndarray:
  c = size // 2
  t = np.linspace(0, 1, 40)[:, None]
  end = {0: (c, size - 10), 1: (size - 10, c), 2: (10, 10)}[label]
  return np.round(np.array([c, c]) * (1 - t) + np.array(end) * t).astype(np.int64)


def make_tiny_data(root: Path, seed: int = 0, masks: bool = True) -> Path:
  """A data directory in the published format: 4 UNet groups of 64x64 crops (blue lines over noise),
  3 layout classes x 2 instances with paths, and a curated test tree."""
  rng = np.random.default_rng(seed)
  for g in range(4):
    mask = _lines(rng, (64, 64), 3)
    crops = []
    for _ in range(2):
      bg = rng.integers(0, 120, (64, 64, 3)).astype(np.float32)
      img = np.where(mask[..., None] > 0, 0.1 * bg + 0.9 * np.array(LINE_RGB, np.float32), bg)
      crops.append(np.clip(img, 0, 255).astype(np.uint8))
    write_unet_group(root, f"g{g}", crops, mask)
  curation: dict = {}
  for label in range(3):
    m = _layout_mask(label)
    for inst in range(2):
      d = root / "train" / str(label) / str(inst)
      img = np.where(m[..., None] > 0, np.array(LINE_RGB, np.uint8), rng.integers(0, 60, (*m.shape, 3)).astype(np.uint8)).astype(np.uint8)
      write_layout(d, 0, img, [160, 160], m if masks else None)
      write_paths(d, [_path(label), _path(label)[::2]])
    td = root / "test" / str(label) / "0"
    for i, k in enumerate((10, 25, 40)):
      tokens = tokenize_mask(explore_map(m, _path(label)[:k]), [160, 160])
      save_npz(td / f"{1000 + i}_tokens.npz", data=tokens)
    curation[str(label)] = {"0": ["1000", "1001", "1002"]}
  write_curation_mask(curation, root)
  return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
  return make_tiny_data(tmp_path_factory.mktemp("data"))


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, **kw)


UNET_MICRO = '{"arch": "UNet", "mid_chan": 4, "depth": 1}'
VIT_MICRO = ["--layers", "1", "--embed-dim", "32", "--heads", "2", "--ff-dim", "64", "--max-tokens", "16", "--classes", "3"]


def _slope_down(losses: list[float]) -> bool:
  k = max(2, len(losses) // 4)
  return float(np.mean(losses[-k:])) < float(np.mean(losses[:k]))


def test_unet_steps_lower_loss_and_write_loadable_checkpoint(tiny, tmp_path):
  out = tmp_path / "u.safetensors"
  hist = train_unet.train(train_unet.get_args(["--data", str(tiny), "--config", UNET_MICRO, "--batch", "16", "--accum", "2", "--lr", "1e-2",
                                                "--steps", "24", "--eval-every", "12", "--save-every", "12", "--class-weights", "auto",
                                                "--out", str(out)]))
  assert hist["steps"] == 24 and _slope_down(hist["losses"]), hist["losses"]
  assert [s for s, _ in hist["val"]] == [12, 24] and all(0.0 <= v["f1"] <= 1.0 for _, v in hist["val"])
  m = load_unet(out)
  assert m.config == {"arch": "UNet", "in_chan": 3, "mid_chan": 4, "out_chan": 2, "depth": 1, "width": 1}
  with pytest.raises(Exception, match="exists"):  # never clobbers without --overwrite
    train_unet.train(train_unet.get_args(["--data", str(tiny), "--config", UNET_MICRO, "--steps", "1", "--out", str(out)]))


def test_vit_steps_lower_loss_and_keep_best_checkpoint(tiny, tmp_path):
  out = tmp_path / "v.safetensors"
  sel = tmp_path / "sel"  # a separate selection root: the tiny test tree without its first layout
  shutil.copytree(tiny / "test", sel / "test")
  shutil.rmtree(min((p for p in (sel / "test").iterdir() if p.is_dir()), key=lambda p: int(p.name)))
  hist = train_vit.train(train_vit.get_args(["--data", str(tiny), "--select-data", str(sel), *VIT_MICRO, "--batch", "12", "--lr", "3e-3",
                                              "--steps", "30", "--eval-every", "10", "--eval-batch", "9", "--out", str(out)]))
  assert hist["steps"] == 30 and _slope_down(hist["losses"]), hist["losses"]
  assert len(hist["test"]) == 3
  best = max(ev["acc"] for _, ev in hist["test"])
  vit = load_vit(out)
  assert vit.config["embed_dim"] == 32 and vit.max_tokens == 16
  # the kept checkpoint is the best evaluation's: re-evaluating it gives that accuracy
  tokens, labels = train_vit.load_test(sel)
  assert 0 < len(labels) < len(train_vit.load_test(tiny)[1]) == 9
  assert train_vit.evaluate(ViTRunner(vit, batch=9), tokens, labels)["acc"] == pytest.approx(best)


def _interrupt_after_first_step(args: list[str]) -> subprocess.CompletedProcess:
  proc = subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  assert proc.stdout is not None
  seen = b""
  os.set_blocking(proc.stdout.fileno(), False)
  deadline = time.monotonic() + 500
  while b"loss=" not in seen and proc.poll() is None and time.monotonic() < deadline:  # tqdm shows the loss once a step is done
    seen += proc.stdout.read() or b""
    time.sleep(0.1)
  assert proc.poll() is None, seen.decode(errors="replace")
  proc.send_signal(signal.SIGINT)
  os.set_blocking(proc.stdout.fileno(), True)
  rest, _ = proc.communicate(timeout=300)
  return subprocess.CompletedProcess(args, proc.returncode, (seen + rest).decode(errors="replace"), "")


@pytest.mark.parametrize("kind", ["unet", "vit"])
def test_ctrl_c_leaves_valid_checkpoint(tiny, tmp_path, kind):
  out = tmp_path / f"{kind}.safetensors"
  if kind == "unet":
    args = ["train_unet.py", "--data", str(tiny), "--config", UNET_MICRO, "--batch", "16", "--steps", "100000", "--save-every", "100000",
            "--eval-every", "100000"]
  else: args = ["train_vit.py", "--data", str(tiny), *VIT_MICRO, "--batch", "12", "--steps", "100000", "--eval-every", "100000", "--eval-batch", "9"]
  r = _interrupt_after_first_step([*args, "--out", str(out)])
  assert r.returncode == 0, r.stdout
  assert "stopped at step" in r.stdout
  (load_unet if kind == "unet" else load_vit)(out)
  assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_prepare_vit_data_writes_masks_and_never_clobbers(tmp_path):
  root = make_tiny_data(tmp_path / "d", masks=False)
  ck = save_checkpoint(build_unet(json.loads(UNET_MICRO)), tmp_path / "u.safetensors")
  r = _run(["prepare_vit_data.py", "--data", str(root), "--unet", str(ck)])
  assert r.returncode == 0, r.stderr
  masks = sorted(root.glob("train/*/*/0_mask.png"))
  assert len(masks) == 6 and "wrote 6 mask(s)" in r.stdout
  m = load_png(masks[0], grey=True)
  assert m.shape == (320, 320) and set(np.unique(m)) <= {0, 255}
  # the UNet's mask as it is: a training sample cleans it once, after the fog, as the server does (poemap.tokens.mask_tokens)
  image = load_png(masks[0].with_name("0.png"))
  np.testing.assert_array_equal(m > 0, load_tiled_unet(ck, batch=64).mask(image) > 0)
  (masks[0]).write_bytes(b"not touched")
  r = _run(["prepare_vit_data.py", "--data", str(root), "--unet", str(ck)])
  assert r.returncode == 0 and "wrote 0 mask(s)" in r.stdout and "kept 6" in r.stdout
  assert masks[0].read_bytes() == b"not touched"
  r = _run(["prepare_vit_data.py", "--data", str(root), "--unet", str(ck), "--overwrite"])
  assert r.returncode == 0 and "wrote 6 mask(s)" in r.stdout and masks[0].read_bytes() != b"not touched"


def test_vit_training_names_missing_masks(tmp_path):
  root = make_tiny_data(tmp_path / "d", masks=False)
  r = _run(["train_vit.py", "--data", str(root), "--steps", "1", "--out", str(tmp_path / "v.safetensors")])
  assert r.returncode == 2 and "prepare_vit_data.py" in r.stderr


def test_vit_run_is_a_function_of_the_seed(tiny, tmp_path):
  args = ["--data", str(tiny), *VIT_MICRO, "--batch", "12", "--lr", "3e-3", "--steps", "5", "--eval-every", "100", "--eval-batch", "9"]
  a = train_vit.train(train_vit.get_args([*args, "--out", str(tmp_path / "a.safetensors")]))
  b = train_vit.train(train_vit.get_args([*args, "--out", str(tmp_path / "b.safetensors")]))
  assert a["losses"] == b["losses"]
  assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-5, 1e-1), st.integers(2, 400), st.integers(0, 50), st.floats(0.01, 0.9))
def test_scheduled_lr_warms_up_then_decays_to_min(lr, steps, warmup, min_frac):
  warmup = min(warmup, steps - 1)
  min_lr = lr * min_frac
  cos = [scheduled_lr(s, lr, steps, "cosine", warmup, min_lr) for s in range(steps)]
  const = [scheduled_lr(s, lr, steps, "constant", warmup, min_lr) for s in range(steps)]
  assert all(0 < v <= lr * (1 + 1e-12) for v in cos + const)
  assert all(a < b for a, b in zip(cos[:warmup], cos[1:warmup + 1]))  # warm-up climbs
  assert all(b <= a * (1 + 1e-12) for a, b in zip(cos[warmup:], cos[warmup + 1:]))  # then only falls
  assert cos[warmup] == pytest.approx(lr) and const[warmup:] == [lr] * (steps - warmup)
  if steps - warmup > 1: assert cos[-1] == pytest.approx(min_lr, abs=1e-15)
  with pytest.raises(ValueError, match="schedule"): scheduled_lr(0, lr, steps, "linear")


def test_stepper_applies_the_schedule_each_step():
  w = Tensor([[1.0, -2.0]]).contiguous().realize()
  sched = lambda s: scheduled_lr(s, 0.1, 6, "cosine", 2, 0.01)
  stepper = Stepper([w], lambda x: ((w * x) ** 2).sum(), sched)
  seen = []
  for _ in range(6):
    stepper([(np.ones((1, 2), np.float32),)])
    seen.append(stepper.lr)
  assert seen == pytest.approx([sched(s) for s in range(6)], rel=1e-6)
  assert seen[1] > seen[0] and seen[-1] == pytest.approx(0.01, rel=1e-6)

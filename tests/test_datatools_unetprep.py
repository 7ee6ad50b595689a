"""prepare_unet_data.py: clean + noisy screenshots → aligned ½-scale crops and a ground-truth mask."""
import json

import cv2
import numpy as np
import pytest

from poemap.datadir import read_unet_groups
from poemap.fileio import load_npz_data, save_png
from tests.datatools_run import run, tree, user_error

colorfilter = pytest.importorskip("poemap.colorfilter")
H, W, BLUE = 540, 960, np.array([130, 90, 230], np.float32)
rng = np.random.default_rng(1)
LINES = np.zeros((150, 200), np.uint8)
for _ in range(10):
  a, b = rng.integers(5, [195, 145], size=(2, 2))
  cv2.line(LINES, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, 2)
ICON = np.zeros((12, 12, 3), np.uint8)
ICON[5:7, :] = ICON[:, 5:7] = (240, 240, 60)  # a player-icon-like cross that moves with the map


def screen(bg, y, x, alpha=0.75):
  """The minimap overlay (semi-transparent blue lines + icon) at (y, x) over a background."""
  img = bg.astype(np.float32)
  reg = img[y:y + 150, x:x + 200]
  reg[LINES > 0] = alpha * BLUE + (1 - alpha) * reg[LINES > 0]
  img = img.astype(np.uint8)
  img[y + 70:y + 82, x + 90:x + 102] = ICON
  return img


def noise_bg(seed):
  bg = cv2.GaussianBlur(np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8), (0, 0), 2)
  return bg


def shrink(a): return cv2.resize(a, (a.shape[1] // 2, a.shape[0] // 2), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  inp = tmp_path_factory.mktemp("shots")
  offsets = {"lines": [(300, 700), (17, 33), (201, 480)], "icon": [(300, 10), (64, 640)]}
  for g, offs in offsets.items():
    save_png(inp / "maps" / g / "clean.png", screen(np.full((H, W, 3), 8, np.uint8), 100, 200, 1.0))
    for i, (y, x) in enumerate(offs): save_png(inp / "maps" / g / "noisy" / f"{i}.png", screen(noise_bg(10 * i + len(g)), y, x))
  save_png(inp / "maps" / "lines" / "noisy" / "9_nomap.png", noise_bg(99))  # forgot the minimap: must be skipped
  save_png(inp / "maps" / "icon" / "noisy" / "8_edge.png", screen(noise_bg(7), 390, 10))  # crop region partly off screen
  (inp / "maps" / "icon" / "boxes.json").write_text(json.dumps({"crop": [90, 190, 260, 410], "anchor": [168, 288, 184, 304]}))
  for i in range(2): save_png(inp / "background" / "bg" / f"{i}.png", noise_bg(50 + i))
  return inp, offsets


def test_prepare_aligns_exactly(tmp_path, inputs):
  inp, offsets = inputs
  out = tmp_path / "data"
  r = run("prepare_unet_data.py", inp, "--data", out)
  assert r.returncode == 0, r.stderr
  assert "skipped" in r.stdout and "9_nomap.png" in r.stdout and "8_edge.png" in r.stdout and "off screen" in r.stdout
  groups = {g: ([load_npz_data(c) for c in cs], load_npz_data(m)) for g, cs, m in read_unet_groups(out)}
  assert sorted(groups) == ["bg", "icon", "lines"]
  clean = screen(np.full((H, W, 3), 8, np.uint8), 100, 200, 1.0)
  full = colorfilter.color_filter_mask(clean)
  ys, xs = np.nonzero(full)
  boxes = {"lines": (ys.min() - 8, xs.min() - 8, ys.max() + 9, xs.max() + 9), "icon": (90, 190, 260, 410)}
  for g, (y0, x0, y1, x1) in boxes.items():
    y1, x1 = y0 + (y1 - y0) // 2 * 2 + (y1 - y0) % 2 * 2, x0 + (x1 - x0) // 2 * 2 + (x1 - x0) % 2 * 2  # grown to even sides
    crops, mask = groups[g]
    assert len(crops) == len(offsets[g])
    assert np.array_equal(mask, colorfilter.color_filter_mask(shrink(clean[y0:y1, x0:x1])))
    assert full[y0:y1, x0:x1].sum() == full.sum()  # no line left outside the crop
    for i, (oy, ox) in enumerate(offsets[g]):
      shot = screen(noise_bg(10 * i + len(g)), oy, ox)
      dy, dx = oy - 100, ox - 200
      assert np.array_equal(crops[i], shrink(shot[y0 + dy:y1 + dy, x0 + dx:x1 + dx])), (g, i)
  crops, mask = groups["bg"]
  assert len(crops) == 2 and mask.shape == (H // 2, W // 2) and not mask.any() and crops[0].shape == (H // 2, W // 2, 3)
  before = tree(out)
  r = run("prepare_unet_data.py", inp, "--data", out)  # a rerun keeps what exists
  assert r.returncode == 0 and r.stdout.count("left as it is") == 3 and tree(out) == before


def test_prepare_bad_inputs(tmp_path, inputs):
  out = tmp_path / "data"
  user_error(run("prepare_unet_data.py", tmp_path / "nope", "--data", out), "nope")
  user_error(run("prepare_unet_data.py", tmp_path, "--data", out), "maps/")
  bad = tmp_path / "bad"
  save_png(bad / "maps" / "g" / "noisy" / "0.png", noise_bg(1))
  user_error(run("prepare_unet_data.py", bad, "--data", out), "clean.png")
  save_png(bad / "maps" / "g" / "clean.png", np.full((H, W, 3), 8, np.uint8))
  user_error(run("prepare_unet_data.py", bad, "--data", out), "no minimap line pixels")
  (bad / "maps" / "g" / "boxes.json").write_text('{"crop": [5, 5, 1, 1]}')
  user_error(run("prepare_unet_data.py", bad, "--data", out), "boxes.json")
  user_error(run("prepare_unet_data.py", inputs[0], "--groups", "zzz", "--data", out), "zzz")
  assert not out.exists()

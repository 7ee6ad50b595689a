"""Capture sources: the capture-square geometry, replays, and live mss capture of a real X screen
(Xvfb, started here on a free display) that shows rendered synthetic-Coast screens full size in an
OpenCV window, stitched back to the simulated player's true path."""
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest

from poemap import REPO_ROOT
from poemap.sim.session import make_session, save_session
from poemap.stitch import MinimapCanvas
from stream.capture import CAPTURE_SIDE, ReplaySource, ScreenSource, Ticker, capture_box, to_pipeline_scale

HAS_XVFB = shutil.which("Xvfb") is not None
needs_xvfb = pytest.mark.skipif(not HAS_XVFB, reason="Xvfb is not installed")


@contextmanager
def xvfb(width: int = 1920, height: int = 1080):
  """A fresh X server on a display number it picks itself (-displayfd: no races with other tests)."""
  x = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
  assert x.stdout is not None
  try:
    line = x.stdout.readline().decode().strip()
    assert line.isdigit(), f"Xvfb did not report a display (exit {x.poll()})"
    yield f":{line}"
  finally:
    x.terminate()
    try: x.wait(10)
    except subprocess.TimeoutExpired: x.kill(); x.wait()


def helper(display: str, code: str) -> subprocess.Popen:
  """A Python process on `display` that takes commands on stdin and answers on stdout."""
  env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO_ROOT), "QT_LOGGING_RULES": "*=false"}
  return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, bufsize=1)


def ask(p: subprocess.Popen, cmd: str) -> str:
  assert p.stdin is not None and p.stdout is not None
  p.stdin.write(cmd + "\n"); p.stdin.flush()
  out = p.stdout.readline()
  assert out, f"helper died (exit {p.poll()})"
  return out.strip()


# ---- geometry

@pytest.mark.parametrize("w,h", [(3840, 2160), (1920, 1080), (2560, 1440), (3440, 1440), (1280, 720)])
def test_capture_box_scales_the_4k_geometry(w, h):
  b = capture_box({"left": 0, "top": 0, "width": w, "height": h})
  s = h / 2160
  assert b["width"] == b["height"] == round(1200 * s)
  assert abs(b["left"] + b["width"] / 2 - w / 2) <= 1 and abs(b["top"] + b["height"] / 2 - 1060 * s) <= 1
  if (w, h) == (3840, 2160): assert b == {"left": 1320, "top": 460, "width": 1200, "height": 1200}


def test_capture_box_on_a_second_monitor_is_offset():
  a = capture_box({"left": 0, "top": 0, "width": 1920, "height": 1080})
  b = capture_box({"left": 3840, "top": -200, "width": 1920, "height": 1080})
  assert (b["left"] - a["left"], b["top"] - a["top"]) == (3840, -200)


def test_capture_box_rejects_impossible_monitors():
  with pytest.raises(ValueError, match="too small"): capture_box({"left": 0, "top": 0, "width": 10, "height": 1080})
  with pytest.raises(ValueError, match="narrower"): capture_box({"left": 0, "top": 0, "width": 800, "height": 2160})


def test_frames_are_brought_to_the_pipeline_scale():
  f = np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)
  assert to_pipeline_scale(f).shape == (CAPTURE_SIDE, CAPTURE_SIDE, 3)
  g = np.zeros((1200, 1200, 3), np.uint8)
  assert to_pipeline_scale(g) is g


def test_ticker_rejects_bad_rates():
  for bad in (0, -1, float("nan")):
    with pytest.raises(ValueError): Ticker(bad)


def test_replay_source_yields_every_frame_then_none(tmp_path):
  s = make_session(4, 5, n_frames=3, resolution=(1280, 720))
  p = save_session(tmp_path / "s.npz", s)
  src = ReplaySource(p)
  got = [src.grab() for _ in range(4)]
  assert [g is None for g in got] == [False, False, False, True]
  assert all(g.shape == (CAPTURE_SIDE, CAPTURE_SIDE, 3) and g.dtype == np.uint8 for g in got[:3])
  assert src.layout_id == 4 and np.allclose(src.positions, s["positions"] * CAPTURE_SIDE / s["frames"].shape[1])
  with pytest.raises(FileNotFoundError): ReplaySource(tmp_path / "missing.npz")


# ---- live capture of a real screen

SCREEN_PLAYER = r"""
import sys, cv2, mss, numpy as np
from stream.capture import capture_box
from poemap.sim.layout import make_layout
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, make_world, render_screen
W, H, N = {w}, {h}, {n}
layout = make_layout({layout}, {seed}); walk = walk_full(layout, {seed}, N); world = make_world(layout, {seed}); reveal = Reveal(layout.shape)
def open_window():
  cv2.namedWindow("game", cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL); cv2.moveWindow("game", 0, 0)
def show(img): cv2.imshow("game", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
open_window()
sct = (getattr(mss, "MSS", None) or mss.mss)(); box = capture_box({{"left": 0, "top": 0, "width": W, "height": H}})
for t in range(N):
  reveal.visit(walk.trails[t])
  img = render_screen(world, walk.positions[t], reveal.mask, t, (W, H))
  cmd = sys.stdin.readline()
  if not cmd: break
  show(img)
  # X draws when it gets to it: under load a grab right after imshow may still show the last frame, or none at all. And
  # Qt can lose a new window's MapNotify (as OverlayWindow.show says): the screen stays black for good while the window
  # reports itself at 0,0 full size (1 first window in 4 to 8 on a loaded 2-core machine; failed CI once). Only a new
  # window is painted. Say "shown" only once the screen shows this frame where the capture looks, "unseen" after 10 s
  want = img[box["top"]:box["top"] + box["height"], box["left"]:box["left"] + box["width"]].astype(np.int16)
  seen = False
  for i in range(1, 501):
    cv2.waitKey(20)
    if seen := np.abs(np.asarray(sct.grab(box))[..., 2::-1] - want).mean() < 1: break
    if i % 50 == 0:
      cv2.destroyAllWindows(); cv2.waitKey(20); open_window(); show(img)
  print("shown" if seen else "unseen", t, *walk.positions[t], flush=True)
"""


@needs_xvfb
def test_live_mss_capture_of_a_rendered_game_screen_stitches_the_true_path():
  n = 8
  with xvfb(1920, 1080) as display:
    game = helper(display, SCREEN_PLAYER.format(w=1920, h=1080, n=n, layout=2, seed=31))
    try:
      src = ScreenSource(1, display)
      assert src.box == {"left": 660, "top": 230, "width": 600, "height": 600}
      truth, canvas, accepted = [], None, 0
      for t in range(n):
        reply = ask(game, "next").split()
        assert reply[:2] == ["shown", str(t)], f"the X screen never showed frame {t} where the capture looks: {reply}"
        truth.append([float(reply[2]), float(reply[3])])
        frame = src.grab()
        assert frame.shape == (1200, 1200, 3) and frame.dtype == np.uint8
        if canvas is None: canvas = MinimapCanvas(frame); accepted += 1
        else: accepted += canvas.add(frame)
      src.close()
    finally:
      game.stdin.close(); game.kill(); game.wait()
  truth = np.array(truth) - truth[0]  # 4K minimap px = pipeline px
  assert np.abs(truth[-1]).max() > 150, "the walk should move the player"
  assert accepted >= n - 1
  est = canvas.position - canvas.origin
  # ~1000 px walked; sub-pixel phase correlation keeps the sum of 7 steps within a few px
  assert np.abs(est - truth[-1]).max() < 10, (est, truth[-1])

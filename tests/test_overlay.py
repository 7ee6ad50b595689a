"""The guide overlay: when the guide switches (no flicker), the composed picture, PNG output, and the
real always-on-top OpenCV window on an Xvfb screen, screenshotted with mss."""
import json
import time

import mss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poemap.fileio import load_png, save_png
from stream.overlay import PANEL_H, STATUS_TEXT, Guides, GuideSelector, Overlay, PngSink, compose, fit
from tests.test_capture import ask, helper, needs_xvfb, xvfb

MAGENTA, GREEN = (255, 0, 255), (0, 255, 0)


def onehot(i, p=0.5, n=9):
  probs = [(1 - p) / (n - 1)] * n
  probs[i] = p
  return probs


def distinctive_guide(h=300, w=400):
  """Magenta and green halves with a white cross: colours nothing else in the overlay uses."""
  g = np.zeros((h, w, 3), np.uint8)
  g[:, : w // 2], g[:, w // 2:] = MAGENTA, GREEN
  g[h // 2 - 3:h // 2 + 3], g[:, w // 2 - 3:w // 2 + 3] = 255, 255
  return g


# ---- the selector

def test_guide_switches_only_when_stable_or_confident():
  s = GuideSelector(k=3, threshold=0.8)
  assert s.update("no_features") is None and s.status == "waiting"
  assert s.update("ok", 2, onehot(2, 0.7)) is None
  assert s.update("ok", 5, onehot(5, 0.7)) is None          # flicker between 2 and 5: nothing shown
  assert s.update("ok", 2, onehot(2, 0.7)) is None
  assert s.update("ok", 2, onehot(2, 0.5)) is None          # below the floor: a repeated unsure answer is no evidence
  assert s.update("ok", 2, onehot(2, 0.7)) is None
  assert s.update("ok", 2, onehot(2, 0.7)) is None
  assert s.update("ok", 2, onehot(2, 0.7)) == 2 and s.status == "stable"
  assert s.update("ok", 7, onehot(7, 0.7)) == 2 and s.status == "guessing"   # one different guess does not switch
  assert all(s.update("ok", 4, onehot(4, 0.5)) == 2 for _ in range(6))   # nor any number of unsure ones
  assert s.update("ok", 7, onehot(7, 0.9)) == 7 and s.status == "confident"
  assert s.update("no_features") == 7                  # no features keeps the last guide
  assert s.update("unreachable") == 7 and s.status == "unreachable"
  assert s.update("error") == 7 and s.status == "error"
  s.reset()
  assert s.shown is None and s.status == "waiting"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ok", "no_features", "error", "unreachable"]), st.integers(0, 8),
                          st.floats(0.12, 1.0)), max_size=40), st.integers(1, 5), st.floats(0.3, 1.0), st.booleans())
def test_every_switch_is_backed_by_confidence_or_k_equal_results(events, k, thr, late):
  # late (a canvas begun past the entrance): no switch at all
  s = GuideSelector(k, thr, late)
  oks = []
  for status, lid, p in events:
    before = s.shown
    shown = s.update(status, lid, onehot(lid, p))
    if status == "ok": oks.append(lid if p >= s.floor else -1)
    if shown != before:
      assert status == "ok" and shown == lid and not late
      assert p >= thr or (len(oks) >= k and set(oks[-k:]) == {lid})
    elif status != "ok": assert shown == before
    if late: assert shown is None and (status != "ok" or s.status == "late")


def test_a_late_selector_never_shows_a_layout_and_says_why():
  s = GuideSelector(k=3, threshold=0.8, late=True)
  assert all(s.update("ok", 4, onehot(4, 0.99)) is None for _ in range(5)) and s.status == "late"
  assert "past the entrance" in STATUS_TEXT[s.status]
  assert GuideSelector(k=3, threshold=0.8).update("ok", 4, onehot(4, 0.99)) == 4


def test_selector_rejects_bad_settings():
  with pytest.raises(ValueError): GuideSelector(0, 0.5)
  with pytest.raises(ValueError): GuideSelector(3, 1.5)
  with pytest.raises(ValueError): GuideSelector(3, 0.8, floor=-0.1)


# ---- the picture

@pytest.mark.parametrize("h,w", [(300, 400), (2000, 500), (100, 3000), (1000, 1200)])
def test_fit_keeps_aspect_and_bounds(h, w):
  f = fit(np.zeros((h, w, 3), np.uint8))
  assert f.shape[0] <= 1000 and f.shape[1] <= 1200 and (f.shape[0] == 1000 or f.shape[1] == 1200)
  assert abs(f.shape[1] / f.shape[0] - w / h) < 0.02 * w / h


def test_compose_puts_the_guide_under_the_panel():
  g = distinctive_guide()
  img = compose(g, 3, "confident", onehot(3, 0.9))
  assert img.dtype == np.uint8 and img.shape == (PANEL_H + 300, 480, 3)
  assert np.array_equal(img[PANEL_H:, :400], g)
  panel = img[:PANEL_H]
  assert (panel != 16).any()  # text and bars drawn
  empty = compose(None, None, "waiting")
  assert not ((empty == MAGENTA).all(-1)).any()


def test_missing_guide_image_gives_a_placeholder(tmp_path):
  guides = Guides("nowhere", tmp_path)
  assert guides.get(4) is None and guides.available() == []
  (tmp_path / "user" / "nowhere").mkdir(parents=True)
  (tmp_path / "user" / "nowhere" / "4.png").write_bytes(b"not a png")
  assert Guides("nowhere", tmp_path).get(4) is None


def test_overlay_writes_pngs_only_when_the_picture_changes(tmp_path):
  save_png(tmp_path / "data" / "user" / "a" / "3.png", distinctive_guide())
  ov = Overlay("a", PngSink(tmp_path / "out"), tmp_path / "data", k=2, threshold=0.95)
  assert ov.render("0") is not None
  assert ov.render("1") is None
  ov.update("ok", 3, onehot(3, 0.7)); ov.render("2")
  ov.update("ok", 3, onehot(3, 0.7)); ov.render("3")
  assert ov.sel.shown == 3
  files = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
  assert files == ["overlay_0.png", "overlay_2.png", "overlay_3.png"]
  last = load_png(tmp_path / "out" / "overlay_3.png")
  assert last.shape == (PANEL_H + 900, 1200, 3)  # 300x400 fitted into 1000x1200: x3
  assert (last == MAGENTA).all(-1).sum() > 0.45 * 900 * 1200


# ---- the real window

WINDOW = r"""
import select, sys, cv2
from stream.overlay import Overlay, OverlayWindow
ov = Overlay("demoarea", OverlayWindow("poemap test"), {root!r}, k=1)
while True:
  ov.pump(20)  # keep the window painting between commands, as the client's loop does
  if not select.select([sys.stdin], [], [], 0)[0]: continue
  line = sys.stdin.readline()
  if not line: break
  if line.startswith("show"):
    i = int(line.split()[1])
    ov.update("ok", i, [0.9 if j == i else 0.0125 for j in range(9)])
  elif line.startswith("wait"): ov.update("no_features")
  ov.render()
  top = int(cv2.getWindowProperty("poemap test", cv2.WND_PROP_TOPMOST))
  print("shown" if line.startswith("show") else "kept", ov.sel.shown, top, flush=True)
ov.close()
"""


@needs_xvfb
def test_overlay_window_shows_the_guide_on_screen(tmp_path):
  save_png(tmp_path / "user" / "demoarea" / "6.png", distinctive_guide(600, 800))
  with xvfb(1600, 1200) as display:
    p = helper(display, WINDOW.format(root=str(tmp_path)))
    try:
      assert ask(p, "show 6").split()[:2] == ["shown", "6"]
      seen = None
      for _ in range(120):  # a loaded machine may need a while to map and paint the window
        with mss.MSS(display=display) as sct: shot = np.asarray(sct.grab(sct.monitors[1]))[..., 2::-1]
        mag, grn = (shot == MAGENTA).all(-1).sum(), (shot == GREEN).all(-1).sum()
        if mag > 50_000 and grn > 50_000: seen = (mag, grn); break
        time.sleep(0.25)
      assert seen is not None, "the guide's colours are not on the screen"
      assert ask(p, "wait").split()[:2] == ["kept", "6"]
      with mss.MSS(display=display) as sct: shot = np.asarray(sct.grab(sct.monitors[1]))[..., 2::-1]
      assert (shot == MAGENTA).all(-1).sum() > 50_000  # no_features keeps the guide on screen
    finally:
      p.stdin.close()
      try: p.wait(10)
      except Exception: p.kill(); p.wait()


# ---- the two window modes

MODES_WINDOW = r"""
import json, select, sys, time, cv2
from stream.overlay import Overlay, OverlayWindow
notes, changes = [], []
win = OverlayWindow("poemap modes", mode={mode!r}, rects={rects!r}, on_change=changes.append, log=notes.append, settle_s=0.2)
ov = Overlay("demoarea", win, {root!r}, k=1)
while True:
  ov.render(); ov.pump(20)
  if not select.select([sys.stdin], [], [], 0)[0]: continue
  cmd = sys.stdin.readline().split()
  if not cmd: break
  if cmd[0] == "show": ov.update("ok", int(cmd[1]), [0.9 if j == int(cmd[1]) else 0.0125 for j in range(9)])
  elif cmd[0] == "resize": cv2.resizeWindow("poemap modes", int(cmd[1]), int(cmd[2]))  # as the player's drag does
  elif cmd[0] == "key": win.key(ord(cmd[1]))  # as if pressed in the window
  elif cmd[0] == "hide": ov.toggle()
  end = time.monotonic() + 0.6  # let the window settle: paint, report its new size, remember it
  while time.monotonic() < end: ov.render(); ov.pump(20)
  print(json.dumps({{"rect": win.rect(), "open": win.open, "mode": win.mode, "opacity": win.opacity, "changes": changes, "notes": notes,
                    "picture": list(win.picture.shape) if win.picture is not None else None}}), flush=True)
ov.close()
print(json.dumps({{"changes": changes}}), flush=True)
"""


def guide_box(display, tries=120):
  """Bounding box (x0, y0, x1, y1) of the guide's magenta half on the screen, once it is painted; None if never."""
  for _ in range(tries):
    with mss.MSS(display=display) as sct: shot = np.asarray(sct.grab(sct.monitors[1]))[..., 2::-1]
    ys, xs = np.nonzero((shot == MAGENTA).all(-1))
    if len(xs) > 2000: return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    time.sleep(0.25)
  return None


@needs_xvfb
@pytest.mark.parametrize("mode", ["overlay", "windowed"])
def test_both_modes_draw_the_guide_at_the_window_size_follow_a_resize_and_hide(tmp_path, mode):
  save_png(tmp_path / "user" / "demoarea" / "6.png", distinctive_guide(600, 800))
  rects = {"overlay": [100, 80, 400, 500], "windowed": [700, 60, 640, 760]}
  with xvfb(1600, 1200) as display:
    p = helper(display, MODES_WINDOW.format(mode=mode, rects=rects, root=str(tmp_path)))
    try:
      st = json.loads(ask(p, "show 6"))
      x, y, w, h = rects[mode]
      assert st["mode"] == mode and st["rect"] == [x, y, w, h] and st["picture"] == [h, w, 3]  # composed at the window's size
      b = guide_box(display)
      assert b is not None, "the guide is not on the screen"
      # inside the window, the left half of a 4:3 guide as wide as the window (aspect kept)
      assert x <= b[0] and b[2] <= x + w // 2 + 2 and y <= b[1] and b[3] <= y + h
      assert abs((b[2] - b[0]) - w / 2) <= 4 and abs((b[3] - b[1]) / (b[2] - b[0]) - 1.5) < 0.05
      if mode == "overlay": assert any("borderless" in n for n in st["notes"])  # Linux: one notice, no crash
      else: assert st["notes"] == []
      st = json.loads(ask(p, "resize 900 700"))
      assert st["rect"] == [x, y, 900, 700] and st["picture"] == [700, 900, 3]
      assert {mode: [x, y, 900, 700]} in st["changes"]  # remembered once settled
      b2 = None
      for _ in range(40):  # the bigger picture is painted
        b2 = guide_box(display)
        if b2 is not None and (b2[2] - b2[0]) > (b[2] - b[0]) * 1.3: break
        time.sleep(0.25)
      gh = 700 - round(PANEL_H * min(1.0, 900 / 640))  # the guide's room under the panel: height-bound now
      assert abs((b2[3] - b2[1]) - gh) <= 4 and abs((b2[2] - b2[0]) - gh * 4 / 3 / 2) <= 6
      st = json.loads(ask(p, "hide"))
      assert not st["open"] and guide_box(display, tries=8) is None
      st = json.loads(ask(p, "hide"))  # the hotkey again: back where it was, drawn anew
      assert st["open"] and st["rect"] == [x, y, 900, 700] and guide_box(display) is not None
      other = "windowed" if mode == "overlay" else "overlay"
      st = json.loads(ask(p, "key m"))  # m in the window switches the mode, to the other mode's place
      assert st["mode"] == other and st["rect"] == rects[other] and {"mode": other} in st["changes"]
      assert st["picture"] == [rects[other][3], rects[other][2], 3]
    finally:
      p.stdin.close()
      try: p.wait(10)
      except Exception: p.kill(); p.wait()

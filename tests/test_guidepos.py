"""'You are here' registration (poemap.guidepos), guide metadata and the sim's truth (poemap.sim.guides)."""
import json
import subprocess
import sys
import time

import mss
import numpy as np
import pytest

from poemap import REPO_ROOT
from poemap.fileio import load_png, save_png
from poemap.guidepos import CAL_ENTRANCE, MIN_CONC, GuideMeta, GuideRef, Placement, load_meta, meta_path, register, save_meta
from poemap.sim.guides import GUIDE_SEED, _pairs, guide_image, guide_meta, guide_truth, to_guide
from poemap.sim.layout import half_scale, make_layout
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal
from stream.guidemarker import Tracker, draw, exit_direction
from stream.overlay import MAX_GUIDE, fit
from tests.test_capture import HAS_XVFB, helper, xvfb


def revealed(layout_id: int, seed: int, frames: int):
  """(1/2-scale line mask revealed by a walk's first `frames` frames, origin, player position), all 1/2-scale px."""
  lay = make_layout(layout_id, seed)
  w = walk_full(lay, seed, frames)
  rev = Reveal(lay.shape)
  for tr in w.trails: rev.visit(tr)
  return half_scale(lay.lines & (rev.mask > 0)), lay.entrance / 2, w.positions[-1] / 2


def test_known_transform_recovered():
  # the guide is the instance's own lines at a known scale and shift; the metadata is off by both
  mask, origin, pos = revealed(3, 11, 25)
  s_true, shift = 0.43, np.array([7.0, -5.0])
  ys, xs = np.nonzero(mask)
  E_true = np.array([200.0, 90.0])
  g = E_true + s_true * (np.stack([ys, xs], 1) - origin) + shift
  img = np.zeros((520, 920, 3), np.uint8)
  ok = (g[:, 0] >= 0) & (g[:, 0] < 519) & (g[:, 1] >= 0) & (g[:, 1] < 919)
  img[np.round(g[ok, 0]).astype(int), np.round(g[ok, 1]).astype(int)] = (120, 150, 255)
  meta = GuideMeta(tuple(E_true), s_true / 1.05, [], (520, 920), (120, 150, 255))  # scale 5 % off, shift unknown
  p = register(mask, origin, pos, GuideRef(img, meta))
  want = E_true + s_true * (pos - origin) + shift
  assert p.status == "registered" and p.conc >= MIN_CONC and p.quality > 0, p
  assert np.hypot(*(np.asarray(p.yx) - want)) < 2.5, (p.yx, want)
  naive = np.asarray(meta.entrance) + meta.scale * (pos - origin)
  assert np.hypot(*(naive - want)) > 10  # the metadata alone is well off: the lines did the work


def test_tracks_a_walk_on_a_guide_of_its_own_instance():
  # frame by frame with the last placement as the prior, as the client does: where the guide's walls
  # are the instance's own (no jitter between them) the filter follows the player to a pixel
  l, seed, n = 2, 5, 24
  lay = make_layout(l, seed)
  w, rev = walk_full(lay, seed, n), Reveal(lay.shape)
  ref = GuideRef(guide_image(l, seed), guide_meta(l, seed))
  p = None
  for t in range(n):
    rev.visit(w.trails[t])
    p = register(half_scale(lay.lines & (rev.mask > 0)), lay.entrance / 2, w.positions[t] / 2, ref, p)
    assert p.status == "registered" and p.belief is not None, (t, p)
    assert np.hypot(*(np.asarray(p.yx) - to_guide(lay, w.positions[t]))) < 2.0, (t, p.yx)


def test_wrong_layout_scores_low():
  mask, origin, pos = revealed(0, 21, 40)
  right = register(mask, origin, pos, GuideRef(guide_image(0), guide_meta(0)))
  for wrong_id in (3, 5):  # another family: it leaves the entrance another way
    wrong = register(mask, origin, pos, GuideRef(guide_image(wrong_id), guide_meta(wrong_id)))
    assert wrong.quality < right.quality / 2 and right.status == "registered", (wrong, right)  # the calibrated chance too
    assert wrong.status == "entrance" and "do not match" in wrong.reason


def test_few_lines_and_no_metadata_say_why():
  mask, origin, pos = revealed(1, 5, 1)
  ref = GuideRef(guide_image(1), guide_meta(1))
  p = register(np.zeros_like(mask), origin, pos, ref)
  assert p.status == "entrance" and "revealed" in p.reason and p.yx == pytest.approx(ref.meta.entrance, abs=0.5)
  assert p.quality == CAL_ENTRANCE  # the calibrated chance of entrance + scale, not the belief's
  p = register(mask, origin, pos, GuideRef(guide_image(1), None))
  assert p.yx is None and p.status == "none" and "metadata" in p.reason


def test_lines_alone_without_entrance():
  mask, origin, pos = revealed(6, 3, 40)
  m = guide_meta(6, 3)  # the guide drawn from this very instance: its lines are the mask's
  ref = GuideRef(guide_image(6, 3), GuideMeta(None, m.scale, [], m.size, m.line_rgb))
  p = register(mask, origin, pos, ref)
  want = np.asarray(m.entrance) + m.scale * (pos - origin)
  assert p.status == "lines" and np.hypot(*(np.asarray(p.yx) - want)) < 4, (p, want)


def test_meta_roundtrip_resize_and_errors(tmp_path):
  png = save_png(tmp_path / "4.png", np.zeros((100, 200, 3), np.uint8))
  assert load_meta(png) is None
  m = GuideMeta((10.0, 20.0), 0.5, [("exit", (50.0, 150.0))], (100, 200), (1, 2, 3))
  save_meta(png, m)
  assert load_meta(png) == m and m.exits() == [(50.0, 150.0)]
  r = m.resized(200, 400)
  assert r.entrance == (20.0, 40.0) and r.scale == 1.0 and r.points[0][1] == (100.0, 300.0)
  meta_path(png).write_text(json.dumps({"entrance": [1], "scale": 1}))
  with pytest.raises(ValueError, match="entrance"): load_meta(png)
  meta_path(png).write_text("{")
  with pytest.raises(ValueError, match="JSON"): load_meta(png)
  # the window's tracker tells a broken file from a missing one, and places no marker on either
  p = Tracker().update(png, np.zeros((64, 64, 3), np.uint8), (32, 32), (32, 32))
  assert p.yx is None and p.status == "none" and "unusable guide metadata" in p.reason and "JSON" in p.reason
  meta_path(png).unlink()
  assert "no metadata" in Tracker().update(png, np.zeros((64, 64, 3), np.uint8), (32, 32), (32, 32)).reason


def test_sim_guides_carry_metadata():
  for l in (0, 4, 8):
    png = REPO_ROOT / "data" / "user" / "synthetic_coast" / f"{l}.png"
    m = load_meta(png)
    assert m == guide_meta(l) and m.size == load_png(png).shape[:2] and m.exits()
    img = load_png(png)
    ey, ex = np.round(m.entrance).astype(int)
    assert (np.abs(img[ey - 3:ey + 4, ex - 3:ex + 4].astype(int) - (90, 230, 90)).sum(-1) < 40).any()  # the green START dot


def test_truth_maps_corridors_to_corridors():
  g = make_layout(2, GUIDE_SEED)
  # the guide's own instance maps onto itself, the entrance of any instance onto the guide's entrance
  pts = np.concatenate([pl[::3] for pl in g.polylines.values()])
  assert np.abs(guide_truth(g, g, pts) - to_guide(g, pts)).max() < 1e-6
  lay = make_layout(2, 77)
  assert np.hypot(*(guide_truth(lay, g, lay.entrance)[0] - to_guide(g, g.entrance))) < 1.0
  # every exit lands near the guide's exit
  for a, b in zip(lay.exits, g.exits): assert np.hypot(*(guide_truth(lay, g, a)[0] - to_guide(g, b))) < 0.25 * g.unit * guide_meta(2).scale


def test_truth_follows_the_player_without_jumps():
  # the centre lines correspond at equal arc-length fractions; in between the truth is continuous: a
  # walk's trail, point by point, moves on the guide by about its own step (the nearest-line truth
  # jumped up to 58 px at 1/2 scale on this walk, where the nearest centre line switched)
  l, seed = 1, 103
  g, lay = make_layout(l, GUIDE_SEED), make_layout(l, seed)
  P, Q = _pairs(lay, g)
  assert np.abs(guide_truth(lay, g, P[::5]) - to_guide(g, Q[::5])).max() < 0.5
  pts = np.concatenate(walk_full(lay, seed, 60).trails)[::2]
  s = guide_meta(l).scale
  step = np.hypot(*np.diff(pts / 2, axis=0).T) * g.unit / lay.unit
  moved = np.hypot(*np.diff(guide_truth(lay, g, pts), axis=0).T) / s
  assert (moved - step).max() < 12, (moved - step).max()


def test_set_command(tmp_path):
  d = tmp_path / "user" / "mine"
  save_png(d / "2.png", np.zeros((300, 400, 3), np.uint8))
  run = lambda *a: subprocess.run([sys.executable, "-m", "poemap.guidepos", *a], capture_output=True, text=True, cwd=REPO_ROOT)
  r = run("set", "--area", "mine", "--id", "2", "--data", str(tmp_path), "--entrance", "250,40", "--scale", "0.4", "--point", "exit=20,380")
  assert r.returncode == 0, r.stderr
  assert load_meta(d / "2.png") == GuideMeta((250.0, 40.0), 0.4, [("exit", (20.0, 380.0))], (300, 400), None)
  r = run("set", "--area", "mine", "--id", "2", "--data", str(tmp_path), "--entrance", "1,1", "--scale", "0.4")
  assert r.returncode != 0 and "exists" in (r.stderr + r.stdout).lower()


# ---- the drawing: the marker on screen where the client's record says

MARKER_WINDOW = r"""
import json, select, sys, time, numpy as np
from stream.client import Streamer
from stream.overlay import Overlay, OverlayWindow
win = OverlayWindow("poemap here", mode="windowed", rects={{"windowed": [60, 50, 700, 600]}}, settle_s=0.2)
ov = Overlay("here", win, {root!r}, k=1)
st = Streamer(None, ov)
st.feed(np.zeros((1200, 1200, 3), np.uint8))  # a first frame: the canvas, the player at the entrance
ov.update("ok", 2, [0.9 if j == 2 else 0.0125 for j in range(9)])
rec = st.record()
end = time.monotonic() + 1.5
while time.monotonic() < end: ov.render(); ov.pump(20)
print(json.dumps({{"rec": rec, "rect": win.rect(), "picture": list(win.picture.shape)}}), flush=True)
while not select.select([sys.stdin], [], [], 0)[0]: ov.render(); ov.pump(20)  # keep painting (a window Qt lost is opened anew)
ov.close()
"""


def test_window_shows_the_marker_where_the_record_says(tmp_path):
  if not HAS_XVFB: pytest.skip("Xvfb is not installed")
  png = save_png(tmp_path / "user" / "here" / "2.png", np.full((400, 600, 3), 20, np.uint8))
  save_meta(png, GuideMeta((130.0, 410.0), 0.5, [], (400, 600), None))
  with xvfb(1000, 800) as display:
    p = helper(display, MARKER_WINDOW.format(root=str(tmp_path)))
    try:
      out = json.loads(p.stdout.readline())
      rec = out["rec"]["guide_position"]
      assert rec["status"] == "entrance" and rec["yx"] == [130.0, 410.0] and "revealed" in rec["reason"]  # a black frame shows no lines
      x, y, w, h = out["rect"]
      # where compose puts the guide: fitted to MAX_GUIDE, then into the window under the panel, centred
      g = fit(np.zeros((400, 600, 3), np.uint8), MAX_GUIDE)
      bh = h - int(round(96 * min(1.0, max(0.5, w / 640))))
      g2 = fit(g, (bh, w))
      f = g2.shape[0] / 400
      want = (y + (h - bh) + (bh - g2.shape[0]) // 2 + 130 * f, x + (w - g2.shape[1]) // 2 + 410 * f)
      seen = None
      for _ in range(80):
        with mss.MSS(display=display) as sct: shot = np.asarray(sct.grab(sct.monitors[1]))[..., 2::-1]
        ys, xs = np.nonzero((np.abs(shot.astype(int) - (230, 210, 120)).sum(-1) < 30))  # the unsure marker's ring
        if len(ys) > 30: seen = (ys.mean(), xs.mean()); break
        time.sleep(0.25)
      assert seen is not None, "no marker on the screen"
      assert np.hypot(seen[0] - want[0], seen[1] - want[1]) < 4, (seen, want)
    finally:
      p.stdin.write("\n"); p.stdin.close()
      try: p.wait(10)
      except Exception: p.kill(); p.wait()


def test_marker_drawing_follows_the_placement():
  meta = GuideMeta((100.0, 100.0), 0.5, [("exit", (100.0, 300.0))], (200, 400), None)
  img = np.zeros((400, 800, 3), np.uint8)  # shown at twice the guide's size
  pl = Placement((150.0, 120.0), "registered", 0.8)
  out = draw(img, pl, [(150.0, 60.0), (150.0, 90.0), (150.0, 120.0)], meta, (2.0, 2.0))
  ys, xs = np.nonzero((out == (255, 60, 200)).all(-1))
  assert abs(ys.mean() - 300) < 3 and 225 < xs.mean() < 260  # the disc at (300, 240), the heading arrow to its right
  b, d, _ = exit_direction(pl.yx, meta)
  assert d == pytest.approx(np.hypot(50, 180) / 0.5) and 70 < b < 80  # bearing clockwise from up: the exit is up and to the right

"""Takes the README's screenshots of the guide window on an Xvfb screen (needs Xvfb):
docs/img/overlay_mode.png (the overlay over the top-right corner of a rendered synthetic-Coast game screen),
docs/img/windowed_mode.png (the windowed mode's window) and docs/img/you_are_here.png (the windowed window
with the player's marker, trail and the way to the exit from a synthetic session, see here()).
`.venv/bin/python scripts/screenshots.py [--only here]`
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import cv2
import mss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poemap import REPO_ROOT
from poemap.fileio import save_png
from poemap.guidepos import GuideRef, register
from poemap.sim.layout import half_scale, make_layout
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, make_world, render_screen
from stream.guidemarker import TRAIL_MAX, Tracker, draw_tracked
from stream.overlay import Overlay, OverlayWindow

W, H = 1280, 720


HERE = (1, 7, 16)  # layout, instance seed, frames walked: a demo session (no bench seed)


def here(out: Path) -> Path:
  """docs/img/you_are_here.png: a synthetic walk (poemap.sim: an instance of layout HERE[0], its walk and
  fog of war) placed on the guide frame by frame by poemap.guidepos.register, as stream.guidemarker's
  Tracker does in the client, with the revealed lines a perfect UNet gives (the client's Tracker takes
  them from the colour filter of its minimap instead); the windowed window then shows the last frame."""
  l, seed, n = HERE
  lay = make_layout(l, seed)
  walk, reveal, origin = walk_full(lay, seed, n), Reveal(lay.shape), lay.entrance / 2
  rect = [0, 0, 560, 640]
  ov = Overlay("synthetic_coast", OverlayWindow("poemap guide", "windowed", {"windowed": rect}), k=1)
  tr = Tracker()
  png = ov.guides.path(l)
  ref = tr.ref(png)
  assert isinstance(ref, GuideRef), ref  # the demo guide has its metadata
  tr.guide = png
  for t in range(n):
    reveal.visit(walk.trails[t])
    mask = half_scale(lay.lines & (reveal.mask > 0))
    tr.placement = register(mask, origin, walk.positions[t] / 2, ref, tr.placement)
    if tr.placement.yx is not None: tr.trail = (tr.trail + [tr.placement.yx])[-TRAIL_MAX:]
  ov.marker = lambda g: draw_tracked(tr, g)
  probs = [0.97 if j == l else 0.00375 for j in range(9)]
  ov.update("ok", l, probs)
  rec = tr.record()
  assert rec is not None, "a placement per frame walked"
  ov.detail = f"frame {n - 1} | you are here: {rec['status']}, quality {rec['quality']:.2f}"
  for _ in range(60): ov.render(); ov.pump(20)
  with mss.MSS() as sct: img = np.asarray(sct.grab(sct.monitors[1]))[..., 2::-1]
  ov.close()
  dst = save_png(out / "you_are_here.png", img[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]], overwrite=True)
  print(f"wrote {dst}: {rec}")
  return dst


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--only", choices=["modes", "here"], help="only the two modes' screenshots, or only the 'you are here' one")
  a = ap.parse_args()
  x = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", f"{W}x{H}x24", "-nolisten", "tcp"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
  assert x.stdout is not None  # stdout=PIPE
  try:
    os.environ["DISPLAY"] = ":" + x.stdout.readline().decode().strip()
    out = REPO_ROOT / "docs" / "img"
    if a.only != "here": modes(out)
    if a.only != "modes": here(out)
  finally:
    x.terminate(); x.wait(10)


def modes(out: Path) -> None:
  """docs/img/overlay_mode.png and docs/img/windowed_mode.png."""
  layout, n = make_layout(4, 7), 40
  walk, world, reveal = walk_full(layout, 7, n), make_world(layout, 7), Reveal(layout.shape)
  for t in range(n): reveal.visit(walk.trails[t])
  game = render_screen(world, walk.positions[n - 1], reveal.mask, n - 1, (W, H))
  cv2.namedWindow("game", cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL); cv2.moveWindow("game", 0, 0)
  cv2.imshow("game", cv2.cvtColor(game, cv2.COLOR_RGB2BGR))
  for _ in range(20): cv2.waitKey(20)
  probs = [0.02, 0.01, 0.03, 0.04, 0.86, 0.01, 0.01, 0.01, 0.01]

  def shot(ov: Overlay, rect=None) -> np.ndarray:
    ov.update("ok", 4, probs); ov.detail = "frame 12 | 198 ms"
    for _ in range(60): ov.render(); ov.pump(20)
    with mss.MSS() as sct: img = np.asarray(sct.grab(sct.monitors[1]))[..., 2::-1]
    return img if rect is None else img[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]]

  ov = Overlay("synthetic_coast", OverlayWindow("poemap guide", "overlay", {"overlay": [W - 336, 16, 320, 380]}, log=lambda s: None), k=1)
  save_png(out / "overlay_mode.png", shot(ov, [W - 720, 0, 720, 420]), overwrite=True)  # the game's top-right corner, full size
  ov.close(); cv2.destroyWindow("game")
  rect = [0, 0, 480, 560]
  ov = Overlay("synthetic_coast", OverlayWindow("poemap guide", "windowed", {"windowed": rect}), k=1)
  save_png(out / "windowed_mode.png", shot(ov, rect), overwrite=True)
  ov.close()
  print(f"wrote {out / 'overlay_mode.png'} and {out / 'windowed_mode.png'}")


if __name__ == "__main__": main()

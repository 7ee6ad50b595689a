"""Takes the README's screenshots of the guide window's two modes on an Xvfb screen (needs Xvfb):
docs/img/overlay_mode.png (the overlay over the top-right corner of a rendered synthetic-Coast game screen) and
docs/img/windowed_mode.png (the windowed mode's window). `.venv/bin/python scripts/screenshots.py`
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poemap import REPO_ROOT
from poemap.fileio import save_png

W, H = 1280, 720


def main() -> None:
  x = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", f"{W}x{H}x24", "-nolisten", "tcp"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
  try:
    os.environ["DISPLAY"] = ":" + x.stdout.readline().decode().strip()
    import mss
    from poemap.sim.layout import make_layout
    from poemap.sim.player import walk_full
    from poemap.sim.render import Reveal, make_world, render_screen
    from stream.overlay import Overlay, OverlayWindow
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

    out = REPO_ROOT / "docs" / "img"
    ov = Overlay("synthetic_coast", OverlayWindow("poemap guide", "overlay", {"overlay": [W - 336, 16, 320, 380]}, log=lambda s: None), k=1)
    save_png(out / "overlay_mode.png", shot(ov, [W - 720, 0, 720, 420]), overwrite=True)  # the game's top-right corner, full size
    ov.close(); cv2.destroyWindow("game")
    rect = [0, 0, 480, 560]
    ov = Overlay("synthetic_coast", OverlayWindow("poemap guide", "windowed", {"windowed": rect}), k=1)
    save_png(out / "windowed_mode.png", shot(ov, rect), overwrite=True)
    ov.close()
    print(f"wrote {out / 'overlay_mode.png'} and {out / 'windowed_mode.png'}")
  finally:
    x.terminate(); x.wait(10)


if __name__ == "__main__": main()

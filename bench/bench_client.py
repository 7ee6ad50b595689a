"""Client cost per frame at 4K: mss capture of the 1200x1200 centre square + stitching + the ½ shrink.

A 3840x2160 Xvfb screen shows rendered synthetic-Coast game screens (full size, in an OpenCV window);
each step moves the simulated player, then the client's capture source grabs, stitches and shrinks.
Without Xvfb only the stitch+shrink part runs, on replay frames. Prints medians in ms.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from poemap import REPO_ROOT
from poemap.sim.session import make_session
from poemap.stitch import MinimapCanvas, shrink_with_origin
from stream.capture import ScreenSource

GAME = r"""
import sys, cv2
from poemap.sim.layout import make_layout
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, make_world, render_screen
N = {n}
layout = make_layout({layout}, {seed}); walk = walk_full(layout, {seed}, N); world = make_world(layout, {seed}); reveal = Reveal(layout.shape)
cv2.namedWindow("game", cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL); cv2.moveWindow("game", 0, 0)
for t in range(N):
  reveal.visit(walk.trails[t])
  img = cv2.cvtColor(render_screen(world, walk.positions[t], reveal.mask, t, (3840, 2160)), cv2.COLOR_RGB2BGR)
  if not sys.stdin.readline(): break
  cv2.imshow("game", img)
  for _ in range(4): cv2.waitKey(15)
  print("shown", t, flush=True)
"""


def stats(name: str, ms: list[float]) -> str:
  a = np.asarray(ms)
  return f"{name:<28} median {np.median(a):7.1f} ms   p95 {np.percentile(a, 95):7.1f} ms   (n={len(a)})"


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--frames", type=int, default=24)
  ap.add_argument("--layout", type=int, default=6)
  ap.add_argument("--seed", type=int, default=5)
  args = ap.parse_args()
  grab, stitch, shrink, total, cpu = [], [], [], [], []
  if shutil.which("Xvfb"):
    x = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "3840x2160x24", "-nolisten", "tcp"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    assert x.stdout is not None
    display = ":" + x.stdout.readline().decode().strip()
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO_ROOT), "QT_LOGGING_RULES": "*=false"}
    game = subprocess.Popen([sys.executable, "-c", GAME.format(n=args.frames, layout=args.layout, seed=args.seed)], cwd=REPO_ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    assert game.stdin is not None and game.stdout is not None
    try:
      src = ScreenSource(1, display)
      print(f"mss on Xvfb {display} 3840x2160, capture box {src.box}")
      canvas = None
      for t in range(args.frames):
        game.stdin.write("next\n"); game.stdin.flush()
        assert game.stdout.readline().startswith("shown"), "the game window process died"
        t0, c0 = time.perf_counter(), time.process_time()
        f = src.grab()
        t1 = time.perf_counter()
        if canvas is None: canvas = MinimapCanvas(f)
        else: canvas.add(f)
        t2 = time.perf_counter()
        shrink_with_origin(canvas.image, canvas.origin)
        t3, c3 = time.perf_counter(), time.process_time()
        if t > 0: cpu.append((c3 - c0) * 1e3)
        if t > 0: grab.append((t1 - t0) * 1e3); stitch.append((t2 - t1) * 1e3); shrink.append((t3 - t2) * 1e3); total.append((t3 - t0) * 1e3)
      src.close()
      assert canvas is not None  # --frames >= 1
      print(f"canvas at the end: {canvas.image.shape[1]}x{canvas.image.shape[0]}, skipped {canvas.skipped}")
    finally:
      game.stdin.close(); game.kill(); game.wait()
      x.terminate(); x.wait()
    print(stats("capture (mss, BGRA->RGB)", grab))
  else:
    print("no Xvfb: stitch+shrink on replay frames only")
    frames = make_session(args.layout, args.seed, args.frames)["frames"]
    canvas = MinimapCanvas(frames[0])
    for f in frames[1:]:
      t1, c1 = time.perf_counter(), time.process_time(); canvas.add(f); t2 = time.perf_counter()
      shrink_with_origin(canvas.image, canvas.origin); t3, c3 = time.perf_counter(), time.process_time()
      cpu.append((c3 - c1) * 1e3)
      stitch.append((t2 - t1) * 1e3); shrink.append((t3 - t2) * 1e3); total.append((t3 - t1) * 1e3)
  print(stats("stitch (MinimapCanvas.add)", stitch))
  print(stats("shrink (x1/2)", shrink))
  print(stats("total per frame", total))
  # on a shared machine wall time includes waiting for a core; CPU time (all threads) does not
  print(stats("CPU time per frame", cpu))
  print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__": main()

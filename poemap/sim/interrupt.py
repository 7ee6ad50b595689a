"""Frames that are not the minimap: what a capture client sees when the player alt-tabs, loads, opens
a panel, toggles the overlay map off, dies, or when a frame of another area slips in.

Each kind renders a whole capture square (RGB uint8, side 2r) from what the session knows at that
moment; the stitcher must skip every one of them and pick the map up again afterwards.
"""
from __future__ import annotations

import cv2
import numpy as np

from poemap.contract import CAPTURE_SIDE

KINDS = ("desktop", "loading", "panel", "tree", "overlay_off", "death", "other_area")
# the character stays where it is while these are shown: alt-tabbed it gets no input, a loading
# screen pauses the game, a dead one lies where it fell (resurrecting elsewhere is not modelled);
# behind a panel, the passive tree or with the overlay off the player may walk on
STILL = ("desktop", "loading", "death")
LENGTH = {"desktop": (1, 3), "loading": (1, 3), "panel": (1, 3), "tree": (1, 2), "overlay_off": (2, 4), "death": (1, 2), "other_area": (1, 1)}


def schedule(rng: np.random.Generator, n_frames: int, count: int, kinds: tuple[str, ...] = KINDS) -> list[str]:
  """Per frame '' (the game as usual) or the kind of interruption shown instead: `count` events of
  random kinds and lengths, none in the first 3 frames (the entrance), at least 3 normal frames apart."""
  out = [""] * n_frames
  t = 3 + int(rng.integers(0, 3))
  for _ in range(count):
    kind = kinds[int(rng.integers(len(kinds)))]
    n = int(rng.integers(LENGTH[kind][0], LENGTH[kind][1] + 1))
    if t + n > n_frames - 2: break  # the session ends on the game, so the stitch must have come back
    out[t:t + n] = [kind] * n
    t += n + 3 + int(rng.integers(0, 4))
  return out


def _text_bars(img: np.ndarray, rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int, rgb, line_h: int) -> None:
  """Lines of 'text' as dark bars of word-like lengths."""
  y = y0
  while y + line_h < y1:
    x = x0
    while x < x1 - 40:
      wlen = int(rng.integers(20, 120) * line_h / 14)
      cv2.rectangle(img, (x, y), (min(x1, x + wlen), y + max(2, line_h // 2)), rgb, -1)
      x += wlen + max(4, line_h // 2)
    y += int(line_h * rng.uniform(1.4, 2.2))


def desktop(side: int, rng: np.random.Generator) -> np.ndarray:
  """A browser or file manager after alt-tab: light background, dark text bars, a few thin blue
  lines (links, underlines, borders) that a map-line filter would like."""
  img = np.full((side, side, 3), rng.integers(225, 250), np.uint8)
  s = side / CAPTURE_SIDE
  cv2.rectangle(img, (0, 0), (side, int(70 * s)), (60, 64, 72), -1)
  _text_bars(img, rng, int(60 * s), int(120 * s), side - int(60 * s), side - int(40 * s), (40, 40, 45), max(6, int(16 * s)))
  for _ in range(int(rng.integers(6, 14))):
    y, x = int(rng.integers(int(100 * s), side - 20)), int(rng.integers(20, side // 2))
    cv2.line(img, (x, y), (x + int(rng.integers(80, 500) * s), y), (40, 70, 230), max(1, int(2 * s)))
  cv2.rectangle(img, (int(40 * s), int(100 * s)), (side - int(40 * s), side - int(20 * s)), (90, 120, 220), max(1, int(2 * s)))
  return img


def loading(side: int, rng: np.random.Generator) -> np.ndarray:
  """A loading screen: black, a dim art panel and a progress bar."""
  img = np.zeros((side, side, 3), np.uint8)
  s = side / CAPTURE_SIDE
  if rng.random() < 0.6:
    art = (rng.uniform(0, 1, (6, 6, 3)) * 40).astype(np.float32)
    img[int(200 * s):int(900 * s)] = cv2.resize(art, (side, int(900 * s) - int(200 * s)), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
  y = side - int(120 * s)
  cv2.rectangle(img, (int(200 * s), y), (side - int(200 * s), y + int(14 * s)), (90, 80, 60), max(1, int(2 * s)))
  cv2.rectangle(img, (int(200 * s), y), (int(200 * s + rng.uniform(0, 1) * (side - 400 * s)), y + int(14 * s)), (200, 170, 90), -1)
  return img


def panel(game: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """The inventory or stash over most of the capture: a dark brown panel, a grid of slots, items
  (some blue and purple) and a strip of the game still showing."""
  img = game.copy()
  side = img.shape[0]
  x0 = int(side * rng.uniform(0.05, 0.3))
  img[:, x0:] = (np.array([38, 30, 22]) + rng.integers(-6, 6, 3)).clip(0, 255)
  cell = max(8, int(side * 0.045))
  for y in range(int(side * 0.1), side - cell, cell):
    for x in range(x0 + cell // 2, side - cell, cell):
      cv2.rectangle(img, (x, y), (x + cell - 2, y + cell - 2), (70, 58, 44), 1)
      if rng.random() < 0.25:
        col = [(60, 90, 220), (150, 70, 220), (200, 190, 170), (190, 150, 60)][int(rng.integers(4))]
        cv2.rectangle(img, (x + 3, y + 3), (x + cell - 5, y + cell - 5), col, -1)
  return img


def passive_tree(side: int, rng: np.random.Generator) -> np.ndarray:
  """The passive skill tree over the whole screen: dark, many nodes joined by thin lines, some of
  them blue like map lines."""
  img = (np.full((side, side, 3), 12) + rng.integers(0, 10, 3)).astype(np.uint8)
  pts = rng.uniform(0, side, (160, 2)).astype(np.int32)
  for i in range(len(pts)):
    d = np.linalg.norm(pts - pts[i], axis=1)
    for j in np.argsort(d)[1:3]:
      col = (70, 100, 220) if rng.random() < 0.4 else (150, 130, 90)
      cv2.line(img, tuple(int(v) for v in pts[i]), tuple(int(v) for v in pts[j]), col, max(1, side // 600), cv2.LINE_AA)
  for p in pts: cv2.circle(img, (int(p[0]), int(p[1])), max(2, side // 150), (170, 150, 110), -1, cv2.LINE_AA)
  return img


def death(game: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """The death screen: the game greyed and darkened, a red tint, a dialog in the middle."""
  g = game.astype(np.float32).mean(2, keepdims=True)
  img = (g * np.array([0.55, 0.35, 0.35]) + np.array([30, 0, 0])).clip(0, 255).astype(np.uint8)
  side = img.shape[0]
  a, b = int(side * 0.3), int(side * 0.7)
  cv2.rectangle(img, (a, int(side * 0.4)), (b, int(side * 0.6)), (25, 18, 14), -1)
  cv2.rectangle(img, (a, int(side * 0.4)), (b, int(side * 0.6)), (150, 120, 80), max(1, side // 400))
  cv2.putText(img, "You have died", (a + side // 40, int(side * 0.5)), cv2.FONT_HERSHEY_SIMPLEX, side / CAPTURE_SIDE, (200, 60, 50),
              max(1, side // 600), cv2.LINE_AA)
  return img

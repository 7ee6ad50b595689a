"""The rendered game screen: world background with distractors, and the overlay minimap on top.

Screen geometry is expressed in 4K pixels relative to the player icon (x = 1920, y = 1060 on a
3840x2160 screen); a view is a rectangle of that screen rendered at output scale s (1 at 4K). The
world scrolls `parallax` times faster than the minimap (the coast's look: 1.6; other looks,
poemap.sim.look: 1.1-10), so the world under the overlay moves against the map lines and a
translation estimate that locks onto the world is wrong by that factor.
Only the pixels asked for are rendered: a session renders its 1200x1200 capture square per frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from poemap.contract import CAPTURE_RADIUS_4K, ICON_4K, SCREEN_4K
from poemap.sim.layout import CELL, LINE_WIDTH, Layout
from poemap.sim.look import Look
from poemap.sim.noise import periodic_noise, smooth_noise
from poemap.stitch import crop  # zero-padded crop, shared with the stitcher

FOG_AXES_4K = (140, 120)       # fog-of-war ellipse radii (x, y) at 4K around every visited point
# the overlay blue before transparency: over dark ground the blend lands inside the game's line colours
# (R 110-150, G 0-150, B 150-255; docs/DESIGN.md, "The synthetic Coast"), over bright ground or fire it leaves it, as in the game
LINE_RGB = np.array([160, 86, 255], np.float32)
LINE_ALPHA = (0.8, 0.88)
TEX = 512                      # side of the periodic world textures


def screen_scale(resolution: tuple[int, int]) -> float:
  """Output scale of a (width, height) screen relative to 4K (the HUD scales with the height)."""
  w, h = resolution
  if w < 64 or h < 64: raise ValueError(f"resolution too small: {resolution}")
  return h / SCREEN_4K[0]


def capture_radius(resolution: tuple[int, int]) -> int:
  return int(round(CAPTURE_RADIUS_4K * screen_scale(resolution)))


class Reveal:
  """The fog of war at 4K minimap scale: 1 where the player has been close enough to see the map."""
  def __init__(self, shape: tuple[int, int], axes: tuple[int, int] = FOG_AXES_4K):
    self.mask, self.axes = np.zeros(shape, np.uint8), axes

  def visit(self, points: np.ndarray) -> None:
    for y, x in np.asarray(points).reshape(-1, 2):
      cv2.ellipse(self.mask, (int(round(x)), int(round(y))), self.axes, 0, 0, 360, 1, -1)


from functools import lru_cache


@lru_cache(maxsize=256)
def _falloff(radius: int, power: float) -> np.ndarray:
  yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float32)
  return (np.clip(1 - np.sqrt(yy ** 2 + xx ** 2) / radius, 0, 1) ** power)[..., None]


def _sprite(radius: int, rgb, power: float) -> np.ndarray:
  return _falloff(int(radius), float(power)) * np.asarray(rgb, np.float32)[None, None]


@dataclass
class World:
  """Everything of a session's world that does not change between frames."""
  layout: Layout
  terrain: np.ndarray      # (H/CELL, W/CELL, 4) float32: base RGB and water weight, minimap-aligned
  tex: np.ndarray          # (TEX, TEX, 6) float32: ground and water texture, world-locked and tileable
  fires: np.ndarray        # (F, 3) world [y, x, radius]
  monsters: np.ndarray     # (M, 9) world y, x, amp y, amp x, phase, radius, r, g, b
  line_rgb: np.ndarray
  line_alpha: float
  glow: np.ndarray         # (3,) colour of the effect around the player
  seed: int
  look: Look = Look()
  lines: np.ndarray | None = None  # the map lines as this look draws them (layout.lines at the coast's width)

  @property
  def parallax(self) -> float: return self.look.parallax

  @property
  def map_lines(self) -> np.ndarray: return self.layout.lines if self.lines is None else self.lines

  @property
  def fog_axes(self) -> tuple[int, int]:
    return tuple(int(round(a * self.look.fog_scale)) for a in FOG_AXES_4K)  # type: ignore[return-value]


def make_world(layout: Layout, seed: int, look: Look | None = None) -> World:
  look = Look() if look is None else look
  P = look.parallax
  rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, layout.layout_id, 11])
  hc, wc = layout.coarse.shape
  walk = cv2.GaussianBlur(layout.coarse.astype(np.float32), (0, 0), 1.5)
  sea = smooth_noise(rng, (hc, wc), 60)
  pools = smooth_noise(rng, (hc, wc), 25)
  # the sea fills about half of the non-walkable space; shallow pools lie on walkable ground too
  water = np.clip((sea + 0.2) * 2, 0, 1) * (1 - walk) + np.clip((pools - 1.3) * 3, 0, 1) * walk
  light = 1 + 0.18 * smooth_noise(rng, (hc, wc), 30)
  ground = np.array([90, 80, 62], np.float32) * rng.uniform(0.8, 1.15)
  rock = np.array([52, 48, 46], np.float32) * rng.uniform(0.8, 1.2)
  deep = np.array([28, 62, 112], np.float32) * rng.uniform(0.85, 1.15)
  g = periodic_noise(rng, TEX, 12, 1) * 14 + periodic_noise(rng, TEX, 40, 1) * 10
  grain = np.repeat(g, 3, axis=2) * np.array([1.0, 0.9, 0.7], np.float32)
  # sparse highlights whose colour lies in the lines' RGB range (a colour filter takes them) but is
  # greyer than the lines, so a blue-minus-red/green line measure ranks them below real lines
  ripple = np.clip(periodic_noise(rng, TEX, 18, 1) - 1.6, 0, None) * 110
  wtex = ripple * np.array([1.1, 0.95, 0.75], np.float32) + np.repeat(periodic_noise(rng, TEX, 30, 1), 3, axis=2) * 8
  if look.family != "coast":
    # another world: its own palette stream, so the coast's draws (and the bundled data) stay as they were
    lrng = np.random.default_rng([int(seed) & 0xFFFFFFFF, layout.layout_id, int(look.seed) & 0xFFFFFFFF, 12])
    water, light, ground, rock, deep, grain, wtex = _palette(look.family, lrng, walk, water, light, grain, wtex)
  land = walk[..., None] * ground + (1 - walk[..., None]) * rock
  rgb = (land * (1 - water[..., None]) + deep * water[..., None]) * light[..., None]
  terrain = np.concatenate([rgb, water[..., None]], axis=2).astype(np.float32)
  tex = np.concatenate([grain, wtex], axis=2).astype(np.float32)
  # fires and monsters near walkable space, in world px (minimap px * parallax)
  ys, xs = np.nonzero(layout.coarse)
  def spots(n):
    i = rng.integers(0, len(ys), n)
    return np.stack([(ys[i] + rng.uniform(0, 1, n)) * CELL, (xs[i] + rng.uniform(0, 1, n)) * CELL], 1) * P
  area = layout.coarse.sum() * CELL * CELL * P ** 2
  nf, nm = max(3, int(area / 1.2e6 * look.fires)), max(6, int(area / 3e5))
  fires = np.concatenate([spots(nf), rng.uniform(60, 150, (nf, 1))], 1)
  palette = np.array([[120, 30, 25], [70, 55, 40], [126, 72, 196], [40, 40, 48], [150, 140, 120], [112, 60, 170]], np.float32)
  mcol = palette[rng.integers(0, len(palette), nm)]
  monsters = np.concatenate([spots(nm), rng.uniform(40, 160, (nm, 2)), rng.uniform(0, 2 * np.pi, (nm, 1)), rng.uniform(16, 36, (nm, 1)), mcol], 1)
  line_rgb = (LINE_RGB if look.line_rgb is None else np.asarray(look.line_rgb, np.float32)) + rng.uniform(-5, 5, 3).astype(np.float32)
  glow = np.array([[70, 50, 150], [150, 120, 40], [150, 40, 30], [90, 130, 160]], np.float32)[rng.integers(0, 4)]
  alpha = float(rng.uniform(*(LINE_ALPHA if look.line_alpha == Look().line_alpha else look.line_alpha)))
  lines = None
  if look.line_width != LINE_WIDTH:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (look.line_width + 1, look.line_width + 1))
    lines = cv2.morphologyEx(layout.walkable.astype(np.uint8), cv2.MORPH_GRADIENT, k) > 0
  return World(layout, terrain, tex, fires.astype(np.float32), monsters.astype(np.float32), line_rgb, alpha, glow,
               int(seed), look, lines)


def _palette(family: str, rng: np.random.Generator, walk, water, light, grain, wtex):
  """A non-coast world's colours: (water weight, light, ground, rock, deep water, ground texture,
  water texture). Textures are added to the terrain colour, so they carry signed offsets."""
  hc, wc = walk.shape
  j = lambda: rng.uniform(0.85, 1.15)
  if family == "cave":
    ground, rock, deep = np.array([40, 34, 42]) * j(), np.array([14, 13, 18]) * j(), np.array([12, 30, 40]) * j()
    water = water * 0.5
    light = 1 + 0.35 * smooth_noise(rng, (hc, wc), 20)
    grain, wtex = grain * 0.6, wtex * 0.4
  elif family == "bright":
    snow = rng.random() < 0.5
    ground = (np.array([205, 208, 220]) if snow else np.array([200, 168, 112])) * rng.uniform(0.92, 1.05)
    rock = (np.array([150, 152, 168]) if snow else np.array([150, 118, 84])) * j()
    deep = (np.array([120, 160, 205]) if snow else np.array([60, 118, 150])) * j()
    grain = grain * 1.6
  elif family == "multicolour":
    # saturated patches in every hue, blue and purple among them, and thin world-locked veins:
    # the look that made the first stitcher follow the world instead of the map
    ground, rock, deep = np.array([80, 76, 70]) * j(), np.array([60, 58, 64]) * j(), np.array([30, 60, 120]) * j()
    hues = np.array([[40, 70, 225], [135, 45, 205], [60, 165, 70], [190, 50, 45], [205, 185, 60], [35, 160, 190]], np.float32)
    hues = hues[rng.permutation(len(hues))] - 75
    n = periodic_noise(rng, TEX, 40, len(hues))
    pick = n.argmax(2)
    patch = hues[pick] * np.clip(n.max(2, keepdims=True) - 1.0, 0, 1) * 0.8
    veins = np.clip(1 - np.abs(periodic_noise(rng, TEX, 60, 1)) / 0.035, 0, 1) * np.array([120, 40, 200], np.float32) * 0.4
    grain = grain * 0.7 + patch + veins
    wtex = wtex + patch * 0.5
  elif family == "sea":
    # the sea fills most of the view; walkable ground is mostly shallow water with strong ripples
    ground, rock, deep = np.array([95, 88, 70]) * j(), np.array([50, 50, 52]) * j(), np.array([25, 72, 140]) * j()
    water = np.clip(0.75 + 0.25 * smooth_noise(rng, (hc, wc), 40), 0, 1) * (1 - 0.35 * walk)
    ripple = np.clip(periodic_noise(rng, TEX, 14, 1) - 1.2, 0, None) * 150
    wtex = ripple * np.array([0.8, 0.9, 1.2], np.float32) + np.repeat(periodic_noise(rng, TEX, 30, 1), 3, axis=2) * 10
  else:  # spells, fires: the coast's ground; what differs happens on top of it
    ground = np.array([90, 80, 62]) * rng.uniform(0.8, 1.15)
    rock, deep = np.array([52, 48, 46]) * j(), np.array([28, 62, 112]) * j()
  f = lambda v: np.asarray(v, np.float32)
  return water.astype(np.float32), light.astype(np.float32), f(ground), f(rock), f(deep), grain.astype(np.float32), wtex.astype(np.float32)


def render_view(world: World, player, reveal: np.ndarray, frame: int, top: float, left: float, out_h: int, out_w: int,
                scale: float = 1.0) -> np.ndarray:
  """RGB uint8 (out_h, out_w, 3) of the screen rectangle starting at (top, left) 4K px from the player icon.
  player: [y, x] int at 4K minimap scale; reveal: the fog-of-war mask (layout shape)."""
  py, px = float(player[0]), float(player[1])
  s, P = float(scale), world.parallax
  # world: low-frequency terrain (minimap-aligned, parallax times magnified) + world-locked texture
  k = 1 / (s * P * CELL)
  M = np.array([[k, 0, (px + left / P) / CELL - 0.5], [0, k, (py + top / P) / CELL - 0.5]], np.float32)
  ter = cv2.warpAffine(world.terrain, M, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
  wy, wx = py * P + top, px * P + left
  rows = np.floor(wy + np.arange(out_h) / s).astype(np.int64) % TEX
  cols = np.floor(wx + np.arange(out_w) / s).astype(np.int64) % TEX
  tex = world.tex[rows][:, cols]
  water = ter[..., 3:4]
  img = ter[..., :3] + tex[..., :3] * (1 - water) + tex[..., 3:] * water
  # fires: additive glow that saturates whatever lies over it (only those in view are looked at:
  # a large parallax makes the world, and its number of fires and monsters, large)
  t = frame
  fy_, fx_, fr_ = world.fires.T if len(world.fires) else (np.zeros(0),) * 3
  near = (fy_ - wy + fr_ >= 0) & (fx_ - wx + fr_ >= 0) & ((fy_ - wy - fr_) * s < out_h) & ((fx_ - wx - fr_) * s < out_w)
  for fy, fx, fr in world.fires[near]:
    cy, cx = (fy - wy) * s, (fx - wx) * s
    r = int(fr * s)
    if cy + r < 0 or cx + r < 0 or cy - r >= out_h or cx - r >= out_w or r < 2: continue
    flick = 0.85 + 0.3 * np.sin(t * 2.3 + fy * 0.01) ** 2
    _add(img, _sprite(r, (255, 170, 60), 1.2) * flick, int(cy) - r, int(cx) - r)
    _add(img, _sprite(max(2, r // 2), (180, 180, 140), 1.5) * flick, int(cy) - r // 2, int(cx) - r // 2)
  # monsters wander around their spot
  mo = world.monsters
  near = (np.abs(mo[:, 0] - wy - out_h / (2 * s)) < out_h / (2 * s) + mo[:, 2] + 200 / s) & \
         (np.abs(mo[:, 1] - wx - out_w / (2 * s)) < out_w / (2 * s) + mo[:, 3] + 200 / s) if len(mo) else np.zeros(0, bool)
  for my, mx, ay, ax, ph, mr, *col in mo[near]:
    cy = (my + ay * np.sin(0.37 * t + ph) - wy) * s
    cx = (mx + ax * np.cos(0.29 * t + 1.7 * ph) - wx) * s
    if -60 < cy < out_h + 60 and -60 < cx < out_w + 60:
      cv2.circle(img, (int(cx), int(cy)), max(1, int(mr * s)), [float(c) for c in col], -1, cv2.LINE_AA)
      cv2.circle(img, (int(cx), int(cy)), max(1, int(mr * s * 0.45)), [float(c) * 0.5 for c in col], -1, cv2.LINE_AA)
  if world.look.effects: _spell_effects(img, world, frame, top, left, s)
  # the player's character and the effect around it (world layer: under the overlay, like in the game)
  iy, ix = -top * s, -left * s
  pulse = 0.55 + 0.45 * np.sin(0.9 * t) ** 2
  gr = int(230 * s)
  _add(img, _sprite(gr, world.glow * pulse, 1.6), int(iy) - gr, int(ix) - gr)
  cv2.circle(img, (int(ix), int(iy - 25 * s)), max(1, int(30 * s)), (150, 110, 80), -1, cv2.LINE_AA)
  # overlay minimap: same scale as the capture, centred on the player, only the revealed lines
  h4, w4 = int(round(out_h / s)), int(round(out_w / s))
  y0, x0 = int(round(py + top)), int(round(px + left))
  vis = crop(world.map_lines, y0, x0, h4, w4) & crop(reveal, y0, x0, h4, w4).astype(bool)
  if s != 1.0:
    a = cv2.resize(vis.astype(np.float32), (out_w, out_h), interpolation=cv2.INTER_AREA)
    a = np.clip(a * 1.5, 0, 1)  # thin lines stay visible when downscaled, as the game draws them
  else:
    a = vis.astype(np.float32)
  yy, xx = np.nonzero(a)
  if len(yy):
    av = (a[yy, xx] * world.line_alpha)[:, None]
    img[yy, xx] = img[yy, xx] * (1 - av) + world.line_rgb[None] * av
  cv2.circle(img, (int(ix), int(iy)), max(1, int(7 * s)), (235, 235, 200), -1, cv2.LINE_AA)
  return np.clip(img, 0, 255).astype(np.uint8)


EFFECT_RGB = np.array([[120, 60, 255], [70, 110, 255], [170, 80, 240], [200, 160, 255]], np.float32)


def _spell_effects(img: np.ndarray, world: World, frame: int, top: float, left: float, s: float) -> None:
  """Dense purple and blue spell effects around the player, new every frame: glowing orbs, and
  chains of thin bright arcs (lightning, beams) that cross the map lines in the lines' own colours."""
  rng = np.random.default_rng([world.seed & 0xFFFFFFFF, world.layout.layout_id, int(frame) & 0xFFFFFFFF, 41])
  n = int(rng.poisson(world.look.effects))
  for _ in range(n):
    # screen position in 4K px relative to the icon, mostly near the player
    uy, ux = rng.normal(0, 380, 2)
    cy, cx = (uy - top) * s, (ux - left) * s
    col = EFFECT_RGB[rng.integers(len(EFFECT_RGB))] * rng.uniform(0.6, 1.0)
    if rng.random() < 0.5:
      r = int(rng.uniform(25, 110) * s)
      if r >= 2: _add(img, _sprite(r, col, rng.uniform(0.8, 2.0)), int(cy) - r, int(cx) - r)
    else:
      pts = [np.array([cx, cy])]
      ang = rng.uniform(0, 2 * np.pi)
      for _seg in range(int(rng.integers(3, 9))):
        ang += rng.normal(0, 0.6)
        pts.append(pts[-1] + rng.uniform(30, 120) * s * np.array([np.cos(ang), np.sin(ang)]))
      arc = np.array(pts)
      lo = np.floor(arc.min(0)).astype(int) - 8
      hi = np.ceil(arc.max(0)).astype(int) + 8
      layer = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.uint8)  # just the arc's box
      poly = np.round(arc - lo).astype(np.int32).reshape(-1, 1, 2)
      cv2.polylines(layer, [poly], False, 255, max(1, int(rng.uniform(2, 6) * s)), cv2.LINE_AA)
      _add(img, layer[..., None] / 255.0 * rng.uniform(0.5, 1.0) * col, int(lo[1]), int(lo[0]))


def _add(img: np.ndarray, spr: np.ndarray, y0: int, x0: int) -> None:
  h, w = spr.shape[:2]
  sy, sx = max(0, y0), max(0, x0)
  ey, ex = min(img.shape[0], y0 + h), min(img.shape[1], x0 + w)
  if sy < ey and sx < ex: img[sy:ey, sx:ex] += spr[sy - y0:ey - y0, sx - x0:ex - x0]


def render_capture(world: World, player, reveal: np.ndarray, frame: int, resolution: tuple[int, int] = (3840, 2160)) -> np.ndarray:
  """The captured centre square (2r x 2r, r = 600 at 4K) around the player icon."""
  r = capture_radius(resolution)
  return render_view(world, player, reveal, frame, -CAPTURE_RADIUS_4K, -CAPTURE_RADIUS_4K, 2 * r, 2 * r, 2 * r / (2 * CAPTURE_RADIUS_4K))


def render_screen(world: World, player, reveal: np.ndarray, frame: int, resolution: tuple[int, int] = (3840, 2160)) -> np.ndarray:
  """The full game screen (H, W, 3) with a minimal HUD: life and mana globes and a skill bar."""
  w, h = resolution
  s = screen_scale(resolution)
  iy, ix = ICON_4K[0] * s, w / 2
  img = render_view(world, player, reveal, frame, -iy / s, -ix / s, h, w, s)
  bgr = np.ascontiguousarray(img)
  gr = int(200 * s)
  cv2.circle(bgr, (int(gr * 1.1), h - int(gr * 1.05)), gr, (170, 20, 25), -1, cv2.LINE_AA)
  cv2.circle(bgr, (w - int(gr * 1.1), h - int(gr * 1.05)), gr, (30, 50, 190), -1, cv2.LINE_AA)
  for i in range(8):
    x = int(w / 2 + (i - 4) * 130 * s)
    cv2.rectangle(bgr, (x, h - int(140 * s)), (x + int(110 * s), h - int(30 * s)), (60, 55, 50), -1)
    cv2.rectangle(bgr, (x, h - int(140 * s)), (x + int(110 * s), h - int(30 * s)), (140, 120, 80), max(1, int(4 * s)))
  return bgr

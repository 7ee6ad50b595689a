"""The numpy core: stitching, tokens, embeddings, fog of war. Contract numbers from docs/DESIGN.md, "The contract"."""
import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from poemap.explore import explore_map, reveal_mask
from poemap import stitch
from poemap.stitch import FLAT_MAX, GROW, MinimapCanvas, _refine, find_translation, screen_edge, shrink_with_origin
from poemap.tokens import clean_sparse_pixels, position_embedding, tokenize_mask

LINE = (130, 70, 220)  # map-line blue (docs/DESIGN.md, "The synthetic Coast")


def line_world(size: int = 2400, seed: int = 0, n: int = 500) -> np.ndarray:
  """A big image of random blue map lines over dark noise: content to crop frames from."""
  rng = np.random.default_rng(seed)
  img = rng.integers(0, 40, (size, size, 3)).astype(np.uint8)
  for _ in range(n):
    x0, y0 = rng.integers(0, size, 2)
    x1, y1 = np.clip([x0, y0] + rng.integers(-150, 150, 2), 0, size - 1)
    cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), LINE, 3)
  return img


WORLD = line_world()


def crop(img, y, x, h=600, w=600):
  return np.ascontiguousarray(img[y:y + h, x:x + w])


# ---------------------------------------------------------------- find_translation

@settings(max_examples=25, deadline=None)
@given(st.integers(-250, 250), st.integers(-250, 250))
def test_shifted_crop_translation_within_half_pixel(dy, dx):
  y, x = 900, 900
  t = find_translation(crop(WORLD, y, x), crop(WORLD, y + dy, x + dx))
  assert t is not None
  assert abs(t[0] - dy) < 0.5 and abs(t[1] - dx) < 0.5
  assert 0.0 <= t[2] <= 1.0


def test_work_arrays_never_leak_between_frames_or_threads():
  """The line filters reuse per-thread work arrays (a fresh frame-sized array costs page faults): what one frame's
  features keep must not change when the next frame is computed, nor when another thread computes at once."""
  frames = [crop(WORLD, 700 + 37 * i, 800 - 23 * i) for i in range(6)]
  def snapshot(f):
    return {k: np.array(getattr(f, k), copy=True) for k in ("lines", "weight", "near", "spectrum", "full_on")}
  alone = [snapshot(stitch._Features(f)) for f in frames]  # each computed with nothing else alive
  kept = [stitch._Features(f) for f in frames]
  for f in kept: f.full_on  # all computed, interleaved, before any is compared
  with ThreadPoolExecutor(3) as ex:
    threaded = list(ex.map(lambda f: snapshot(stitch._Features(f)), frames * 2))
  for a, k, t1, t2 in zip(alone, kept, threaded[:6], threaded[6:]):
    for name, v in a.items():
      assert np.array_equal(v, snapshot(k)[name]) and np.array_equal(v, t1[name]) and np.array_equal(v, t2[name]), name


def test_subpixel_shift():
  big = cv2.resize(WORLD[:1200, :1200], (2400, 2400), interpolation=cv2.INTER_AREA)
  a = cv2.resize(big[200:1400, 200:1400], (600, 600), interpolation=cv2.INTER_AREA)
  b = cv2.resize(big[203:1403, 200:1400], (600, 600), interpolation=cv2.INTER_AREA)  # 1.5 px down
  dy, dx, _ = find_translation(a, b)
  assert abs(dy - 1.5) < 0.25 and abs(dx) < 0.25


def test_locks_onto_map_lines_not_the_parallax_world():
  rng = np.random.default_rng(3)
  # a high-contrast, non-blue world texture that moves 1.6x as fast as the minimap
  world = cv2.GaussianBlur(rng.integers(0, 255, (2400, 2400, 3)).astype(np.uint8), (0, 0), 2)
  world[..., 2] //= 3
  lines = np.zeros((2400, 2400, 3), np.uint8)
  for _ in range(400):
    x0, y0 = rng.integers(0, 2400, 2)
    cv2.line(lines, (int(x0), int(y0)), (int(x0 + rng.integers(-150, 150)), int(y0 + rng.integers(-150, 150))), LINE, 3)
  def frame(dy, dx):
    w = crop(world, 900 + int(1.6 * dy), 900 + int(1.6 * dx)).astype(np.float32)
    l = crop(lines, 900 + dy, 900 + dx)
    on = l.any(axis=2, keepdims=True)
    return np.where(on, 0.3 * w + 0.7 * l, w).astype(np.uint8)  # semi-transparent overlay
  t = find_translation(frame(0, 0), frame(40, -70))
  assert t is not None and abs(t[0] - 40) < 1 and abs(t[1] + 70) < 1


def test_untrustworthy_translations_are_none():
  a = crop(WORLD, 0, 0)
  assert find_translation(np.zeros_like(a), a) is None
  assert find_translation(a, np.zeros_like(a)) is None
  assert find_translation(a, crop(line_world(seed=7), 0, 0)) is None  # no overlap at all


@pytest.mark.parametrize("prev,cur", [
  (np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 3), np.uint8)),
  (np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8)),
  (np.zeros((64, 64, 3), np.uint8), np.zeros((64, 80, 3), np.uint8)),
  (np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64, 4), np.uint8)),
])
def test_find_translation_bad_input(prev, cur):
  with pytest.raises(ValueError): find_translation(prev, cur)


# ---------------------------------------------------------------- MinimapCanvas

def walk_canvas(moves, start=(900, 900), size=600):
  pos = np.array(start)
  canvas = MinimapCanvas(crop(WORLD, *pos, size, size))
  for m in moves:
    pos = pos + m
    assert canvas.add(crop(WORLD, *pos, size, size))
  return canvas, pos - np.array(start)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(-200, 200), st.integers(-200, 200)), min_size=1,
                max_size=4))  # 4 x 200 px keeps every 600 px frame inside WORLD
def test_canvas_bookkeeping(moves):
  moves = [np.array(m) for m in moves]
  canvas, disp = walk_canvas(moves)
  H, W = canvas.image.shape[:2]
  assert H % GROW == 0 and W % GROW == 0
  assert np.all(np.abs(canvas.position - canvas.origin - disp) < 1.0)
  # the latest frame sits where the canvas says the player is
  tl = np.round(canvas.position).astype(int) - 300
  got = canvas.image[tl[0]:tl[0] + 600, tl[1]:tl[1] + 600]
  assert np.array_equal(got[250:350, 250:350], crop(WORLD, 900 + disp[0], 900 + disp[1])[250:350, 250:350])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(-200, 200), st.integers(-200, 200)), min_size=1, max_size=4), st.integers(0, 2**31 - 1))
def test_darkest_canvas_keeps_the_map_and_drops_light_that_moves(moves, seed):
  """Each view but the last gets bright strokes added (spells: light over the ground, new every frame); the last view is
  clean. The darkest canvas never falls below the clean world nor rises above the pasted image, and under the last view
  it is the clean world again: the strokes of every earlier view are gone."""
  rng = np.random.default_rng(seed)
  def lit(f):
    light = np.zeros_like(f)
    for _ in range(3):
      cy, cx, r = int(rng.integers(0, 600)), int(rng.integers(0, 600)), int(rng.integers(10, 40))
      cv2.circle(light, (cx, cy), r, (90, 40, 120), -1)
    return cv2.add(f, light)  # saturating: light only ever adds
  pos = np.array([900, 900])
  canvas = MinimapCanvas(lit(crop(WORLD, *pos)), darkest=True)
  for i, m in enumerate(moves):
    pos = pos + np.array(m)
    clean = crop(WORLD, *pos)
    assert canvas.add(clean if i == len(moves) - 1 else lit(clean))
  assert canvas.dark is not None and canvas.dark.shape == canvas.image.shape
  # canvas pixel c shows world pixel c - origin + the first frame's centre
  H, W = canvas.image.shape[:2]
  wy, wx = np.arange(H) - canvas.origin[0] + 1200, np.arange(W) - canvas.origin[1] + 1200
  world = WORLD[np.clip(wy, 0, 2399)][:, np.clip(wx, 0, 2399)]
  cov = canvas.covered
  assert np.all(canvas.dark[cov] >= world[cov]) and np.all(canvas.dark[cov] <= canvas.image[cov])
  ty, tx = np.round(canvas.position).astype(int) - 300
  assert np.array_equal(canvas.dark[ty:ty + 600, tx:tx + 600], crop(WORLD, *pos))
  assert not np.any(canvas.dark[~cov])


def test_canvas_keeps_no_darkest_unless_asked_and_then_starts_from_its_captures():
  canvas, pos = walk_canvas([np.array([40, -30])])
  assert canvas.dark is None
  canvas.keep_darkest()
  assert canvas.dark is not None and np.array_equal(canvas.dark, canvas.image) and canvas.dark is not canvas.image
  assert canvas.add(np.ascontiguousarray(WORLD[900 + 40 + 120:, 900 - 30 + 90:][:600, :600] // 2 * 2))
  assert np.all(canvas.dark <= canvas.image) and np.any(canvas.dark < canvas.image)


@pytest.mark.parametrize("move", [(-250, 0), (250, 0), (0, -250), (0, 250)])
def test_canvas_grows_on_every_side_in_whole_tiles(move):
  canvas, _ = walk_canvas([])
  H0, W0 = canvas.image.shape[:2]
  o0 = canvas.origin.copy()
  pos = np.array([900, 900])
  for _ in range(2):
    pos = pos + move
    assert canvas.add(crop(WORLD, *pos))
  H, W = canvas.image.shape[:2]
  grew = np.array([H - H0, W - W0])
  assert np.all(grew % GROW == 0) and grew.sum() >= 500 - 2 * GROW
  # growing on the top/left moves the origin by the same whole multiple; content stays put
  if move[0] < 0 or move[1] < 0: assert np.all((canvas.origin - o0) % GROW == 0) and np.any(canvas.origin != o0)
  else: assert np.array_equal(canvas.origin, o0)
  first = crop(WORLD, 900, 900)
  oy, ox = canvas.origin - 300
  assert np.array_equal(canvas.image[oy + 280:oy + 320, ox + 280:ox + 320], first[280:320, 280:320])


def test_canvas_skips_untrustworthy_frame_without_change():
  canvas, _ = walk_canvas([np.array([50, 30])])
  img, pos, org = canvas.image.copy(), canvas.position.copy(), canvas.origin.copy()
  assert canvas.add(np.zeros((600, 600, 3), np.uint8)) is False
  assert np.array_equal(canvas.image, img) and np.array_equal(canvas.position, pos) and np.array_equal(canvas.origin, org)
  assert canvas.add(crop(WORLD, 900 + 50 + 40, 900 + 30)) is True  # aligned to the last good frame
  assert np.all(np.abs(canvas.position - canvas.origin - [90, 30]) < 1.0)


def test_canvas_relocates_after_a_gap_beyond_the_last_frame():
  canvas, disp = walk_canvas([np.array([60, 40])] + [np.array([150, 0])] * 3)
  blank = np.zeros((600, 600, 3), np.uint8)
  assert canvas.add(blank) is False and canvas.add(blank) is False
  # 500 px back from the last accepted frame: past what frame-to-frame alignment may trust (0.75 of
  # 600), found against the stitched canvas around the last position, where it knows the lines
  back = disp + [-500, -30]
  assert canvas.add(crop(WORLD, 900 + back[0], 900 + back[1])) is True
  assert np.all(np.abs(canvas.position - canvas.origin - back) < 1.0)
  assert canvas.add(crop(WORLD, 900 + back[0] + 20, 900 + back[1] + 30)) is True  # and goes on from there
  assert np.all(np.abs(canvas.position - canvas.origin - back - [20, 30]) < 1.0)


def test_only_stretches_of_line_become_persistent(monkeypatch):
  """Lines seen in two frames are persistent, what the canvas check asks later frames to show; short
  dashes fixed to the map (a sea's glints or grain that happen to land on the same pixels twice) are not."""
  rng = np.random.default_rng(5)
  world = line_world(n=300, seed=5)
  dash = np.zeros(world.shape[:2], bool)
  clear = cv2.dilate((world == LINE).all(-1).view(np.uint8), np.ones((15, 15), np.uint8)) == 0
  for y, x in rng.integers(600, 1800, (400, 2)):
    if not clear[y - 7:y + 8, x - 7:x + 28].all(): continue  # apart from the lines, or it is part of one
    cv2.line(world, (int(x), int(y)), (int(x) + 20, int(y)), LINE, 3)  # 10 px at ½ scale: a line component, but short
    dash[y - 1:y + 2, x:x + 21] = True
  def dash_share() -> float:
    canvas = MinimapCanvas(crop(world, 900, 900))
    for i in range(1, 4): assert canvas.add(crop(world, 900 + 40 * i, 900 + 30 * i))
    oy, ox = (canvas.origin - 300) // 2 - np.array([450, 450])  # ½-scale canvas pixel of world pixel (0, 0)
    ys, xs = np.nonzero(canvas._persistent())
    assert len(ys) > 2000
    return float(dash[2 * (ys - oy), 2 * (xs - ox)].mean())
  assert dash_share() < 0.06
  monkeypatch.setattr(stitch, "PERSIST_WEIGHT", 1)  # every line pixel counted: the dashes persist
  assert dash_share() > 0.15


def test_a_panel_over_most_of_the_screen_is_no_minimap():
  """An inventory-like panel covering all but a strip of the capture: the strip alone would align
  right, and the panel would be pasted with it. Its straight border says it is no minimap capture;
  a long straight map line (two edges close together) is not such a border."""
  prev, cur = crop(WORLD, 900, 900), crop(WORLD, 940, 930)
  panel = cur.copy()
  panel[:, 160:] = (38, 30, 26)
  panel[40:560:40, 180:580] = (70, 60, 50)  # its grid
  half = lambda a: cv2.resize(a, (300, 300), interpolation=cv2.INTER_AREA)
  assert screen_edge(half(panel)) and not screen_edge(half(cur))
  line = cur.copy()
  cv2.line(line, (300, 0), (300, 599), LINE, 3)  # a straight wall through the whole capture
  assert not screen_edge(half(line))
  assert find_translation(prev, panel) is None and find_translation(prev, cur) is not None
  canvas = MinimapCanvas(prev)
  image = canvas.image.copy()
  assert not canvas.add(panel) and np.array_equal(canvas.image, image)
  assert canvas.add(cur)


def test_canvas_bad_input():
  with pytest.raises(ValueError): MinimapCanvas(np.zeros((600, 600), np.uint8))
  canvas = MinimapCanvas(crop(WORLD, 0, 0))
  with pytest.raises(ValueError): canvas.add(crop(WORLD, 0, 0, 500, 500))


# ---------------------------------------------------------------- shrink_with_origin

@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_shrink_is_exact_half(h, w, seed):
  rng = np.random.default_rng(seed)
  img = rng.integers(0, 256, (2 * h, 2 * w, 3)).astype(np.uint8)
  oy, ox = int(rng.integers(0, 2 * h)), int(rng.integers(0, 2 * w))
  small, o = shrink_with_origin(img, (oy, ox))
  mean = img.reshape(h, 2, w, 2, 3).astype(np.float64).mean(axis=(1, 3))
  assert small.shape == (h, w, 3) and np.all(np.abs(small - mean) <= 0.5)
  assert tuple(o) == (oy // 2, ox // 2)


def test_shrink_pads_odd_and_rejects_bad():
  small, _ = shrink_with_origin(np.full((5, 7, 3), 200, np.uint8), (4, 6))
  assert small.shape == (3, 4, 3) and small[0, 0, 0] == 200
  with pytest.raises(ValueError): shrink_with_origin(np.zeros((4, 4, 3), np.float32), (0, 0))
  with pytest.raises(ValueError): shrink_with_origin(np.zeros((4, 4, 3), np.uint8), (0, 0, 0))


# ---------------------------------------------------------------- clean_sparse_pixels

def clean_brute(m, threshold=10, n=15):
  r, (h, w) = n // 2, m.shape
  p = np.pad(m.astype(int), r)
  out = np.zeros_like(m)
  for y in range(h):
    for x in range(w):
      if m[y, x] and p[y:y + n, x:x + n].sum() - 1 >= threshold: out[y, x] = 1
  return out


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_clean_sparse_pixels_matches_definition(h, w, density, seed):
  m = (np.random.default_rng(seed).random((h, w)) < density).astype(np.uint8)
  assert np.array_equal(clean_sparse_pixels(m), clean_brute(m))


def test_clean_sparse_pixels_hand_case():
  m = np.zeros((20, 20), np.uint8)
  m[5, 5:16] = 1          # an 11-pixel line, x = 5..15
  m[18, 1] = 1            # an isolated speck
  out = clean_sparse_pixels(m)
  assert out[18, 1] == 0
  assert out[5, 10] == 1  # centre pixel sees the other 10
  assert out[5, 5] == 0   # end pixel sees only 7 others within the 15x15 window
  assert out[5].nonzero()[0].tolist() == [8, 9, 10, 11, 12]  # only these see all 10 others within 7 px
  assert clean_sparse_pixels(m * 255).tolist() == out.tolist() and clean_sparse_pixels(m.astype(bool)).tolist() == out.tolist()


def test_clean_sparse_pixels_bad_input():
  with pytest.raises(ValueError): clean_sparse_pixels(np.zeros((4, 4, 1), np.uint8))
  with pytest.raises(ValueError): clean_sparse_pixels(np.zeros((4, 4), np.float32))
  with pytest.raises(ValueError): clean_sparse_pixels(np.zeros((4, 4), np.uint8), neighborhood=4)


# ---------------------------------------------------------------- tokens

def test_tokenize_hand_case():
  m = np.zeros((70, 70), np.uint8)
  m[10, 10] = 1   # patch containing the origin (origin at (10, 10): its own patch (0, 0))
  m[9, 9] = 1     # just above-left: patch (-1, -1)
  m[45, 12] = 1   # patch (1, 0)
  m[12, 50] = 1   # patch (0, 1)
  t = tokenize_mask(m, (10, 10))
  assert t.dtype == np.int64 and t.shape == (4, 32, 32, 4)
  assert [tuple(x) for x in t[:, 0, 0, 1:]] == [(0, 0, 0), (0, 1, 1), (1, 0, 1), (-1, -1, 2)]  # stable: (0,1) before (1,0)
  assert t[0, 0, 0, 0] == 1 and t[0, :, :, 0].sum() == 1      # origin pixel at the top-left corner
  assert t[3, 31, 31, 0] == 1                                  # (9, 9) is the last pixel of patch (-1, -1)
  assert t[2, 35 - 32 + 0, 2, 0] == 1 and t[2, 3, 2, 0] == 1   # (45, 12) -> row 45-42=3, col 2


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 120), st.integers(1, 120), st.floats(0, 0.05), st.integers(0, 2**32 - 1), st.data())
def test_tokens_reassemble_into_mask(h, w, density, seed, data):
  m = (np.random.default_rng(seed).random((h, w)) < density).astype(np.uint8)
  oy, ox = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
  t = tokenize_mask(m, (oy, ox))
  d = t[:, 0, 0, 3]
  assert np.all(np.diff(d) >= 0)
  assert np.all(t[..., 3] == t[..., 1] ** 2 + t[..., 2] ** 2)
  rebuilt = np.zeros((h + 64 + 64, w + 64 + 64), np.int64)  # generous margin around the image
  for tok in t:
    y, x = 64 + oy + 32 * tok[0, 0, 1], 64 + ox + 32 * tok[0, 0, 2]
    assert np.all(tok[..., 1] == tok[0, 0, 1]) and np.all(tok[..., 2] == tok[0, 0, 2])
    assert tok[..., 0].any()
    rebuilt[y:y + 32, x:x + 32] += tok[..., 0]
  assert np.array_equal(rebuilt[64:64 + h, 64:64 + w], m) and rebuilt.sum() == m.sum()
  # ties keep row-major order
  key = [(a, b, c) for a, b, c in t[:, 0, 0, [3, 1, 2]]]
  assert key == sorted(key)


def test_tokenize_bad_input():
  with pytest.raises(ValueError): tokenize_mask(np.zeros((10, 10, 3), np.uint8), (0, 0))
  with pytest.raises(ValueError): tokenize_mask(np.zeros((10, 10), np.uint8), (10, 0))
  with pytest.raises(ValueError): tokenize_mask(np.zeros((10, 10), np.uint8), (1, 2, 3))
  assert tokenize_mask(np.zeros((10, 10), np.uint8), (3, 3)).shape == (0, 32, 32, 4)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(-60, 60), st.integers(-60, 60)), min_size=1, max_size=8))
def test_position_embedding_formula(coords):
  t = np.zeros((len(coords), 32, 32, 4), np.int64)
  for i, (r, c) in enumerate(coords): t[i, ..., 1], t[i, ..., 2] = r, c
  pe = position_embedding(t)
  assert pe.dtype == np.float32 and pe.shape == (len(coords), 256)
  for i, (r, c) in enumerate(coords):
    for k in range(64):
      f = math.exp(4 * k / 256 * -math.log(10000))
      assert np.allclose(pe[i, 4 * k:4 * k + 4], [math.sin(r * f), math.cos(r * f), math.sin(c * f), math.cos(c * f)], atol=1e-6)


def test_position_embedding_bad_input():
  with pytest.raises(ValueError): position_embedding(np.zeros((2, 16, 16, 4), np.int64))
  with pytest.raises(ValueError): position_embedding(np.zeros((2, 32, 32, 4), np.int64), dim=250)
  assert position_embedding(np.zeros((0, 32, 32, 4), np.int64)).shape == (0, 256)


# ---------------------------------------------------------------- explore_map

@settings(max_examples=30, deadline=None)
@given(st.integers(5, 60), st.integers(5, 60), st.integers(0, 20),
       st.lists(st.tuples(st.integers(-40, 100), st.integers(-40, 100)), max_size=6))
def test_explore_map_is_union_of_discs(h, w, r, pts):
  m = np.ones((h, w), np.uint8)
  out = explore_map(m, np.array(pts, np.int64).reshape(-1, 2), light_radius=r)
  yy, xx = np.mgrid[:h, :w]
  want = np.zeros((h, w), bool)
  for y, x in pts: want |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
  assert np.array_equal(out.astype(bool), want)


def test_explore_map_keeps_values_and_rgb():
  img = np.full((200, 200, 3), 7, np.uint8)
  out = explore_map(img, [[100, 100]], light_radius=65)
  assert out[100, 100].tolist() == [7, 7, 7] and out[100, 166].tolist() == [0, 0, 0] and out[100, 165].tolist() == [7, 7, 7]
  assert reveal_mask((10, 10), np.zeros((0, 2))).sum() == 0
  with pytest.raises(ValueError): explore_map(np.ones((5, 5)), [[1, 2, 3]])


@settings(max_examples=20, deadline=None)
@given(dy=st.integers(-4, 4), dx=st.integers(-4, 4), angle=st.sampled_from([0, 45, 90, 135]))
def test_refinement_knows_when_one_straight_line_leaves_the_shift_open(dy, dx, angle):
  """Along a lone straight line every shift agrees about as well: the refinement says so (a spread
  beyond FLAT_MAX, which makes the stitcher refuse); with a crossing line it pins the shift. (Lines
  along the pixel grid's axes and diagonals: at other angles the raster itself breaks the tie.)"""
  def lines(angles):
    img = np.zeros((400, 400), np.uint8)
    for a in angles:
      u = np.array([math.cos(math.radians(a)), math.sin(math.radians(a))]) * 300
      cv2.line(img, tuple(int(v) for v in 200 - u), tuple(int(v) for v in 200 + u), 1, 3)
    return img.astype(bool)
  one, cross = lines([angle]), lines([angle, angle + 90])
  shifted = lambda m: np.roll(m, (-dy, -dx), axis=(0, 1))  # b's pixel q shows a's q + (dy, dx)
  assert _refine(one, shifted(one), 0.0, 0.0)[2] > FLAT_MAX
  ry, rx, spread = _refine(cross, shifted(cross), 0.0, 0.0)
  assert spread <= FLAT_MAX and abs(ry - dy) <= 0.5 and abs(rx - dx) <= 0.5


@settings(max_examples=10, deadline=None)
@given(dy=st.sampled_from([-9, -7, 7, 9]), dx=st.integers(-3, 3), seed=st.integers(0, 100))
def test_refinement_refuses_a_peak_on_the_edge_of_its_window(dy, dx, seed):
  """When the agreement peaks beyond the ±5 px the refinement searches (the coarse estimate is off,
  or a texture's gradient keeps rising), its best is on the window's edge: that is no shift."""
  rng = np.random.default_rng(seed)
  img = np.zeros((400, 400), np.uint8)
  for _ in range(40):
    p, q = rng.integers(20, 380, 2), rng.integers(20, 380, 2)
    cv2.line(img, (int(p[1]), int(p[0])), (int(q[1]), int(q[0])), 1, 3)
  a = img.astype(bool)
  b = np.roll(a, (-dy, -dx), axis=(0, 1))
  assert _refine(a, b, 0.0, 0.0)[2] == np.inf
  ry, rx, spread = _refine(a, b, float(dy), float(dx))  # the same pair, coarse estimate right: pinned
  assert spread <= FLAT_MAX and abs(ry - dy) <= 0.5 and abs(rx - dx) <= 0.5

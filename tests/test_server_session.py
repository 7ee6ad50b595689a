"""Incremental UNet inference equals full recomputation under the session's statistics, over a
whole growing-minimap session; plus the alignment / reuse rules and the LRU session store."""
import numpy as np
import pytest

from models.config import build_unet
from models.tiled import TiledUNet
from models.vit import ViT
from poemap.contract import TILE
from poemap.fidelity import channel_stats
from poemap.tokens import clean_sparse_pixels, mask_tokens
from stream.comms import Client
from stream.server import InferenceServer, serving
from stream.session import FUSE_VIEWS, Sessions, SessionState, alignment, reusable_tiles, update_clean, update_fused, update_mask, update_tokens


@pytest.fixture(scope="module")
def unet():
  return TiledUNet(build_unet("tiny", seed=2), batch=16)  # a seed whose random UNet marks ~25% of pixels: a non-trivial mask


def growing_session(seed=0, n=14):
  """(minimap, origin) pairs the way the client makes them: a canvas that grows by whole tiles on
  any side (origin shifting with top/left growth), revealed a disc at a time around a walker, with
  unrevealed pixels black. Also a frame that repeats the previous one exactly, and one that changes
  only pixels inside a partial tile-free region."""
  rng = np.random.default_rng(seed)
  world = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
  world[::7] = (130, 40, 220)  # some line-coloured rows so the mask is not all one class
  top, left, h, w = 448, 448, 96, 96   # canvas window into the world
  revealed = np.zeros((1024, 1024), bool)
  pos = np.array([496.0, 496.0])
  out = []
  yy, xx = np.mgrid[:1024, :1024]
  for i in range(n):
    if i and i % 5 == 4: out.append((out[-1][0].copy(), out[-1][1].copy())); continue  # nothing changed
    pos += rng.normal(0, 30, 2)
    pos = pos.clip(80, 940)
    revealed |= (yy - pos[0]) ** 2 + (xx - pos[1]) ** 2 < 30 ** 2
    ys, xs = np.nonzero(revealed)
    while ys.min() < top: top -= TILE; h += TILE
    while xs.min() < left: left -= TILE; w += TILE
    while ys.max() >= top + h: h += TILE
    while xs.max() >= left + w: w += TILE
    canvas = np.where(revealed[top:top + h, left:left + w, None], world[top:top + h, left:left + w], 0).astype(np.uint8)
    out.append((canvas, np.array([496 - top, 496 - left])))
  return out


def test_incremental_equals_full_over_a_session(unet):
  frames = growing_session()
  assert len({tuple(o) for _, o in frames}) > 1  # the canvas grew on the top or left: alignment by origin shift is exercised
  state, computed, stats = None, [], None
  for k, (img, origin) in enumerate(frames):
    state, n = update_mask(unet, state, img, origin, incremental=True)
    stats = state.stats
    full = unet.mask(img, stats)
    np.testing.assert_array_equal(state.mask, full, err_msg=f"frame {k}")
    computed.append((n, np.prod(state.mask.shape) // TILE ** 2))
  np.testing.assert_array_equal(stats[0], channel_stats(frames[0][0])[0])  # fixed from the first frame
  assert 0.01 < state.mask.mean() < 0.99  # the check above compared something non-trivial
  assert computed[4][0] == 0  # the repeated frame needs no UNet work at all
  assert sum(c for c, _ in computed[1:]) < sum(t for _, t in computed[1:])  # and growth reuses tiles


def repainted_session(seed=1, n=12):
  """growing_session's canvas, but each frame repaints a disc around the walker with fresh world pixels (as the canvas
  re-pastes the capture around the player), line-coloured rows excepted: pixels get several views."""
  rng = np.random.default_rng(seed)
  out = []
  for img, origin in growing_session(seed, n):
    img = img.copy()
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
    cy, cx = origin + rng.integers(-20, 20, 2)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < 40 ** 2) & img.any(2) & (yy % 7 != 0)
    img[disc] = rng.integers(0, 256, (int(disc.sum()), 3))
    out.append((img, origin))
  return out


def naive_votes(states) -> list[np.ndarray]:
  """Per frame, the fused rule's vote count written plainly over whole images: a pixel whose value changed (or that is
  new) is a new view and adds its mask; an unchanged one replaces its last vote."""
  out, prev = [], None
  for st in states:
    votes = st.mask.astype(np.int64)
    if prev is not None and st.shift is not None:
      (dy, dx), (ph, pw) = st.shift, prev.mask.shape
      pv, pm, pimg = np.zeros_like(votes), np.zeros_like(votes), np.full(st.minimap.shape, -1, np.int64)
      pv[dy:dy + ph, dx:dx + pw], pm[dy:dy + ph, dx:dx + pw], pimg[dy:dy + ph, dx:dx + pw] = out[-1], prev.mask, prev.minimap
      same = (pimg == st.minimap).all(2)
      votes = np.where(same, pv + st.mask - pm, pv + st.mask)
    out.append(votes)
    prev = st
  return out


@pytest.mark.parametrize("incremental", [True, False])
def test_fused_mask_equals_plain_vote_count_and_feeds_cleaning(unet, incremental):
  frames = repainted_session()
  states, prev = [], None
  for img, origin in frames:
    state, _ = update_mask(unet, prev, img, origin, incremental=incremental)
    update_fused(prev, state)
    clean = update_clean(prev, state)
    tokens, n = update_tokens(prev, state)
    np.testing.assert_array_equal(clean, clean_sparse_pixels(state.fused))  # cleaning reads the fused mask, bit for bit
    ref = mask_tokens(state.fused, state.origin)
    assert n == len(ref) and np.array_equal(tokens, ref)
    states.append(state)
    prev = state
  for k, (st, ref) in enumerate(zip(states, naive_votes(states))):
    np.testing.assert_array_equal(np.minimum(st.votes, 200), np.minimum(ref, 200), err_msg=f"frame {k}")
    np.testing.assert_array_equal(st.fused, ref >= FUSE_VIEWS)
  last = states[-1]
  assert states[0].fused.sum() == 0 < states[0].mask.sum()  # one view each on the first minimap: nothing is confirmed yet
  assert 0 < last.fused.sum() < last.mask.sum() + (last.votes >= 2).sum() and (last.votes >= 3).any()  # several views happened
  assert not np.array_equal(last.fused, last.mask)


def test_repeated_minimap_is_no_new_view(unet):
  img, origin = growing_session()[0]
  a, _ = update_mask(unet, None, img, origin)
  update_fused(None, a)
  b, n = update_mask(unet, a, img.copy(), origin)
  update_fused(a, b)
  assert n == 0 and np.array_equal(b.votes, a.votes) and b.fused.sum() == 0 and not b.fused_changed.any()
  c, _ = update_mask(unet, b, 255 - img, origin)  # every pixel changed: a second view everywhere
  update_fused(b, c)
  np.testing.assert_array_equal(c.fused, (a.mask + c.mask >= 2).astype(np.uint8))
  assert c.fused_changed.any()


def test_server_fuse_flag_cleans_the_fused_mask(tmp_path):
  """--fuse on a real server over loopback: the first minimap confirms nothing (one view per pixel), the raw path finds
  lines in it; a second view of every pixel confirms what the UNet says twice."""
  img, origin = growing_session()[0]
  n_tokens = {}
  for fuse in (False, True):
    srv = InferenceServer(build_unet("tiny", seed=2), ViT(), data=tmp_path, unet_batch=16, fuse=fuse)
    srv.warmup()
    with serving(srv) as endpoint, Client(endpoint, timeout_ms=600_000, retries=0) as c:
      assert c.ping()["fuse"] is fuse
      n_tokens[fuse] = [c.process(im, origin, "s")["n_tokens"] for im in (img, 255 - img)]
      st = srv.sessions.get("s")
      assert st is not None and (st.fused is not None) is fuse
    if fuse:  # every pixel changed: two views each, a line where both masks say so
      np.testing.assert_array_equal(st.fused, srv.unet.mask(img, st.stats) & st.mask)
      assert 0 < st.fused.sum() < st.mask.sum() and n_tokens[True][1] == len(mask_tokens(st.fused, origin))
  assert n_tokens[True][0] == 0 < n_tokens[False][0] and 0 < n_tokens[True][1]


def test_no_incremental_computes_everything_and_agrees(unet):
  frames = growing_session(seed=1, n=5)
  a = b = None
  for img, origin in frames:
    a, na = update_mask(unet, a, img, origin, incremental=True)
    b, nb = update_mask(unet, b, img, origin, incremental=False)
    assert nb >= na and nb >= (img.any(-1).reshape(img.shape[0] // TILE, TILE, img.shape[1] // TILE, TILE).any((1, 3))).sum()
    np.testing.assert_array_equal(a.mask, b.mask)


def test_non_tile_multiple_sizes_recompute_edges(unet):
  rng = np.random.default_rng(2)
  img = rng.integers(0, 256, (70, 45, 3), dtype=np.uint8)
  s, _ = update_mask(unet, None, img, [3, 3])
  grown = np.zeros((102, 77, 3), np.uint8)  # grown by one tile on top and left, and a few pixels bottom/right
  grown[32:, 32:] = np.pad(img, ((0, 0), (0, 0), (0, 0)))
  s2, n = update_mask(unet, s, grown, [35, 35])
  np.testing.assert_array_equal(s2.mask, unet.mask(grown, s.stats))
  assert n < 4 * 3  # the two full old tiles (rows 1, col 1) were reused


def test_alignment_rules():
  prev = SessionState(np.zeros((64, 64, 3), np.uint8), np.array([10, 20]), np.zeros((64, 64), np.uint8), (np.zeros(3), np.ones(3)))
  assert alignment(prev, np.zeros((96, 64, 3), np.uint8), np.array([42, 20])) == (32, 0)
  assert alignment(prev, np.zeros((96, 64, 3), np.uint8), np.array([10, 20])) == (0, 0)
  assert alignment(prev, np.zeros((96, 64, 3), np.uint8), np.array([26, 20])) is None   # not a whole tile
  assert alignment(prev, np.zeros((96, 64, 3), np.uint8), np.array([74, 20])) is None   # old canvas would stick out
  assert alignment(prev, np.zeros((32, 64, 3), np.uint8), np.array([10, 20])) is None   # shrunk: a new area
  img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
  prev.minimap = img
  new = np.zeros((96, 96, 3), np.uint8)
  new[32:, 32:] = img
  new[40, 40] ^= 1  # one changed pixel in old tile (0, 0) -> new tile (1, 1)
  keep = reusable_tiles(prev, new, (32, 32))
  assert keep.tolist() == [[False, False, False], [False, False, True], [False, True, True]]


def test_sessions_lru():
  s = Sessions(2)
  st = SessionState(np.zeros((1, 1, 3), np.uint8), np.zeros(2), np.zeros((1, 1), np.uint8), (np.zeros(3), np.ones(3)))
  s.put("a", st); s.put("b", st)
  assert s.get("a") is st      # a is now the most recent
  s.put("c", st)
  assert "b" not in s and "a" in s and "c" in s and len(s) == 2
  assert s.reset("a") and not s.reset("a")
  with pytest.raises(ValueError): Sessions(0)

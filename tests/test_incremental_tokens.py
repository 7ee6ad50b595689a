"""Cleaning and tokens updated around changed tiles equal the full computation bit for bit, over whole
growing sessions on both input paths; the box and occupancy helpers equal the full functions anywhere."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import build_unet
from models.tiled import TiledUNet
from models.vit import ViT
from poemap.contract import TILE
from poemap.tokens import clean_sparse_box, clean_sparse_pixels, patch_occupancy, tokenize_mask, tokens_from_occupancy
from stream.comms import decode, encode
from stream.server import InferenceServer
from poemap.tiles import tile_any
from stream.session import update_clean, update_mask, update_tokens


def session(seed=0, n=16):
  """(minimap, origin) pairs like the client's: a canvas of ragged size (as the real 600 px start) that grows by
  whole tiles on any side, revealed a disc at a time around a walker, whose revealed pixels near the walker are
  drawn anew every frame (the world under the semi-transparent map changes), plus an exact repeat."""
  rng = np.random.default_rng(seed)
  world = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
  world[::9] = (130, 40, 220)
  top, left, h, w = 450, 455, 75, 50
  revealed = np.zeros((1024, 1024), bool)
  pos, out = np.array([490.0, 480.0]), []
  yy, xx = np.mgrid[:1024, :1024]
  for i in range(n):
    if i == 5: out.append((out[-1][0].copy(), out[-1][1].copy())); continue
    pos = (pos + rng.normal(0, 28, 2)).clip(80, 940)
    near = (yy - pos[0]) ** 2 + (xx - pos[1]) ** 2 < 45 ** 2
    revealed |= (yy - pos[0]) ** 2 + (xx - pos[1]) ** 2 < 30 ** 2
    world[near & revealed] = rng.integers(0, 256, (int((near & revealed).sum()), 3), dtype=np.uint8)
    ys, xs = np.nonzero(revealed)
    while ys.min() < top: top -= TILE; h += TILE
    while xs.min() < left: left -= TILE; w += TILE
    while ys.max() >= top + h: h += TILE
    while xs.max() >= left + w: w += TILE
    out.append((np.where(revealed[top:top + h, left:left + w, None], world[top:top + h, left:left + w], 0).astype(np.uint8),
                np.array([490 - top, 480 - left])))
  return out


@pytest.mark.parametrize("input_path,incremental", [("bundled", True), ("bundled", False), ("published", True)])
def test_incremental_clean_and_tokens_equal_full_over_a_session(input_path, incremental):
  unet = TiledUNet(build_unet("tiny", seed=2), batch=16, input_path=input_path)
  prev, boxed = None, 0
  for k, (img, origin) in enumerate(session()):
    state, _ = update_mask(unet, prev, img, origin, incremental=incremental, per_request=input_path == "published")
    clean = update_clean(prev, state)
    full = clean_sparse_pixels(state.mask)
    np.testing.assert_array_equal(clean, full, err_msg=f"frame {k}")
    want = tokenize_mask(full, origin)
    for limit in (None, 7):
      got, n = update_tokens(prev, state, limit)
      assert n == len(want) and got.dtype == want.dtype
      np.testing.assert_array_equal(got, want[:limit], err_msg=f"frame {k} limit {limit}")
    boxed += state.changed is not None and state.changed.sum() < state.changed.size
    prev = state
  assert 0.01 < clean.mean() and len(want) > 10  # something non-trivial was compared
  # and frames took the incremental route (on the published path new statistics can change a random UNet's mask anywhere)
  assert boxed >= (3 if input_path == "published" else 10)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 90), st.integers(1, 90), st.integers(-40, 120), st.integers(-40, 120), st.integers(0, 60), st.integers(0, 60),
       st.floats(0.02, 0.6), st.integers(0, 2**32 - 1))
def test_clean_box_equals_full_inside_the_box(h, w, y0, x0, bh, bw, p, seed):
  m = (np.random.default_rng(seed).random((h, w)) < p).astype(np.uint8)
  out = np.full((h, w), 7, np.uint8)
  clean_sparse_box(m, out, (y0, y0 + bh), (x0, x0 + bw))
  ys, xs = slice(max(0, y0), max(0, min(h, y0 + bh))), slice(max(0, x0), max(0, min(w, x0 + bw)))
  np.testing.assert_array_equal(out[ys, xs], clean_sparse_pixels(m)[ys, xs])
  inside = np.zeros((h, w), bool)
  inside[ys, xs] = True
  assert (out[~inside] == 7).all()  # nothing outside the box is touched


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 130), st.integers(1, 130), st.floats(0, 1), st.floats(0, 1), st.floats(0, 0.01), st.integers(0, 2**32 - 1))
def test_occupancy_and_tokens_equal_tokenize_mask(h, w, fy, fx, p, seed):
  rng = np.random.default_rng(seed)
  m = (rng.random((h, w)) < p).astype(np.uint8)
  origin = [min(h - 1, int(fy * h)), min(w - 1, int(fx * w))]
  want = tokenize_mask(m, origin)
  occ = patch_occupancy(m, origin)
  np.testing.assert_array_equal(tokens_from_occupancy(m, origin, occ), want)
  np.testing.assert_array_equal(tokens_from_occupancy(m, origin, occ, 3), want[:3])
  # a box recompute over stale occupancy heals exactly the patches the box touches
  y0, x0 = (int(v) for v in rng.integers(0, [h, w]))
  m2 = m.copy()
  m2[y0:y0 + 20, x0:x0 + 20] = rng.random(m2[y0:y0 + 20, x0:x0 + 20].shape) < 0.05
  np.testing.assert_array_equal(patch_occupancy(m2, origin, ((y0, y0 + 20), (x0, x0 + 20)), occ.copy()), patch_occupancy(m2, origin))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 100), st.integers(1, 100), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_tile_any_equals_a_plain_loop(h, w, ch, seed):
  a = (np.random.default_rng(seed).random((h, w, ch) if ch else (h, w)) < 0.001).astype(np.uint8)
  want = np.array([[a[r:r + TILE, c:c + TILE].any() for c in range(0, w, TILE)] for r in range(0, h, TILE)])
  np.testing.assert_array_equal(tile_any(a), want)


def test_server_replies_equal_the_full_pipeline(tmp_path):
  """Every reply over a session is what the full computation gives: UNet over all tiles under the session's
  statistics, clean_sparse_pixels, tokenize_mask, the ViT on all tokens (it reads the first max_tokens)."""
  vit = ViT(layers=1, embed_dim=16, num_heads=2, ff_dim=16, max_tokens=8)
  srv = InferenceServer(build_unet("tiny", seed=2), vit, data=tmp_path, unet_batch=16)
  ref = TiledUNet(build_unet("tiny", seed=2), batch=16)
  stats = None
  for k, (img, origin) in enumerate(session(seed=3, n=12)):
    r = decode(srv.handle(encode("process_minimap", {"minimap": img, "origin": origin}, session="s")))
    stats = stats if stats is not None else ref.stats(img)
    tokens = tokenize_mask(clean_sparse_pixels(ref.mask(img, stats)), origin)
    assert r["n_tokens"] == len(tokens) > 8 and r["status"] == "ok", f"frame {k}"
    assert r["probs"] == [float(p) for p in srv.vit.probs([tokens])[0]], f"frame {k}"

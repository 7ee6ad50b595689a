"""The client's send rule (poemap.tiles): it refreshes every tile where the fog lifted since the last send, a
minimap sent with it differs from the last one only inside the refreshed tiles, and through the real server the
layout is the same as with the whole canvas; with the rule off the client sends exactly the whole canvas."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.checkpoint import load_unet, load_vit
from poemap.contract import TILE
from poemap.datadir import model_path
from poemap.sim.session import make_session
from poemap.stitch import shrink_with_origin
from poemap.tiles import FogRule, TileSender, paste_tiles, refresh_tiles
from stream.capture import ReplaySource
from stream.client import Streamer, run_replay
from stream.comms import Client
from stream.server import InferenceServer, serving

FOG_SHAPE = (60.0, 70.0)  # the sim's fog ellipse at ½ scale (poemap.sim.render.FOG_AXES_4K), y and x semi-axes


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.75, 1.35), st.sampled_from([0.0, 3.0]), st.integers(1, 3))
def test_every_tile_the_fog_lifted_in_is_refreshed(seed, fog_scale, slack, every):
  """A walk of straight steps (standing still, turning, walking back) under the sim's fog ellipse at any of its
  looks' scales, sent every `every` frames: each pixel the fog newly lifted from since the last send (by more than
  the rule's slack) lies in a refreshed tile. The truth comes from dense samples of the walk, not from the rule."""
  rng = np.random.default_rng(seed)
  rule = FogRule(slack=slack)
  size, k = 512, rule.aspect
  a = FOG_SHAPE[1] * fog_scale  # the fog's x semi-axis: a circle of radius a once y is scaled by k
  pos, d, path = np.array([256.0, 256.0]), rng.normal(0, 1, 2), [np.array([256.0, 256.0])]
  for _ in range(14):
    r = rng.random()
    d = -d if r < 0.15 else rng.normal(0, 1, 2) if r < 0.5 else d
    step = 0.0 if rng.random() < 0.15 else rng.uniform(1, 90)
    pos = (pos + step * d / np.hypot(*d)).clip(20, size - 20)
    path.append(pos.copy())
  yy, xx = np.mgrid[:size, :size].astype(np.float64)
  dmin = np.full((size, size), np.inf)
  def walk_to(p0: np.ndarray, p1: np.ndarray) -> None:
    for t in np.linspace(0, 1, int(np.hypot(*(p1 - p0)) // 2) + 2):  # samples 2 px apart: within 1 px of the segment
      q = p0 + t * (p1 - p0)
      y0, y1, x0, x1 = int(max(0, q[0] - 120)), int(q[0] + 120), int(max(0, q[1] - 120)), int(q[1] + 120)
      np.minimum(dmin[y0:y1, x0:x1], np.hypot((yy[y0:y1, x0:x1] - q[0]) * k, xx[y0:y1, x0:x1] - q[1]), out=dmin[y0:y1, x0:x1])
  walk_to(path[0], path[0])
  last, before = 0, dmin.copy()
  for i in range(1, len(path)):
    walk_to(path[i - 1], path[i])
    if i % every and i != len(path) - 1: continue
    new = (dmin <= a) & (before > a + slack + 1)  # + 1: the samples' error
    tiles = refresh_tiles((size, size), np.array(path[last:i + 1]), np.array(path[:last + 1]), rule)
    ys, xs = np.nonzero(new)
    assert tiles[ys // TILE, xs // TILE].all(), f"send {i}: {int((~tiles[ys // TILE, xs // TILE]).sum())} newly revealed px in unrefreshed tiles"
    last, before = i, dmin.copy()


def test_standing_still_or_walking_back_refreshes_nothing_new():
  old = np.array([[300.0, 100.0], [300.0, 200.0], [300.0, 300.0]])
  assert not refresh_tiles((600, 600), np.array([[300.0, 300.0], [300.4, 299.7]]), old).any()  # the stitcher's jitter
  assert not refresh_tiles((600, 600), np.array([[300.0, 300.0], [300.0, 150.0]]), old).any()  # back along the own trail
  ahead = refresh_tiles((600, 600), np.array([[300.0, 300.0], [300.0, 340.0]]), old)
  assert ahead.any() and not ahead[:, :300 // TILE].any()  # a step ahead refreshes ahead only
  assert refresh_tiles((600, 600), np.array([[300.0, 300.0], [300.0, 340.0]]), old, FogRule(reach=60.0)).sum() < ahead.sum()  # a nearer reach, fewer


def test_after_a_merged_second_canvas_the_minimap_goes_whole():
  # a merge (MinimapCanvas.merges) pastes a whole second canvas far from the path: no fog rule covers it
  rng = np.random.default_rng(0)
  first, second = (rng.integers(0, 255, (256, 256, 3), np.uint8) for _ in range(2))
  origin = np.array([128, 128])
  for merged in (False, True):
    sender = TileSender()
    sender.moved(np.zeros(2))
    sender.minimap(first, origin)
    sender.moved(np.array([0.0, 10.0]), merges=int(merged))
    out = sender.minimap(second, origin)
    if merged: assert sender.refreshed is None and np.array_equal(out, second)
    else: assert sender.refreshed is not None and not np.array_equal(out, second)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3))
def test_pasting_touches_only_the_refreshed_tiles(seed, top, left, bottom, right):
  rng = np.random.default_rng(seed)
  h, w = TILE * rng.integers(1, 5, 2)
  sent, so = rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 500, 2)
  H, W = h + TILE * (top + bottom), w + TILE * (left + right)
  minimap, origin = rng.integers(0, 256, (H, W, 3), dtype=np.uint8), so + TILE * np.array([top, left])
  tiles = rng.random((H // TILE, W // TILE)) < 0.3
  out = paste_tiles(sent, so, minimap, origin, tiles)
  assert out is not None
  take = np.repeat(np.repeat(tiles, TILE, 0), TILE, 1)
  placed = np.zeros_like(minimap)
  placed[TILE * top:TILE * top + h, TILE * left:TILE * left + w] = sent  # never sent: black
  np.testing.assert_array_equal(out[take], minimap[take])
  np.testing.assert_array_equal(out[~take], placed[~take])
  assert paste_tiles(sent, so, minimap, origin + [1, 0], tiles) is None  # not the old canvas grown by whole tiles


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  """The bundled models behind a real socket on loopback, served from a thread."""
  srv = InferenceServer(load_unet(model_path("UNet_synth")), load_vit(model_path("ViT_synth")), data=tmp_path_factory.mktemp("data"))
  srv.warmup()
  with serving(srv) as endpoint: yield srv, endpoint


def test_replies_with_the_rule_name_the_same_layout_and_without_it_the_whole_canvas_goes(server):
  srv, addr = server
  replay = make_session(2, 5, n_frames=12, resolution=(1280, 720))
  runs: dict[bool, list[dict]] = {}
  for on in (False, True):
    with Client(addr, timeout_ms=120_000, retries=0) as c:
      stm = Streamer(c, send_rule=FogRule() if on else None)
      seen: list[tuple[np.ndarray, np.ndarray]] = []
      def check(rec: dict) -> None:
        # the server is idle between frames of a deterministic replay: its session holds what this frame sent
        got, canvas = srv.sessions.get(stm.session).minimap, stm.canvas
        assert canvas is not None
        whole = shrink_with_origin(canvas.image, canvas.origin)[0]
        if not on: np.testing.assert_array_equal(got, whole)  # the rule off: exactly the canvas, as before the rule
        elif seen:
          assert stm.sender is not None and stm.sender.tiles is not None and rec["sent_tiles"] == stm.sender.tiles.sum()
          take = np.repeat(np.repeat(stm.sender.tiles, TILE, 0), TILE, 1)
          placed = np.zeros_like(got)
          (py, px), (ph, pw) = stm.sender.sent[1] - seen[-1][1], seen[-1][0].shape[:2]
          placed[py:py + ph, px:px + pw] = seen[-1][0]
          np.testing.assert_array_equal(got[take], whole[take])    # a refreshed tile is the canvas's, whole
          np.testing.assert_array_equal(got[~take], placed[~take])  # the rest is what was sent before
        seen.append((got.copy(), srv.sessions.get(stm.session).origin.copy()))
      runs[on] = run_replay(stm, ReplaySource(replay), emit=check)
  off, on_ = runs[False], runs[True]
  assert all(r["status"] == "ok" for r in off + on_)
  assert [r["layout_id"] for r in on_] == [r["layout_id"] for r in off]
  assert all(r["sent_tiles"] is None for r in off) and on_[0]["sent_tiles"] is None and all(r["sent_tiles"] is not None for r in on_[1:])
  assert sum(r["sent_tiles"] for r in on_[1:]) < sum(int(np.prod(r["canvas"])) // (2 * TILE) ** 2 for r in on_[1:]) / 4  # far fewer tiles


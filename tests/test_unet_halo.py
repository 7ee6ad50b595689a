"""A UNet with a halo (models.unet.UNet(cfg, halo=H)): it reads each 32 px tile with `halo` px of context on every side
and predicts the tile only. Whole-image tiled inference must equal the network run by hand on each haloed crop, the
server's incremental update (stream.session) must equal a full pass when a change lies in a tile's halo but not in
the tile, a checkpoint must rebuild its halo from the file alone, and train_unet.py must train one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinygrad import Tensor
from tinygrad.helpers import Context

import train_unet
from models.checkpoint import load_tiled_unet, load_unet, read_header, save_checkpoint, unet_input_path
from models.config import UNET_CONFIGS, build_unet
from models.tiled import TiledUNet
from poemap.contract import TILE
from poemap.fidelity import BUNDLED, DARKEST, PUBLISHED, channel_stats, normalise
from stream.session import grow_tiles, update_mask
from tests.test_server_session import growing_session
from tests.test_train import make_tiny_data
from training.unetdata import Crop, augment, darkest_views, load_groups, sample_halo_patches, sample_patches

HALO = 8
MICRO = dict(arch="UNet", mid_chan=4, depth=2)


@pytest.fixture(scope="module")
def net():
  return build_unet(MICRO, seed=2, halo=HALO)


@pytest.fixture(scope="module", params=[BUNDLED, PUBLISHED])
def tiled(net, request):
  return TiledUNet(net, batch=8, input_path=request.param)


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
  img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
  img[::9] = (130, 40, 220)  # line-coloured rows: a mask that is not all one class
  return img


def by_hand(net, img: np.ndarray, stats, pad_raw: bool) -> np.ndarray:
  """The haloed network on every tile's (32 + 2*halo) crop of the normalised image, padded past it with 0 (bundled)
  or normalised black (published), one tinygrad call per tile."""
  H, W = img.shape[:2]
  R, C = -(-H // TILE), -(-W // TILE)
  pad = normalise(np.zeros(3, np.uint8), *stats) if pad_raw else 0.0
  x = np.empty((R * TILE + 2 * HALO, C * TILE + 2 * HALO, 3), np.float32)
  x[:] = pad
  x[HALO:HALO + H, HALO:HALO + W] = normalise(img, *stats)
  out = np.zeros((R * TILE, C * TILE), np.uint8)
  with Context(TRAINING=0):
    for r in range(R):
      for c in range(C):
        crop = x[r * TILE:(r + 1) * TILE + 2 * HALO, c * TILE:(c + 1) * TILE + 2 * HALO].transpose(2, 0, 1)[None]
        out[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = net(Tensor(np.ascontiguousarray(crop))).argmax(1).numpy()[0]
  return out[:H, :W]


def test_halo_config_shapes_and_metadata(net):
  assert net(Tensor.zeros(2, 3, TILE + 2 * HALO, TILE + 2 * HALO)).shape == (2, 2, TILE, TILE)  # predicts the tile only
  assert net.config["halo"] == HALO and TiledUNet(net).halo == HALO
  assert not any(hasattr(cfg, "halo") for cfg in UNET_CONFIGS.values())  # the configs (the published architecture too) are as they were
  assert "halo" not in build_unet("tiny").config and build_unet("tiny").halo == 0  # a plain UNet's metadata too
  assert build_unet(dict(MICRO, halo=HALO)).halo == HALO  # a JSON config (train_unet.py --config) may carry it
  with pytest.raises(ValueError, match="multiple of 2\\*\\*depth"): build_unet(MICRO, halo=6)
  with pytest.raises(ValueError, match="halo"): build_unet(MICRO, halo=-4)


def test_tiled_mask_equals_the_network_on_each_haloed_crop(net, tiled):
  img = image(70, 100)  # ragged on both sides: the halo reaches past the image at every edge
  stats = tiled.stats(img)
  got = tiled.mask(img, stats)
  np.testing.assert_array_equal(got, by_hand(net, img, stats, tiled.pad_raw))
  assert 0.01 < got.mean() < 0.99
  coords = np.array([[0, 0], [1, 2], [2, 3], [1, 1]])  # corners, an inner tile, ragged edges
  sub = tiled.tiles(img, coords, stats)
  for (r, c), t in zip(coords, sub):
    want = np.zeros((TILE, TILE), np.uint8)
    part = got[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE]
    want[:part.shape[0], :part.shape[1]] = part
    np.testing.assert_array_equal(t, want, err_msg=f"tile {r},{c}")


def test_context_changes_the_tile(net):
  """The halo is really read: changing pixels only outside a tile changes the tile's result (which a plain UNet
  would ignore)."""
  t = TiledUNet(net, batch=8)
  img = image(96, 96, seed=3)
  stats = channel_stats(img)
  other = img.copy()
  other[32 - HALO:32, 32:64] = 255  # in tile (1,1)'s halo, inside tile (0,1)
  a, b = t.tiles(img, np.array([[1, 1]]), stats), t.tiles(other, np.array([[1, 1]]), stats)
  assert (a != b).any()


def test_grow_tiles():
  a = np.zeros((4, 5), bool)
  a[1, 1] = True
  g = grow_tiles(a, 1, False)
  assert g.sum() == 9 and g[0:3, 0:3].all()
  assert grow_tiles(a, 0, True) is a
  assert grow_tiles(np.zeros((2, 2), bool), 1, True).all()  # past the grid counts as `outside`


@pytest.mark.parametrize("per_request", [False, True])
def test_incremental_session_equals_full_pass(net, per_request):
  """A growing session (black unrevealed canvas, growth on every side), then a change in tile (1,1)'s halo only:
  every frame's incremental mask equals the whole-image pass, and that change recomputes the tiles around it."""
  unet = TiledUNet(net, batch=8, input_path=PUBLISHED if per_request else BUNDLED)
  frames = growing_session(seed=4, n=8)
  img, origin = frames[-1]
  changed = img.copy()
  changed[TILE - HALO:TILE, 2 * TILE:3 * TILE] ^= 0x5A  # rows in tile (0,2) within the halo of tiles (1,1..3), not in them
  frames += [(changed, origin)]
  stats = channel_stats(frames[0][0])
  assert (unet.mask(changed, stats)[TILE:2 * TILE] != unet.mask(img, stats)[TILE:2 * TILE]).any()  # the change reaches tile row 1
  state = None
  for k, (im, o) in enumerate(frames):
    prev = state
    state, n = update_mask(unet, state, im, o, incremental=True, per_request=per_request)
    full = unet.mask(im, unet.stats(im) if per_request else state.stats)
    np.testing.assert_array_equal(state.mask, full, err_msg=f"frame {k}")
  if not per_request:
    assert prev is not None and state.stats is prev.stats
    assert 0 < n <= 6  # tile (0,2) and its neighbours within the grid (rows 0-1, columns 1-3) at most: the reach of an 8 px halo
  assert 0.01 < state.mask.mean() < 0.99


def test_black_tiles_next_to_revealed_ones_use_their_halo(net):
  """The shared black-tile mask is only for black tiles amid black tiles: a black tile beside a revealed one sees it."""
  unet = TiledUNet(net, batch=8)
  img = np.zeros((160, 160, 3), np.uint8)
  img[32:64, 32:64] = image(32, 32, seed=5)  # one revealed tile; the rest of the canvas unrevealed black
  stats = (np.full(3, 60, np.float32), np.full(3, 50, np.float32))
  state, n = update_mask(unet, None, img, np.array([48, 48]), stats=stats)
  np.testing.assert_array_equal(state.mask, unet.mask(img, stats))
  # black amid black inside the image (past it is 0, no black): (1,3), (2,3), (3,1), (3,2), (3,3); every other tile was run
  assert n == 25 - 5


def test_haloed_checkpoint_reloads_with_its_halo(tmp_path, net):
  p = save_checkpoint(net, tmp_path / "halo.safetensors")
  assert read_header(p)[1]["halo"] == HALO
  back = load_unet(p)
  assert back.cfg == net.cfg and back.halo == HALO
  t = load_tiled_unet(p, batch=8)
  assert t.halo == HALO
  img = image(64, 96, seed=6)
  np.testing.assert_array_equal(t.mask(img), TiledUNet(net, batch=8).mask(img))
  plain = save_checkpoint(build_unet(MICRO), tmp_path / "plain.safetensors")
  assert "halo" not in read_header(plain)[1] and load_unet(plain).halo == 0  # a plain UNet's metadata is as before


def test_halo_patches_centre_their_labels_and_keep_padding_zero(tmp_path):
  crops = [c for cs in load_groups(make_tiny_data(tmp_path / "d")).values() for c in cs]
  x, y, inside = sample_halo_patches(crops, 16, np.random.default_rng(0), HALO)
  x0, y0 = sample_patches(crops, 16, np.random.default_rng(0))  # the same draws: the centre is the plain patch
  np.testing.assert_array_equal(x[:, :, HALO:-HALO, HALO:-HALO], x0)
  np.testing.assert_array_equal(y, y0)
  assert x.shape == (16, 3, TILE + 2 * HALO, TILE + 2 * HALO) and not inside.all() and (x.transpose(0, 2, 3, 1)[~inside] == 0).all()
  xa, ya = augment(x, y, np.random.default_rng(1), inside=inside)
  assert xa.shape == x.shape and ya.shape == y.shape
  assert sorted((xa == 0).all(1).sum((1, 2)).tolist()) == sorted((~inside).sum((1, 2)).tolist())  # padding stays 0, turned with the patch


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 5), st.integers(2, 3), st.integers(0, 2**31 - 1))
def test_darkest_views_are_the_minimum_of_consecutive_views_over_the_group_mask(n, k, seed):
  rng = np.random.default_rng(seed)
  mask = (rng.random((24, 24)) < 0.1).astype(np.uint8)
  images = [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(n)]
  crops = [Crop("g", img, mask, *channel_stats(img), np.argwhere(mask)) for img in images]
  out = darkest_views(crops, k)
  spans = [(i, j) for j in range(2, k + 1) for i in range(n - j + 1)]  # every 2..k consecutive views, shortest first
  assert len(out) == len(spans)
  for (i, j), c in zip(spans, out):
    views = np.stack([v.image for v in crops[i:i + j]])
    assert c.image.dtype == np.uint8 and (c.image == views.min(0)).all() and (c.image[None] <= views).all()
    assert c.mask is mask and c.group == "g"
    np.testing.assert_allclose(np.stack([c.mean, c.std]), np.stack(channel_stats(c.image)))


def test_train_a_few_steps_with_halo_writes_a_loadable_file(tmp_path):
  data = make_tiny_data(tmp_path / "data")
  out = tmp_path / "u.safetensors"
  hist = train_unet.train(train_unet.get_args(["--data", str(data), "--config", '{"arch": "UNet", "mid_chan": 4, "depth": 1}', "--halo", "4",
                                                "--batch", "8", "--lr", "1e-2", "--steps", "4", "--eval-every", "4", "--save-every", "4",
                                                "--darkest", "2", "--out", str(out)]))
  assert hist["steps"] == 4 and all(np.isfinite(hist["losses"])) and len(hist["val"]) == 1
  m = load_unet(out)
  assert m.halo == 4 and m.config["halo"] == 4
  assert unet_input_path(out) == DARKEST  # made for the canvas's darkest views: the server says so, the client sends them
  assert load_tiled_unet(Path(out)).mask(image(40, 40)).shape == (40, 40)
  for bad in ("1", "-2"):
    with pytest.raises(SystemExit):
      train_unet.get_args(["--data", str(data), "--darkest", bad])
  with pytest.raises(Exception, match="augment ours"):
    train_unet.train(train_unet.get_args(["--data", str(data), "--config", "small", "--halo", "4", "--augment", "original", "--steps", "1",
                                          "--out", str(tmp_path / "v.safetensors")]))

"""ViT training samples (training.vitdata): the bit-packed layout masks the producer keeps, and the cropped
view each exploration is cut from, give exactly what the full mask gives; a training sample and the server
turn the same minimap into the same tokens (one cleaning, poemap.tokens.mask_tokens)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import build_unet
from models.tiled import TiledUNet
from poemap.explore import explore_map
from poemap.tokens import clean_sparse_pixels, mask_tokens, tokenize_mask
from stream.session import update_clean, update_mask, update_tokens
from training.vitdata import PackedMask, crop_to_view, make_sample


def random_mask(seed: int, h: int, w: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  m = (rng.random((h, w)) < 0.02).astype(np.uint8)
  for i in range(max(4, h * w // 2500)):  # thick strokes (the cleaning removes the speckle, keeps these)
    y, x = rng.integers(0, h), rng.integers(0, w)
    if i % 2: m[max(0, y - 2):y + 3, max(0, x - 40):x + 40] = 1
    else: m[max(0, y - 40):y + 40, max(0, x - 2):x + 3] = 1
  return m


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 90), st.integers(1, 90), st.data())
def test_packed_mask_slices_like_the_array(seed, h, w, data):
  m = random_mask(seed, h, w)
  pm = PackedMask(m)
  y0, y1 = sorted(data.draw(st.tuples(st.integers(0, h), st.integers(0, h))))
  x0, x1 = sorted(data.draw(st.tuples(st.integers(0, w), st.integers(0, w))))
  got = pm[y0:y1, x0:x1]
  assert pm.shape == m.shape and got.dtype == np.uint8 and np.array_equal(got, m[y0:y1, x0:x1])
  assert PackedMask(m).bits.nbytes <= (h * ((w + 7) // 8))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(2, 12), st.integers(8, 30))
def test_cropped_view_gives_the_full_masks_tokens(mask_seed, path_seed, k, radius):
  h, w = 240, 260
  m = random_mask(mask_seed, h, w)
  rng = np.random.default_rng(path_seed)
  path = np.cumsum(rng.integers(-25, 26, (k, 2)), axis=0) + [h // 2, w // 2]
  origin = path[0].copy()
  full = tokenize_mask(clean_sparse_pixels(explore_map(m, path, radius)), origin)
  for src in (m, PackedMask(m)):
    cm, co, cp = crop_to_view(src, origin, path, radius)
    assert np.array_equal(tokenize_mask(clean_sparse_pixels(explore_map(cm, cp, radius)), co), full)
  # a whole-path sample without dropped points is that same exploration, from the array or the packed mask
  a = make_sample(m, origin, path, np.random.default_rng(1), min_frac=1.0, max_drop=0.0, radius=radius)
  b = make_sample(PackedMask(m), origin, path, np.random.default_rng(1), min_frac=1.0, max_drop=0.0, radius=radius)
  assert np.array_equal(a, full) and np.array_equal(b, full)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_random_samples_agree_between_array_and_packed_mask(mask_seed, seed):
  m = random_mask(mask_seed, 200, 200)
  path = np.array([[100, 100], [110, 120], [130, 140], [150, 150], [160, 120], [150, 90]])
  kw = dict(min_frac=0.05, max_drop=0.5, radius=25, origin_jitter=8)
  a = make_sample(m, path[0], path, np.random.default_rng(seed), **kw)
  b = make_sample(PackedMask(m), path[0], path, np.random.default_rng(seed), **kw)
  assert a.dtype == b.dtype and np.array_equal(a, b)


def test_a_training_sample_and_the_server_make_the_same_tokens():
  """One minimap through both paths: prepare_vit_data's mask (the UNet's, as it is: tests/test_train.py checks the
  file) seen along a path that reveals all of it, and the server's session (stream.session, as stream.server runs it)."""
  rng = np.random.default_rng(4)
  img = rng.integers(0, 90, (200, 260, 3), dtype=np.uint8)
  for _ in range(12):  # line-coloured strokes over noise
    y, x = rng.integers(0, 200), rng.integers(0, 260)
    img[max(0, y - 1):y + 2, max(0, x - 50):x + 50] = (130, 60, 220)
  origin = np.array([90, 120])
  unet = TiledUNet(build_unet("tiny", seed=3), batch=16)  # a random UNet whose mask is sparse: cleaning matters
  mask = unet.mask(img)
  sample = make_sample(mask, origin, origin[None], np.random.default_rng(0), min_frac=1.0, max_drop=0.0, radius=400)
  state, _ = update_mask(unet, None, img, origin)
  update_clean(None, state)
  served, n = update_tokens(None, state)
  assert n == len(served) == len(sample) > 10 and served.dtype == sample.dtype
  np.testing.assert_array_equal(sample, served)
  np.testing.assert_array_equal(sample, mask_tokens(mask, origin))
  # the test has teeth: the old training path cleaned the mask twice (prepare_vit_data, then the sample), and differs
  assert not np.array_equal(mask_tokens(clean_sparse_pixels(mask), origin), served)

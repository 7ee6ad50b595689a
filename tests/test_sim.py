"""The synthetic Coast: layouts, player, renderer, sessions, data-directory writers, guides, stitching."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poemap import datadir
from poemap.colorfilter import color_filter_mask, confusion, line_f1, unet_group_pairs
from poemap.fileio import load_npz_data, load_png
from poemap.sim.classes import SPECS
from poemap.sim.dataset import minimap_half, rival_classes, write_dataset
from poemap.sim.layout import half_scale, make_layout
from poemap.sim.player import MAX_STEP, walk, walk_full
from poemap.sim.render import Reveal, crop, make_world, render_capture, render_screen
from poemap.sim.session import load_session, make_session, save_session
from poemap.stitch import MinimapCanvas


@pytest.fixture(scope="module")
def layouts():
  return {l: make_layout(l, 0) for l in range(9)}


def test_every_class_makes_a_game_sized_layout(layouts):
  for l, lay in layouts.items():
    assert lay.layout_id == l
    ys, xs = np.nonzero(lay.walkable[::8, ::8])
    extent = max(np.ptp(ys), np.ptp(xs)) * 8
    assert 2500 <= extent <= 6000, (l, extent)
    assert lay.walkable[tuple(lay.entrance)]
    assert lay.lines.any() and lay.exits
    # lines are the boundary of the walkable area: every line pixel touches both sides within 3 px
    ly, lx = np.nonzero(lay.lines[::97, ::97])
    for y, x in zip(ly[:50] * 97, lx[:50] * 97):
      win = lay.walkable[max(0, y - 3):y + 4, max(0, x - 3):x + 4]
      assert win.any() and not win.all()
    # every objective can be walked to from the entrance
    d = lay.distance_to(lay.entrance)
    for p in lay.objectives:
      assert lay.walkable[p[0] - 20:p[0] + 21, p[1] - 20:p[1] + 21].any()
      cy, cx = lay.to_cell(p)
      assert d[cy, cx] > 0 and np.hypot(cy * 16 + 8 - p[0], cx * 16 + 8 - p[1]) < 80
      r = lay.route(lay.entrance, p)
      assert len(r) > 10 and np.hypot(*np.diff(r, axis=0).T).max() < 60


def test_layouts_are_deterministic_and_vary_per_seed():
  a, b, c = make_layout(4, 11), make_layout(4, 11), make_layout(4, 12)
  assert np.array_equal(a.lines, b.lines) and np.array_equal(a.entrance, b.entrance)
  assert a.lines.shape != c.lines.shape or not np.array_equal(a.lines, c.lines)
  with pytest.raises(ValueError): make_layout(9, 0)


def test_families_share_their_first_stretch(layouts):
  # classes 0-2, 3-5, 6-8 leave the entrance the same way: their node `a` agrees to within jitter
  for fam in ((0, 1, 2), (3, 4, 5), (6, 7, 8)):
    d = [layouts[l].nodes["a"] - layouts[l].nodes["e"] for l in fam]
    assert max(np.hypot(*(x - d[0])) for x in d) < 250
  assert np.hypot(*((layouts[0].nodes["a"] - layouts[0].nodes["e"]) - (layouts[3].nodes["a"] - layouts[3].nodes["e"]))) > 500


def test_curation_rules_out_classes_as_the_layout_is_revealed(layouts):
  fams = {0: {1, 2}, 1: {0, 2}, 2: {0, 1}, 3: {4, 5}, 4: {3, 5}, 5: {3, 4}, 6: {7, 8}, 7: {6, 8}, 8: {6, 7}}
  for l, lay in layouts.items():
    assert len(rival_classes(lay, np.zeros(lay.shape, np.uint8))) == 8  # nothing seen: nothing ruled out
    near = Reveal(lay.shape)  # the entrance clearing and the start of the shared stretch
    near.visit(lay.entrance[None] + (lay.nodes["a"] - lay.nodes["e"])[None] * np.linspace(0, 0.5, 5)[:, None])
    assert fams[l] <= set(rival_classes(lay, near.mask)), l  # the family cannot be told apart there
    assert rival_classes(lay, np.ones(lay.shape, np.uint8)) == [], l  # the whole layout is unmistakable
    spec_a = np.asarray(SPECS[l].nodes["a"]) * lay.unit
    assert np.hypot(*(lay.nodes["a"] - lay.nodes["e"] - spec_a)) < 0.5 * lay.unit  # unit is the instance's scale


def test_walk_moves_like_a_person(layouts):
  lay = layouts[5]
  w = walk_full(lay, 3, 80)
  p = w.positions
  assert p.shape == (80, 2) and np.array_equal(p[0], lay.entrance)
  step = np.hypot(*np.diff(p, axis=0).T)
  assert step.max() <= MAX_STEP and (step == 0).any() and step.mean() > 60
  assert 0.5 <= w.fps <= 2.0
  assert lay.walkable[p[:, 0], p[:, 1]].all()
  assert np.array_equal(walk(lay, 3, 80), p)


def test_fog_of_war_shows_only_revealed_lines(layouts):
  lay = layouts[1]
  world = make_world(lay, 0)
  # stand on a line-rich spot: the first exit's corridor
  player = np.asarray(lay.route(lay.entrance, lay.exits[0])[40]).round().astype(int)
  none = Reveal(lay.shape)
  part = Reveal(lay.shape); part.visit(player[None])
  full = Reveal(lay.shape); full.mask[:] = 1
  img0, img1, img2 = (render_capture(world, player, r.mask, 5) for r in (none, part, full))
  assert img0.shape == (1200, 1200, 3) and img0.dtype == np.uint8
  lines = crop(lay.lines, player[0] - 600, player[1] - 600, 1200, 1200)
  d1, d2 = (img1 != img0).any(2), (img2 != img0).any(2)
  assert d2.any() and not (d2 & ~lines).any()      # the overlay changes line pixels only
  yy, xx = np.nonzero(d1)
  assert len(yy) and (((xx - 600) / 141) ** 2 + ((yy - 600) / 121) ** 2 <= 1).all()  # and only inside the fog ellipse
  assert d2.sum() > d1.sum()


def test_full_screen_render_has_icon_geometry(layouts):
  lay = layouts[0]
  world = make_world(lay, 1)
  rev = Reveal(lay.shape); rev.visit(lay.entrance[None])
  scr = render_screen(world, lay.entrance, rev.mask, 0, (1920, 1080))
  cap = render_capture(world, lay.entrance, rev.mask, 0, (1920, 1080))
  assert scr.shape == (1080, 1920, 3) and cap.shape == (600, 600, 3)
  # the capture square is the screen around the icon (x = W/2, y = 1060/2160 H)
  assert np.abs(scr[530 - 300:530 + 300, 960 - 300:960 + 300].astype(int) - cap).mean() < 3


def test_session_file_roundtrip(tmp_path):
  s = make_session(2, 5, n_frames=5, resolution=(1920, 1080))
  assert s["frames"].shape == (5, 600, 600, 3) and s["frames"].dtype == np.uint8
  assert s["positions"].shape == (5, 2) and s["positions"].dtype == np.float64 and not s["positions"][0].any()
  assert s["layout_id"] == 2 and 0.5 <= s["fps"] <= 2 and tuple(s["resolution"]) == (1920, 1080)
  assert (np.hypot(*np.diff(s["positions"], axis=0).T) <= MAX_STEP / 2).all()
  save_session(tmp_path / "s.npz", s)
  with pytest.raises(FileExistsError): save_session(tmp_path / "s.npz", s)
  t = load_session(tmp_path / "s.npz")
  assert np.array_equal(t["frames"], s["frames"]) and np.array_equal(t["positions"], s["positions"])
  assert t["layout_id"] == 2 and t["fps"] == s["fps"]
  assert np.array_equal(make_session(2, 5, n_frames=5, resolution=(1920, 1080))["frames"], s["frames"])
  np.savez(tmp_path / "bad.npz", frames=np.zeros(3))
  with pytest.raises(ValueError): load_session(tmp_path / "bad.npz")


def test_dataset_writes_the_published_format(tmp_path):
  c = write_dataset(tmp_path, seed=1, instances_per_class=1, test_per_class=1, unet_groups=5, crops_per_group=2, test_frames=22, progress=False,
                    layout_ids=[7])
  assert c["train"] == 1 and c["unet_groups"] == 5 and c["test_samples"] >= 3
  (l, idir), = datadir.layout_instances(tmp_path)
  img, origin, mask = datadir.read_layout(idir)
  assert l == 7 and img.ndim == 3 and mask.shape == img.shape[:2] and mask[origin[0], origin[1]] == 0
  no_img, origin2, mask2 = datadir.read_layout(idir, with_image=False)  # what ViT training reads
  assert no_img is None and np.array_equal(origin2, origin) and np.array_equal(mask2, mask)
  paths = datadir.read_paths(idir)
  assert len(paths) >= 4 and all(np.array_equal(p[0], origin) for p in paths)
  samples = datadir.test_samples(tmp_path, curated_only=False)
  cur = datadir.test_samples(tmp_path)
  assert len(samples) == c["test_samples"] and len(cur) == c["curated"] <= len(samples)
  tok = datadir.read_tokens(samples[-1][1])
  assert tok.dtype == np.int64 and tok[0, 0, 0, 3] <= tok[-1, 0, 0, 3]
  groups = datadir.read_unet_groups(tmp_path)
  assert len(groups) == 5
  masks = [load_npz_data(m) for _, _, m in groups]
  assert any(m.any() for m in masks) and any(not m.any() for m in masks)  # background-only groups exist
  crop0 = load_npz_data(groups[0][1][0])
  assert crop0.shape == masks[0].shape + (3,) and crop0.dtype == np.uint8
  for i in range(9): assert load_png(datadir.guide_path("coast", i, tmp_path)).shape[2] == 3
  # the colour-filter baseline is imperfect on rendered crops
  r = line_f1(unet_group_pairs(tmp_path))
  assert 0.2 < r["f1"] < 0.95


def test_colour_filter_finds_clean_lines(layouts):
  img, mask = minimap_half(layouts[3], None, np.random.default_rng(0), 0, 0, 1600, 1600)
  assert mask.any()
  assert line_f1([(img, mask)])["f1"] > 0.9


@settings(max_examples=60, deadline=None)
@given(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)))
def test_colour_filter_is_the_rgb_range(rgb):
  img = np.array(rgb, np.uint8).reshape(1, 1, 3)
  inside = 110 <= rgb[0] <= 150 and rgb[1] <= 150 and rgb[2] >= 150
  assert color_filter_mask(img)[0, 0] == int(inside)


def test_confusion_counts():
  a, b = np.array([[1, 1, 0, 0]]), np.array([[1, 0, 1, 0]])
  assert confusion(a, b) == (1, 1, 1)


@pytest.mark.parametrize("layout_id,seed", [(2, 0), (6, 1)])
def test_canvas_stitches_sessions_to_ground_truth(layout_id, seed):
  s = make_session(layout_id, seed, 60)
  c = MinimapCanvas(s["frames"][0])
  for f in s["frames"][1:]: c.add(f)
  err = np.abs((c.position - c.origin) - s["positions"][-1]).max()
  assert err <= 2.0, err


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2 ** 32 - 1))
def test_half_scale_counts_blocks(h, w, seed):
  m = np.random.default_rng(seed).random((h, w)) < 0.5
  out = half_scale(m)
  assert out.shape == (h // 2, w // 2) and out.dtype == np.uint8
  for y in range(h // 2):
    for x in range(w // 2):
      assert out[y, x] == int(m[2 * y:2 * y + 2, 2 * x:2 * x + 2].sum() >= 3)


@settings(max_examples=50, deadline=None)
@given(st.integers(-30, 30), st.integers(-30, 30), st.integers(1, 40), st.integers(1, 40))
def test_crop_pads_with_zeros(y0, x0, h, w):
  a = np.arange(1, 20 * 25 + 1).reshape(20, 25)
  c = crop(a, y0, x0, h, w)
  big = np.pad(a, 80)
  assert np.array_equal(c, big[y0 + 80:y0 + 80 + h, x0 + 80:x0 + 80 + w])

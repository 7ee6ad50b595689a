"""clip.py: a yellow line drawn over a layout image becomes an ordered path in paths.npz."""
import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from poemap.datadir import read_paths, write_layout
from poemap.datatools.pathclip import order_path, yellow_pixels
from poemap.fileio import save_png
from tests.datatools_run import run, tree, user_error

YELLOW = (255, 255, 0)


def layout(root, shape=(300, 400), origin=(40, 30)):
  d = root / "train" / "2" / "0"
  write_layout(d, 0, np.full((*shape, 3), 20, np.uint8), origin)
  return d


def test_clip_appends_ordered_paths(tmp_path):
  d = layout(tmp_path)
  img = np.full((300, 400, 3), 20, np.uint8)
  img[5, 5] = (255, 255, 1)  # almost yellow (anti-aliasing) is not path
  pts = np.array([[380, 280], [200, 250], [220, 60], [32, 42]], np.int32)  # (x, y), drawn from the far end
  cv2.polylines(img, [pts], False, YELLOW, 1)
  save_png(tmp_path / "a.png", img)
  r = run("clip.py", 2, 0, "--image", tmp_path / "a.png", "--data", tmp_path)
  assert r.returncode == 0, r.stderr
  [path] = read_paths(d)
  assert len(path) == int(np.all(img == YELLOW, -1).sum()) and np.all(img[path[:, 0], path[:, 1]] == YELLOW)
  assert path[0].tolist() == [42, 32] and path[-1].tolist() == [280, 380]  # starts at the entrance end
  assert np.abs(np.diff(path, axis=0)).max() == 1  # a 1-px line walks pixel by pixel
  thick = np.full((300, 400, 3), 20, np.uint8)
  cv2.line(thick, (30, 40), (300, 200), YELLOW, 7)
  save_png(tmp_path / "b.png", thick)
  assert run("clip.py", 2, 0, "--image", tmp_path / "b.png", "--data", tmp_path).returncode == 0
  p0, p1 = read_paths(d)
  assert np.array_equal(p0, path) and len(p1) == int(np.all(thick == YELLOW, -1).sum())
  far = np.sqrt(((p1 - [40, 30]) ** 2).sum(1))
  assert far[0] < 5 and np.all(np.diff(far[:: len(far) // 20]) > 0)  # walks away from the entrance


def test_clip_refuses_bad_images(tmp_path):
  d = layout(tmp_path)
  save_png(tmp_path / "none.png", np.full((300, 400, 3), 20, np.uint8))
  small = np.zeros((100, 100, 3), np.uint8)
  small[50] = YELLOW
  save_png(tmp_path / "small.png", small)
  before = tree(tmp_path)
  user_error(run("clip.py", 2, 0, "--image", tmp_path / "none.png", "--data", tmp_path), "yellow")
  user_error(run("clip.py", 2, 0, "--image", tmp_path / "small.png", "--data", tmp_path), "100x100", "400x300")
  user_error(run("clip.py", 2, 0, "--image", tmp_path / "missing.png", "--data", tmp_path), "missing.png")
  user_error(run("clip.py", 2, 7, "--image", tmp_path / "none.png", "--data", tmp_path), "no such layout instance")
  (tmp_path / "junk.png").write_bytes(b"not an image")
  user_error(run("clip.py", 2, 0, "--image", tmp_path / "junk.png", "--data", tmp_path), "junk.png")
  assert tree(tmp_path) == {**before, "junk.png": tree(tmp_path)["junk.png"]} and not (d / "paths.npz").exists()


def test_clip_without_clipboard_points_to_image_option(tmp_path):
  layout(tmp_path)
  user_error(run("clip.py", 2, 0, "--data", tmp_path, env={"PATH": "/nonexistent", "WAYLAND_DISPLAY": "", "DISPLAY": ""}), "--image")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=80, unique=True),
       st.tuples(st.integers(-10, 40), st.integers(-10, 40)))
def test_order_path_is_a_permutation_starting_nearest(pts, start):
  pts = np.array(pts)
  out = order_path(pts, start)
  assert sorted(map(tuple, out.tolist())) == sorted(map(tuple, pts.tolist()))
  d = ((pts - start) ** 2).sum(1)
  assert ((out[0] - start) ** 2).sum() == d.min()


def test_yellow_pixels_exact():
  img = np.zeros((4, 5, 3), np.uint8)
  img[1, 2] = YELLOW
  img[3, 4] = (254, 255, 0)
  assert yellow_pixels(img).tolist() == [[1, 2]]

"""label_layout.py / label_data.py: moves from train/collect/ that never lose a file."""
import os
import resource
import signal
import subprocess
import time

import numpy as np
import pytest

from poemap import datadir
from poemap.datadir import layout_instances, read_curation_mask, read_layout, write_collect_sample
from tests.datatools_run import PY, REPO, run, tree, user_error


def collect(root, stamps, size=64, noisy=()):
  rng = np.random.default_rng(0)
  for ts in stamps:
    raw = rng.integers(0, 255, (size, size, 3), dtype=np.uint8) if ts in noisy else np.full((size, size, 3), int(ts) % 251, np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[int(ts) % size] = 1
    write_collect_sample(root / "train" / "collect", ts, raw, [int(ts) % size, 3], mask, np.full((2, 32, 32, 4), int(ts), np.float32))


def test_label_layout_moves_into_next_instances(tmp_path):
  collect(tmp_path, ["100", "101", "102"])
  before = tree(tmp_path / "train" / "collect")
  r = run("label_layout.py", 4, "100", "--data", tmp_path)
  assert r.returncode == 0, r.stderr
  assert "0.png" in r.stdout and "100_raw.png" in r.stdout
  r = run("label_layout.py", 4, "101_raw.png", "--data", tmp_path)  # a file name works too
  assert r.returncode == 0, r.stderr
  idirs = [d for l, d in layout_instances(tmp_path) if l == 4]
  assert [d.name for d in idirs] == ["0", "1"]
  for d, ts in zip(idirs, ["100", "101"]):
    image, origin, mask = read_layout(d)
    assert (image == int(ts) % 251).all() and origin.tolist() == [int(ts) % 64, 3] and mask[int(ts) % 64].all()
    moved = {f"{ts}{s}": n for s, n in [("_raw.png", "0.png"), ("_origin.npz", "0_origin.npz"), ("_mask.png", "0_mask.png"),
                                          ("_tokens.npz", "0_tokens.npz")]}
    assert {n: tree(d)[n] for n in moved.values()} == {n: before[src] for src, n in moved.items()}
  assert sorted(tree(tmp_path / "train" / "collect")) == sorted(k for k in before if k.startswith("102"))
  r = run("label_layout.py", 4, "102", "--instance", 0, "--data", tmp_path)  # second sample of an instance
  assert r.returncode == 0 and (idirs[0] / "1.png").is_file() and (idirs[0] / "0.png").is_file()
  r = run("label_layout.py", "c", "--data", tmp_path)
  assert r.returncode == 0 and "     4          2        3" in r.stdout and "0 sample(s) waiting" in r.stdout


@pytest.mark.parametrize("args,words", [
  (["9", "100"], ["0..8"]), (["x", "100"], ["layout id"]), (["-1", "100"], ["layout id"]), (["3"], ["MINIMAP_ID"]),
  (["3", "999"], ["999_raw.png"]), (["c", "100"], ["c"]), (["3", "100", "--instance", "-2"], ["--instance"]),
])
def test_label_layout_bad_arguments_touch_nothing(tmp_path, args, words):
  collect(tmp_path, ["100"])
  before = tree(tmp_path)
  user_error(run("label_layout.py", *args, "--data", tmp_path), *words)
  assert tree(tmp_path) == before and not (tmp_path / "train" / "3").exists()


def test_label_layout_needs_origin_and_honours_layouts_option(tmp_path):
  collect(tmp_path, ["100", "101"])
  (tmp_path / "train" / "collect" / "100_origin.npz").unlink()
  before = tree(tmp_path)
  user_error(run("label_layout.py", 2, "100", "--data", tmp_path), "origin")
  assert tree(tmp_path) == before
  user_error(run("label_layout.py", 12, "101", "--data", tmp_path), "0..8")
  assert run("label_layout.py", 12, "101", "--layouts", 20, "--data", tmp_path).returncode == 0
  assert (tmp_path / "train" / "12" / "0" / "0.png").is_file()


def test_label_data_session_and_curation(tmp_path):
  collect(tmp_path, ["100", "101", "102"])
  before = tree(tmp_path / "train" / "collect")
  r = run("label_data.py", 2, "100", "102", "--data", tmp_path)
  assert r.returncode == 0, r.stderr
  assert read_curation_mask(tmp_path) == {"2": {"0": ["100", "102"]}}
  assert tree(tmp_path / "test" / "2" / "0") == {k: v for k, v in before.items() if not k.startswith("101")}
  assert run("label_data.py", 2, "--data", tmp_path).returncode == 0  # the rest of collect: a new instance
  assert read_curation_mask(tmp_path) == {"2": {"0": ["100", "102"], "1": ["101"]}}
  assert [p.name for _, p in datadir.test_samples(tmp_path)] == ["100_tokens.npz", "102_tokens.npz", "101_tokens.npz"]
  assert tree(tmp_path / "train" / "collect") == {}
  r = run("label_data.py", "c", "--data", tmp_path)
  assert r.returncode == 0 and "     2          2        3        3" in r.stdout
  user_error(run("label_data.py", 2, "--data", tmp_path), "nothing collected")


def test_label_data_bad_arguments_touch_nothing(tmp_path):
  collect(tmp_path, ["100", "101"])
  (tmp_path / "train" / "collect" / "101_tokens.npz").unlink()
  before = tree(tmp_path)
  user_error(run("label_data.py", 1, "100", "101", "--data", tmp_path), "101", "tokens")
  user_error(run("label_data.py", 10, "100", "--data", tmp_path), "0..8")
  user_error(run("label_data.py", "c", "100", "--data", tmp_path))
  (tmp_path / "test").mkdir()
  (tmp_path / "test" / "curation_mask.json").write_text("{not json")
  user_error(run("label_data.py", 1, "100", "--data", tmp_path), "curation_mask.json")
  (tmp_path / "test" / "curation_mask.json").unlink()
  (tmp_path / "test").rmdir()
  assert tree(tmp_path) == before and not (tmp_path / "test").exists()


def test_label_data_refuses_to_clobber(tmp_path):
  collect(tmp_path, ["100", "101"])
  dest = tmp_path / "test" / "1" / "0"
  dest.mkdir(parents=True)
  (dest / "101_raw.png").write_bytes(b"someone else's sample")
  before = tree(tmp_path)
  user_error(run("label_data.py", 1, "--instance", 0, "--data", tmp_path), "overwrite", "101_raw.png")
  assert tree(tmp_path) == before and read_curation_mask(tmp_path) is None


def test_failure_half_way_withdraws_copies(tmp_path):
  # 100's files are small and get copied; 101's noisy raw image exceeds the file-size limit, so the
  # write fails half-way through the move, like a full disk
  collect(tmp_path, ["100", "101"], size=400, noisy={"101"})
  before = tree(tmp_path)
  limit = 64 << 10
  assert (tmp_path / "train" / "collect" / "101_raw.png").stat().st_size > limit > (tmp_path / "train" / "collect" / "100_raw.png").stat().st_size
  r = run("label_data.py", 5, "--data", tmp_path, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
  user_error(r, "nothing was moved")
  assert tree(tmp_path) == before and not (tmp_path / "test" / "5" / "0").exists()
  limit = 1 << 30  # label_layout: same protection
  r = run("label_layout.py", 5, "101", "--data", tmp_path, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10)))
  user_error(r, "nothing was moved")
  assert tree(tmp_path) == before


def test_kill_half_way_loses_nothing(tmp_path):
  stamps = [str(1000 + i) for i in range(40)]
  collect(tmp_path, stamps, size=128)
  originals = tree(tmp_path / "train" / "collect")
  dest = tmp_path / "test" / "0" / "0"
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  p = subprocess.Popen([PY, "label_data.py", "0", "--data", str(tmp_path)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  t0 = time.time()
  while p.poll() is None and time.time() - t0 < 30:
    if dest.is_dir() and len(list(dest.glob("*.png"))) >= 10: break  # well into the copy phase
    time.sleep(0.001)
  midway = p.poll() is None
  print("killed mid-way:", midway)
  p.send_signal(signal.SIGKILL)
  p.wait()
  left, moved = tree(tmp_path / "train" / "collect"), tree(dest) if dest.is_dir() else {}
  for name, digest in originals.items(): assert left.get(name) == digest or moved.get(name) == digest, name
  if midway: assert left == originals and read_curation_mask(tmp_path) is None  # killed while copying: sources untouched
  # a rerun on what is left still works (copies made before the kill are refused, not clobbered)
  r = run("label_data.py", 0, "--data", tmp_path)
  assert r.returncode in (0, 2), r.stderr

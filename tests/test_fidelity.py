"""Issue 19: the published-fidelity input path (cubic shrink, zero padding, statistics of the padded
minimap on every request), the default models, the original tools' file names, the --recipe published knobs;
each pinned with hand-made cases."""
from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
import zmq
from tinygrad import Tensor
from tinygrad.helpers import Context
from tinygrad.nn.state import get_state_dict, safe_save

from models.checkpoint import load_tiled_unet, load_vit, save_checkpoint, unet_input_path
from models.config import build_unet
from models.tiled import TiledUNet
from models.vit import ViT
from poemap import REPO_ROOT
from poemap.contract import TILE
from poemap.datadir import read_layout, scan_layouts
from poemap.fidelity import BUNDLED, PUBLISHED, channel_stats, shrink_cubic_with_origin, shrink_for
from poemap.fileio import save_npz, save_png
from poemap.stitch import shrink_with_origin
from stream.comms import decode, encode
from stream.server import pick_models
from stream.session import update_mask
from tests.test_server import _start_server
from tests.test_server_session import growing_session
from tests.test_train import UNET_MICRO, VIT_MICRO, make_tiny_data
from training.unetdata import Crop, augment_original, sample_patches_original
from training.vitdata import EpochSteps, find_sources, round_robin_steps


def _script(name: str):
  spec = importlib.util.spec_from_file_location(name, REPO_ROOT / f"{name}.py")
  assert spec is not None and spec.loader is not None
  m = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(m)
  return m


# ---- shrink

def test_cubic_shrink_is_the_originals_and_not_area():
  img = np.zeros((8, 8, 3), np.uint8)
  img[:, 4:] = 200  # a step edge: INTER_AREA keeps it exact, INTER_CUBIC rings
  small, o = shrink_cubic_with_origin(img, [5.7, 7.2])
  np.testing.assert_array_equal(small, cv2.resize(img, (4, 4), interpolation=cv2.INTER_CUBIC))
  assert o.tolist() == [2, 3]  # floor(origin) // 2, as the bundled shrink
  area, _ = shrink_with_origin(img, [0, 0])
  assert set(np.unique(area)) == {0, 200} and small.max() > 200 and small[0, 1, 0] == 0  # overshoot beside the edge, clipped below 0
  assert shrink_for(PUBLISHED) is shrink_cubic_with_origin and shrink_for(BUNDLED) is shrink_with_origin and shrink_for(None) is shrink_with_origin
  odd, _ = shrink_cubic_with_origin(np.full((5, 7, 3), 90, np.uint8), [0, 0])
  assert odd.shape == (3, 4, 3)  # odd sides padded to even first: the output grid stays exactly ½


# ---- statistics and padding

def test_padded_statistics_by_hand():
  img = np.zeros((1, 1, 3), np.uint8)
  img[0, 0] = (64, 0, 32)
  mean, std = channel_stats(img, pad_to=32)  # one pixel and 1023 black padding pixels
  np.testing.assert_allclose(mean, [64 / 1024, 0, 32 / 1024], rtol=1e-6)
  np.testing.assert_allclose(std, [np.sqrt(64 ** 2 / 1024 - (64 / 1024) ** 2), 0, np.sqrt(32 ** 2 / 1024 - (32 / 1024) ** 2)], rtol=1e-6)
  m1, s1 = channel_stats(img)  # the bundled path: the image alone
  assert m1.tolist() == [64, 0, 32] and s1.tolist() == [0, 0, 0]
  rng = np.random.default_rng(0)
  img = rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)
  padded = np.pad(img, ((0, 19), (0, 26), (0, 0))).reshape(-1, 3).astype(np.float64)
  m, s = channel_stats(img, pad_to=32)
  np.testing.assert_allclose(m, padded.mean(0), rtol=1e-6)
  np.testing.assert_allclose(s, padded.std(0), rtol=1e-6)
  np.testing.assert_array_equal(channel_stats(padded.reshape(64, 96, 3).astype(np.uint8))[0], m)  # = the padded image's own stats


@pytest.fixture(scope="module")
def unet():
  return build_unet("tiny", seed=2)


def test_published_path_zero_pads_before_normalising(unet):
  img = np.random.default_rng(1).integers(0, 256, (40, 45, 3), dtype=np.uint8)
  padded = np.pad(img, ((0, 24), (0, 19), (0, 0)))  # what the original server built: black to whole tiles
  pub, bun = TiledUNet(unet, 16, PUBLISHED), TiledUNet(unet, 16, BUNDLED)
  np.testing.assert_array_equal(pub.stats(img)[0], channel_stats(padded)[0])
  want = bun.mask(padded, channel_stats(padded))  # the whole padded minimap under its own statistics
  np.testing.assert_array_equal(pub.mask(img), want[:40, :45])
  np.testing.assert_array_equal(pub.tiles(img, np.array([[1, 1], [0, 1]])),
                                [np.where(np.arange(32)[:, None] < 8, want[32:, 32:], 0) * (np.arange(32) < 13),
                                                                              want[:32, 32:] * (np.arange(32) < 13)])
  assert not np.array_equal(bun.mask(img), pub.mask(img))  # the bundled path normalises first and pads with 0 after


def test_per_request_statistics_are_exact_over_a_session(unet):
  tiled = TiledUNet(unet, 16, PUBLISHED)
  state, counts = None, []
  for k, (img, origin) in enumerate(growing_session(seed=3, n=10)):
    state, n = update_mask(tiled, state, img, origin, per_request=True)
    np.testing.assert_array_equal(state.mask, tiled.mask(img), err_msg=f"frame {k}")  # = the original's full pass on this minimap
    np.testing.assert_array_equal(state.stats[0], channel_stats(img, pad_to=TILE)[0])
    counts.append((n, int(img.any(-1).sum() > 0)))
  assert counts[4][0] == 0  # a repeated minimap has the same statistics: nothing to recompute


# ---- which path, which models

def test_input_path_from_the_checkpoint(tmp_path, unet):
  bundled = REPO_ROOT / "data" / "model" / "UNet_synth.safetensors"
  assert unet_input_path(bundled) == BUNDLED
  safe_save(get_state_dict(unet), str(tmp_path / "bare.safetensors"))  # no metadata, like AttentionUNet8_8600
  assert unet_input_path(tmp_path / "bare.safetensors") == PUBLISHED and load_tiled_unet(tmp_path / "bare.safetensors").pad_raw
  save_checkpoint(unet, tmp_path / "marked.safetensors", input_path=PUBLISHED)
  save_checkpoint(build_unet("published"), tmp_path / "arch.safetensors")  # the published architecture, no input mark
  assert unet_input_path(tmp_path / "marked.safetensors") == PUBLISHED and unet_input_path(tmp_path / "arch.safetensors") == PUBLISHED
  with pytest.raises(ValueError, match="input_path"): save_checkpoint(unet, tmp_path / "x.safetensors", input_path="cubic")


def test_server_picks_the_published_models_when_present_and_says_so(tmp_path, unet):
  (tmp_path / "model").mkdir()
  for n in ("UNet_synth", "ViT_synth"):
    (tmp_path / "model" / f"{n}.safetensors").write_bytes((REPO_ROOT / "data" / "model" / f"{n}.safetensors").read_bytes())
  u, v, which = pick_models(None, None, tmp_path)
  assert (u.stem, v.stem, which) == ("UNet_synth", "ViT_synth", "synthetic_coast")
  safe_save(get_state_dict(unet), str(tmp_path / "model" / "AttentionUNet8_8600.safetensors"))  # stand-ins without metadata, as published
  safe_save(get_state_dict(ViT(embed_dim=64, layers=1, ff_dim=64)), str(tmp_path / "model" / "ViT6_219_15.safetensors"))
  u, v, which = pick_models(None, None, tmp_path)
  assert (u.stem, v.stem, which) == ("AttentionUNet8_8600", "ViT6_219_15", "coast")
  p, addr, log = _start_server(["--bind", "tcp://127.0.0.1:*", "--data", str(tmp_path)])
  try:
    text = "".join(log)
    assert "models: AttentionUNet8_8600 + ViT6_219_15, the published models, for the real Coast" in text and "input path: published" in text
    s = zmq.Context.instance().socket(zmq.REQ)
    s.connect(addr)
    s.send_multipart(encode("ping"))
    pong = decode(s.recv_multipart())
    assert pong["models"] == "coast" and pong["input_path"] == PUBLISHED and pong["unet"] == "AttentionUNet8_8600"
    img = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    s.send_multipart(encode("process_minimap", {"minimap": img, "origin": np.array([5, 5], np.int64)}, session="s"))
    assert decode(s.recv_multipart())["status"] in ("ok", "no_features")
    s.close(0)
  finally:
    p.terminate(); p.wait(30)


# ---- the original tools' names

def _original_tree(root, rng):
  """train/<layout>/<instance>/ as the original label_layout.py leaves it (collect names), plus ours and some junk."""
  mask = np.zeros((96, 96), np.uint8)
  mask[40:44, 10:90] = 1
  path = np.array([[48, 48], [48, 70], [48, 88]])
  def inst(d, ts, image=True, origin=True, m=True, paths=True):
    d.mkdir(parents=True, exist_ok=True)
    if image: save_png(d / f"{ts}_raw.png" if not ts.isdigit() or len(ts) > 3 else d / f"{ts}.png", rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    if origin: save_npz(d / f"{ts}_origin.npz", data=np.array([48, 48]))
    if m: save_png(d / f"{ts}_mask.png", mask * 255)
    if paths:
      arr = np.empty(1, dtype=object)
      arr[0] = path
      save_npz(d / "paths.npz", paths=arr)
  t = root / "train"
  inst(t / "3" / "0", "1718000000123")                  # the original: <ts>_raw.png, <ts>_origin.npz, <ts>_mask.png
  save_npz(t / "3" / "0" / "1718000000123_tokens.npz", data=np.zeros((0, 32, 32, 4), np.int64))
  inst(t / "4" / "0", "1718000000999", image=False)      # what the original ViT reader needs: mask + origin + paths.npz
  inst(t / "5" / "0", "0")                               # ours: <n>.png
  inst(t / "6" / "0", "1718000000500", origin=False)     # no origin: skipped, said why
  inst(t / "7" / "0", "1718000000600", paths=False)      # no paths: skipped, said why
  (t / "collect").mkdir()
  save_png(t / "collect" / "1718000000700_raw.png", np.zeros((8, 8, 3), np.uint8))


def test_readers_take_the_original_names_and_say_what_they_skip(tmp_path, capsys):
  _original_tree(tmp_path, np.random.default_rng(0))
  skipped = []
  files = {f.layout: f for f in scan_layouts(tmp_path, "train", skipped)}
  assert sorted(files) == [3, 4, 5, 7]
  assert files[3].image.name == "1718000000123_raw.png" and files[4].image is None and files[5].image.name == "0.png"
  reasons = dict(skipped)
  assert "collect area" in reasons[str(tmp_path / "train" / "collect")]
  assert "no 1718000000500_origin.npz" in reasons[str(tmp_path / "train" / "6" / "0" / "1718000000500_raw.png")]
  img, origin, mask = read_layout(files[3].instance_dir, files[3].n)
  assert img.shape == (96, 96, 3) and origin.tolist() == [48, 48] and mask.sum() == 4 * 80
  sources = find_sources(tmp_path)
  assert sorted(s.layout for s in sources) == [3, 4, 5]
  out = capsys.readouterr().out
  assert "read 3" in out and "train/7/0: no paths.npz" in out and "train/collect: the collect area" in out and "1718000000500_raw.png: no" in out


def test_prepare_vit_data_reads_raw_names_and_reports(tmp_path, capsys, unet):
  _original_tree(tmp_path, np.random.default_rng(1))
  for f in (tmp_path / "train").glob("*/*/*_mask.png"): f.unlink()
  save_checkpoint(unet, tmp_path / "u.safetensors")
  _script("prepare_vit_data").main(["--data", str(tmp_path), "--unet", str(tmp_path / "u.safetensors")])
  out = capsys.readouterr().out
  assert (tmp_path / "train" / "3" / "0" / "1718000000123_mask.png").is_file() and (tmp_path / "train" / "5" / "0" / "0_mask.png").is_file()
  assert "read 3" in out and "wrote 3 mask(s)" in out and "the collect area" in out


# ---- recipe knobs

def test_unet_recipe_published_knobs():
  tu = _script("train_unet")
  a = tu.get_args(["--recipe", "published"])
  assert (a.config, a.steps, a.save_every, a.step_names, a.augment, a.val_frac) == ("published", 20000, 200, True, "original", 0.0)
  b = tu.get_args(["--recipe", "published", "--steps", "30", "--config", "small"])  # explicit flags win over the recipe
  assert (b.steps, b.config, b.save_every) == (30, "small", 200)
  c = tu.get_args([])
  assert (c.steps, c.save_every, c.step_names, c.augment, c.val_frac) == (10000, 500, False, "ours", 0.15)  # our defaults unchanged


def test_original_augmentation_by_hand():
  rng = np.random.default_rng(0)
  x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4) / 10 - 2  # normalised values, many below 0
  y = np.arange(2 * 4 * 4, dtype=np.int32).reshape(2, 4, 4)
  same = augment_original(x, y, rng, p=0.0)
  np.testing.assert_array_equal(same[0], x); np.testing.assert_array_equal(same[1], y)
  xn, yn = augment_original(x, y, rng, p=1.0)  # flip, rotate and noise all applied
  assert xn.min() >= 0 and xn.max() <= 1  # noise, then clipped to [0, 1]
  for i in range(2):  # image and mask moved together: find the rotation that maps the flipped mask onto yn
    assert any(np.array_equal(np.rot90(y[i][:, ::-1], k), yn[i]) for k in (1, 2, 3))
  xs, _ = augment_original(np.zeros((4000, 3, 2, 2), np.float32) + 0.5, np.zeros((4000, 2, 2), np.int32), rng, p=1.0)
  assert abs(float(xs.std()) - 0.05) < 0.002  # sigma 0.05


def test_original_patch_sampling():
  rng = np.random.default_rng(0)
  img = np.arange(33 * 33 * 3, dtype=np.int64).reshape(33, 33, 3) % 256
  crops = [Crop("g", img.astype(np.uint8), np.eye(33, dtype=np.uint8), *channel_stats(img.astype(np.uint8)), np.zeros((0, 2))) for _ in range(3)]
  x, y = sample_patches_original(crops, 50, rng, patch=32)
  assert x.shape == (50, 3, 32, 32)
  np.testing.assert_array_equal(y, np.broadcast_to(np.eye(32, dtype=np.int32), (50, 32, 32)))  # the corner is always (0, 0): randint(0, H - patch)


def test_vit_recipe_published_knobs_and_dropout():
  tv = _script("train_vit")
  a = tv.get_args(["--recipe", "published"])
  assert (a.sampling, a.dropout, a.embed_dropout, a.lr, a.lr_schedule, a.keep) == ("epochs", 0.1, 0.3, 1e-3, "constant", "train-loss")
  b = tv.get_args([])
  assert (b.sampling, b.dropout, b.embed_dropout, b.keep) == ("ours", 0.0, 0.0, "test-acc")
  plain, drop = ViT(embed_dim=64, layers=1, ff_dim=64), ViT(embed_dim=64, layers=1, ff_dim=64, dropout=0.1, embed_dropout=0.3)
  shapes = lambda m: {k: v.shape for k, v in get_state_dict(m).items()}
  assert shapes(plain) == shapes(drop) and plain.config == drop.config
  tok = np.zeros((3, 32, 32, 4), np.int64)
  tok[:, 5:9, :, 0] = 1
  tok[:, :, :, 1] = np.arange(3)[:, None, None]
  s = [tok]
  with Context(TRAINING=0): np.testing.assert_array_equal(plain(s).numpy(), drop(s).numpy())  # inactive outside training
  Tensor.manual_seed(0)
  with Context(TRAINING=1): assert not np.array_equal(plain(s).numpy(), drop(s).numpy())


def test_round_robin_epochs():
  rng = np.random.default_rng(0)
  labels = [0, 0, 0, 1, 2, 2]
  steps = round_robin_steps(labels, 2, rng)
  flat = [i for s in steps for i in s]
  assert sorted(flat) == list(range(6)) and [len(s) for s in steps] == [2, 2, 2]  # every sample once per epoch
  assert sorted(labels[i] for i in flat[:3]) == [0, 1, 2]  # the first round deals one sample of each class
  assert [labels[i] for i in flat[-2:]] == [0, 0] or labels[flat[-1]] == 0  # the largest class is what is left at the end


def test_epoch_steps_use_whole_paths_uncleaned(tmp_path, capsys):
  _original_tree(tmp_path, np.random.default_rng(2))
  stream = EpochSteps(find_sources(tmp_path), batch=2, seed=0)
  assert len(stream.samples) == 3 and stream.empty == 0
  toks, labels = stream.next()
  toks2, labels2 = stream.next()
  assert sorted(labels.tolist() + labels2.tolist())[:2] != [] and stream.epoch == 1
  t = [x for x, l in zip(toks + toks2, list(labels) + list(labels2)) if l == 3][0]
  # the path runs 48 -> 88 along x at y 48 with light radius 65: the whole line (x 10..89) is revealed, uncleaned
  assert int(t[..., 0].sum()) == 4 * 80


def test_published_recipes_run_and_save_as_the_original(tmp_path, capsys):
  data = make_tiny_data(tmp_path / "data")
  tu, tv = _script("train_unet"), _script("train_vit")
  out = tmp_path / "u.safetensors"
  hist = tu.train(tu.get_args(["--recipe", "published", "--data", str(data), "--config", UNET_MICRO, "--batch", "8", "--steps", "4", "--save-every",
                               "2", "--out", str(out)]))
  assert [p.name for p in hist["saved"]] == ["u_2.safetensors", "u_4.safetensors"] and not hist["val"] and not out.exists()
  assert unet_input_path(tmp_path / "u_4.safetensors") == PUBLISHED
  vout = tmp_path / "v.safetensors"
  hist = tv.train(tv.get_args(["--recipe", "published", "--data", str(data), *VIT_MICRO, "--batch", "4", "--steps", "6", "--eval-every", "3",
                               "--out", str(vout)]))
  assert len(hist["losses"]) == 6 and load_vit(vout).config["layers"] == 1
  text = capsys.readouterr().out
  assert "fixed samples (whole paths, uncleaned)" in text and "(best, saved)" not in text  # kept on the training loss, not the test accuracy

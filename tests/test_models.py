import argparse
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinygrad import Tensor
from tinygrad.helpers import Context
from tinygrad.nn.state import get_state_dict, safe_save

from models import (
  UNET_CONFIGS,
  AttentionUNet,
  TiledUNet,
  UNet,
  UNetConfig,
  ViT,
  ViTConfig,
  ViTRunner,
  batch_arrays,
  build_unet,
  load_checkpoint,
  load_unet,
  load_vit,
  save_checkpoint,
  unet_config,
)
from models.checkpoint import infer_unet_config, infer_vit_config, read_header
from models.config import add_config_flags, config_from_args
from models.unet import channel_dropout
from poemap.contract import PUBLISHED_UNET_SIZES, PUBLISHED_VIT_SIZES
from poemap.fidelity import channel_stats
from poemap.tokens import tokenize_mask

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "published_checkpoints.json").read_text())["checkpoints"]
SMALL_VIT = dict(num_classes=3, max_tokens=8, layers=2, embed_dim=32, num_heads=2, ff_dim=48)


def shapes(model) -> dict: return {k: list(v.shape) for k, v in get_state_dict(model).items()}


@pytest.fixture(scope="module")
def tiny():
  return build_unet("tiny", seed=1)  # a seed whose random UNet marks about half the pixels: masks that show a difference


@pytest.fixture(scope="module")
def published():
  return AttentionUNet()


def x4(seed: int) -> Tensor:  # the tiled fixture's batch shape, so kernels are shared between tests
  return Tensor(np.random.default_rng(seed).standard_normal((4, 3, 32, 32)).astype(np.float32))


@pytest.fixture(scope="module")
def tiled(tiny):
  return TiledUNet(tiny, batch=4)


@pytest.fixture(scope="module")
def vit():
  return ViT(**SMALL_VIT, seed=1)


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def token_sets(seed: int = 0) -> list[np.ndarray]:
  rng = np.random.default_rng(seed)
  out = []
  for size, p in [(300, 0.02), (64, 0.05), (40, 0.3)]:  # more than max_tokens, fewer, a handful
    out.append(tokenize_mask((rng.random((size, size)) < p).astype(np.uint8), (size // 3, size // 2)))
  return out

# ---- names and shapes of the published checkpoints

def test_attention_unet_matches_published_names_and_shapes(published):
  assert shapes(published) == FIXTURE["AttentionUNet8_8600"]
  assert published.cfg == UNET_CONFIGS["published"] and published.config == {**PUBLISHED_UNET_SIZES, "arch": "AttentionUNet", "width": 1}


def test_vit_matches_published_names_and_shapes():
  vit = ViT()
  assert shapes(vit) == FIXTURE["ViT6_219_15"] and vit.config == {**PUBLISHED_VIT_SIZES, "arch": "ViT"}


def test_published_architecture_facts(published):
  m = published
  gn = m.save_intermediates[0][1].blocks[0]
  assert (gn.num_groups, gn.num_channels, gn.eps) == (4, 64, 1e-5)
  assert m.middle[1].blocks[3].num_groups == 32 and m.attention_blocks[2].W_g[1].num_groups == 2
  assert m.attention_blocks[0].psi[1].eps == 1e-5
  assert not hasattr(m.save_intermediates[0][1], "shortcut") and hasattr(m.save_intermediates[1][1], "shortcut")


def test_configs_inferred_from_published_shapes():
  un = {k: tuple(v) for k, v in FIXTURE["AttentionUNet8_8600"].items()}
  assert infer_unet_config(un) == UNET_CONFIGS["published"]
  assert infer_vit_config({k: tuple(v) for k, v in FIXTURE["ViT6_219_15"].items()}) == ViTConfig()


@pytest.mark.parametrize("cfg", [dict(arch="UNet", mid_chan=8, depth=1, width=2), dict(arch="AttentionUNet", mid_chan=8, depth=2, out_chan=3)])
def test_configs_forward_shape_and_inference(cfg):
  m = build_unet(cfg)
  assert m(Tensor.randn(2, 3, 32, 32)).shape == (2, cfg.get("out_chan", 2), 32, 32)
  assert infer_unet_config({k: tuple(v) for k, v in shapes(m).items()}) == unet_config(cfg) == replace(UNetConfig(), **cfg)


def test_unknown_config_is_a_clear_error():
  with pytest.raises(ValueError, match="huge"): build_unet("huge")
  with pytest.raises(ValueError, match="mid_chanel"): build_unet(dict(mid_chanel=3))
  with pytest.raises(ValueError, match="Transformer"): build_unet(dict(arch="Transformer"))

# ---- dropout: only under tinygrad's TRAINING context

def test_inference_is_deterministic_and_dropout_only_in_training(tiny):
  with Context(TRAINING=0): a, b = tiny(x4(0)).numpy(), tiny(x4(0)).numpy()
  np.testing.assert_array_equal(a, b)
  assert tiny.middle[2] is channel_dropout
  x = Tensor(np.random.default_rng(0).standard_normal((4, 16, 3, 3)).astype(np.float32))
  with Context(TRAINING=0): np.testing.assert_array_equal(channel_dropout(x).numpy(), x.numpy())
  Tensor.manual_seed(3)
  with Context(TRAINING=1): d = channel_dropout(x).numpy()
  kept = (d == 2 * x.numpy()).all(axis=(2, 3))
  assert (kept | (d == 0).all(axis=(2, 3))).all() and 0 < kept.sum() < kept.size  # whole channels, scaled by 1/(1-p)


# ---- checkpoints

def test_unet_save_load_round_trip(tmp_path, tiny):
  x = x4(1)
  p = save_checkpoint(tiny, tmp_path / "tiny_synth.safetensors")
  assert read_header(p)[1] == asdict(UNET_CONFIGS["tiny"])
  back = load_unet(p)
  assert type(back) is UNet and back.config == tiny.config
  np.testing.assert_array_equal(back(x).numpy(), tiny(x).numpy())


def test_save_never_clobbers_unless_asked(tmp_path, tiny):
  p = save_checkpoint(tiny, tmp_path / "a.safetensors")
  before = p.read_bytes()
  other = build_unet("tiny", seed=9)
  with pytest.raises(FileExistsError, match="overwrite"): save_checkpoint(other, p)
  assert p.read_bytes() == before
  save_checkpoint(other, p, overwrite=True)
  assert p.read_bytes() != before and not [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]


def test_load_by_name_under_data_model(tmp_path, monkeypatch, vit):
  monkeypatch.setenv("POEMAP_DATA", str(tmp_path))
  save_checkpoint(vit, "vit_small_synth")
  assert (tmp_path / "model" / "vit_small_synth.safetensors").is_file()
  back = load_vit("vit_small_synth")
  assert back.config == vit.config
  want = get_state_dict(vit)
  for k, v in get_state_dict(back).items(): np.testing.assert_array_equal(v.numpy(), want[k].numpy(), err_msg=k)


def test_missing_checkpoint_names_path_and_hint(tmp_path, monkeypatch):
  monkeypatch.setenv("POEMAP_DATA", str(tmp_path))
  with pytest.raises(FileNotFoundError, match=r"AttentionUNet8_8600\.safetensors.*get_data\.py --models-only"): load_unet("AttentionUNet8_8600")


def test_checkpoint_without_metadata_is_rebuilt_from_shapes(tmp_path):
  m = build_unet(dict(arch="AttentionUNet", mid_chan=8, depth=2), seed=4)
  p = tmp_path / "bare.safetensors"
  safe_save(get_state_dict(m), str(p))  # like the published files: no poemap metadata
  back = load_unet(p)
  assert type(back) is AttentionUNet and back.config == m.config
  want = get_state_dict(m)
  for k, v in get_state_dict(back).items(): np.testing.assert_array_equal(v.numpy(), want[k].numpy(), err_msg=k)


def test_mismatched_checkpoint_names_the_tensors(tmp_path, tiny):
  p = save_checkpoint(tiny, tmp_path / "tiny.safetensors")
  with pytest.raises(ValueError, match=r"mismatched \['consume_intermediates\.0\.0\.blocks\.0\.bias: model \(32,\) vs file \(16,\)"):
    load_checkpoint(build_unet("small"), p)
  with pytest.raises(ValueError, match=r"missing \['attention_blocks\.0\.W_g\.0\.bias'.*unexpected \[\]"):
    load_checkpoint(build_unet(replace(UNET_CONFIGS["tiny"], arch="AttentionUNet")), p)
  with pytest.raises(ValueError, match="not a ViT checkpoint"): load_vit(p)
  junk = tmp_path / "junk.safetensors"
  junk.write_bytes(b"\xff" * 64)
  with pytest.raises(ValueError, match="not a safetensors file"): load_unet(junk)

# ---- tiled UNet inference

def test_tiled_mask_equals_per_tile_model_calls(tiled, tiny):
  img = image(70, 100)
  mean, std = channel_stats(img)
  got = tiled.mask(img)
  assert got.shape == (70, 100) and got.dtype == np.uint8 and set(np.unique(got)) <= {0, 1}
  x = np.zeros((96, 128, 3), np.float32)
  x[:70, :100] = (img.astype(np.float32) - mean) / (std + 1e-8)
  want = np.zeros((96, 128), np.uint8)
  with Context(TRAINING=0):
    for r in range(3):
      logits = tiny(Tensor(np.ascontiguousarray(x[r * 32:(r + 1) * 32].reshape(32, 4, 32, 3).transpose(1, 3, 0, 2)))).numpy()
      want[r * 32:(r + 1) * 32] = logits.argmax(1).transpose(1, 0, 2).reshape(32, 128)
  np.testing.assert_array_equal(got, want[:70, :100])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 130), w=st.integers(1, 130), seed=st.integers(0, 2**16), data=st.data())
def test_subset_tiles_equal_full_inference(tiled, h, w, seed, data):
  img = image(h, w, seed)
  stats = (np.array([120, 60, 200], np.float32), np.array([30, 50, 0], np.float32))  # held fixed, one channel flat
  full = np.zeros((-(-h // 32) * 32, -(-w // 32) * 32), np.uint8)
  full[:h, :w] = tiled.mask(img, stats)
  th, tw = full.shape[0] // 32, full.shape[1] // 32
  coords = np.array(data.draw(st.lists(st.tuples(st.integers(0, th - 1), st.integers(0, tw - 1)), min_size=1, max_size=9)), np.int64)
  sub = tiled.tiles(img, coords, stats)
  for (r, c), t in zip(coords, sub): np.testing.assert_array_equal(t, full[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32])


def test_stats_argument_is_used(tiled):
  img = image(40, 40, 5)
  assert not np.array_equal(tiled.mask(img), tiled.mask(img, (np.zeros(3), np.full(3, 1000.0))))


def test_tiled_bad_input_is_a_clear_error(tiled):
  with pytest.raises(ValueError, match="uint8"): tiled.mask(image(40, 40).astype(np.float32))
  with pytest.raises(ValueError, match="outside"): tiled.tiles(image(40, 40), np.array([[0, 2]]), channel_stats(image(40, 40)))
  with pytest.raises(ValueError, match="stats"): tiled.mask(image(40, 40), (np.zeros(2), np.ones(2)))
  assert tiled.tiles(image(40, 40), np.zeros((0, 2), np.int64), None).shape == (0, 32, 32)


def test_channel_stats():
  img = image(33, 17, 3)
  mean, std = channel_stats(img)
  assert mean.dtype == std.dtype == np.float32
  np.testing.assert_allclose(mean, img.reshape(-1, 3).mean(0), rtol=1e-6)
  np.testing.assert_allclose(std, img.reshape(-1, 3).std(0), rtol=1e-6)

# ---- ViT

def _np_layernorm(x, scale, bias):
  return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * scale + bias


def _np_vit(vit: ViT, x: np.ndarray, pe: np.ndarray, n: np.ndarray) -> np.ndarray:
  """Independent float64 reading of the ViT facts in docs/DESIGN.md, "The published checkpoints", for one batch of padded arrays."""
  P = {k: v.numpy().astype(np.float64) for k, v in get_state_dict(vit).items()}
  B, T = x.shape[:2]
  w = P["embedding.l1.weight"]  # (C,1,16,16) on the four quadrants
  q = x.reshape(B, T, 2, 16, 2, 16).transpose(0, 1, 2, 4, 3, 5)  # B T qy qx 16 16
  emb = np.maximum(np.einsum("btyxij,cij->btcyx", q, w[:, 0]) + P["embedding.l1.bias"][None, None, :, None, None], 0).reshape(B, T, -1) + pe
  emb = np.where((np.arange(T)[None, :] < n[:, None])[..., None], emb, P["mask_token"][None])
  h = np.concatenate([np.broadcast_to(P["cls_token"], (B, 1, emb.shape[-1])), emb], 1)
  H = vit.config["num_heads"]
  gelu = lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
  for i in range(vit.config["layers"]):
    L = lambda name: (P[f"tbs.{i}.{name}.0"], P[f"tbs.{i}.{name}.1"])
    a = _np_layernorm(h, *L("ln1"))
    qh, kh, vh = [(a @ L(nm)[0] + L(nm)[1]).reshape(B, T + 1, H, -1).transpose(0, 2, 1, 3) for nm in ("query", "key", "value")]
    s = qh @ kh.transpose(0, 1, 3, 2) / math.sqrt(qh.shape[-1])
    s = np.exp(s - s.max(-1, keepdims=True))
    att = (s / s.sum(-1, keepdims=True) @ vh).transpose(0, 2, 1, 3).reshape(B, T + 1, -1)
    h = h + att @ L("out")[0] + L("out")[1]
    h = h + gelu(_np_layernorm(h, *L("ln2")) @ L("ff1")[0] + L("ff1")[1]) @ L("ff2")[0] + L("ff2")[1]
  return _np_layernorm(h, P["encoder_norm.0"], P["encoder_norm.1"])[:, 0] @ P["head.0"] + P["head.1"]


def _softmax(z: np.ndarray) -> np.ndarray:
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_vit_forward_equals_the_numpy_reference(vit):
  toks = token_sets()
  assert len(toks[0]) > vit.max_tokens > len(toks[2])
  x, pe, n = batch_arrays(toks, vit.max_tokens, 32)
  assert n.tolist() == [vit.max_tokens, min(len(toks[1]), vit.max_tokens), len(toks[2])]
  batched = vit.forward_batch(Tensor(x), Tensor(pe), Tensor(n)).numpy()
  np.testing.assert_array_equal(vit(toks).numpy(), batched)  # __call__ is batch_arrays + forward_batch
  np.testing.assert_allclose(batched, _np_vit(vit, x, pe, n), atol=1e-4)
  # what padding positions hold does not matter: they become the mask token
  x2, pe2 = x.copy(), pe.copy()
  x2[2, n[2]:], pe2[2, n[2]:] = 1, 7
  np.testing.assert_allclose(vit.forward_batch(Tensor(x2), Tensor(pe2), Tensor(n)).numpy(), batched, atol=1e-6)


def test_batch_arrays_pads_to_whole_batches():
  toks = token_sets(2)
  x, pe, n = batch_arrays(toks, 8, 32, batch=2)
  assert x.shape == (4, 8, 1, 32, 32) and pe.shape == (4, 8, 32) and n.tolist()[3] == 0 and not x[3].any() and not pe[3].any()
  for a, b in zip((x, pe, n), batch_arrays(toks, 8, 32)): np.testing.assert_array_equal(a[:3], b)


def test_vit_runner_probs(vit):
  toks = token_sets(1)
  x, pe, n = batch_arrays(toks, vit.max_tokens, 32)
  ref = _softmax(_np_vit(vit, x, pe, n))
  runner = ViTRunner(vit, batch=2)
  for _ in range(3):  # covers TinyJit's plain, capture and replay calls
    p = runner.probs(toks)
    assert p.shape == (3, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p, ref, atol=1e-5)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
  np.testing.assert_array_equal(runner.probs(toks[:1] * 5)[4], p[0])  # any number of samples, the same probabilities
  with pytest.raises(ValueError, match="no tokens"): runner.probs([toks[0], toks[0][:0]])
  with pytest.raises(ValueError, match=r"\(N,32,32,4\)"): runner.probs([toks[0][..., :2]])

# ---- configs and initialisation

def test_each_layer_initialises_its_own_parameters():
  m = build_unet("tiny", seed=3)
  for name, t in get_state_dict(m).items():
    a = t.numpy()
    if a.ndim == 4:  # conv kernels (out, in, k, k) and transposed ones (in, out, k, k): within +-1/sqrt(fan_in)
      fan_in = math.prod(a.shape[1:])
      assert np.abs(a).max() <= 1 / math.sqrt(fan_in) and a.std() > 0.2 / math.sqrt(fan_in), name
  gn = m.save_intermediates[0][1].blocks[0]
  assert (gn.weight.numpy() == 1).all() and (gn.bias.numpy() == 0).all()
  v = ViT(**SMALL_VIT, seed=3)
  assert abs(float(v.cls_token.numpy().std()) - 0.02) < 0.01 and (v.encoder_norm[0].numpy() == 1).all() and (v.tbs[0].ln1[1].numpy() == 0).all()
  w = v.tbs[0].query[0].numpy()
  assert w.shape == (32, 32) and np.abs(w).max() <= 1 / math.sqrt(32)
  # a function of the seed
  same, other = get_state_dict(ViT(**SMALL_VIT, seed=3)), get_state_dict(ViT(**SMALL_VIT, seed=4))
  for k, t in get_state_dict(v).items():
    np.testing.assert_array_equal(t.numpy(), same[k].numpy(), err_msg=k)
  assert not np.array_equal(v.head[0].numpy(), other["head.0"].numpy())


def test_config_flags_feed_the_model_and_its_metadata(tmp_path):
  p = argparse.ArgumentParser()
  add_config_flags(p, ViTConfig)
  a = p.parse_args(["--layers", "1", "--embed-dim", "32", "--heads", "2", "--classes", "3"])
  cfg = config_from_args(ViTConfig, a)
  assert cfg == ViTConfig(layers=1, embed_dim=32, num_heads=2, num_classes=3) and config_from_args(ViTConfig, p.parse_args([])) == ViTConfig()
  back = load_vit(save_checkpoint(ViT(cfg, max_tokens=8), tmp_path / "v.safetensors"))
  assert back.cfg == replace(cfg, max_tokens=8)
  q = argparse.ArgumentParser()
  add_config_flags(q, UNetConfig, defaults=False)  # train_unet.py: the flags override --config only where given
  assert config_from_args(UNetConfig, q.parse_args(["--mid-chan", "4"]), UNET_CONFIGS["small"]) == replace(UNET_CONFIGS["small"], mid_chan=4)
  assert config_from_args(UNetConfig, q.parse_args([]), UNET_CONFIGS["published"]) == UNET_CONFIGS["published"]
  with pytest.raises(ValueError, match="multiple of 4"): ViTConfig(embed_dim=30)
  with pytest.raises(ValueError, match="a UNet config for a AttentionUNet"): AttentionUNet(UNET_CONFIGS["tiny"])

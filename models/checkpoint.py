"""Checkpoints: safetensors files by path or by name under <data>/model/, with the architecture
config kept in the safetensors metadata so a file alone rebuilds its model. Files without that
metadata (the published ones) get their architecture inferred from tensor names and shapes."""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

from tinygrad import Tensor
from tinygrad.nn.state import get_state_dict, load_state_dict, safe_load, safe_save

from models.config import UNET_CONFIGS, from_dict, split_halo, unet_config
from models.tiled import TiledUNet
from models.unet import UNET_ARCHS, UNet, UNetConfig
from models.vit import ViT, ViTConfig
from poemap.datadir import model_path
from poemap.fidelity import BUNDLED, INPUT_PATHS, PUBLISHED
from poemap.fileio import atomic_write_with

META_KEY = "poemap_config"
INPUT_KEY = "poemap_input"  # the input path (poemap.fidelity) a UNet was trained for


def resolve(path_or_name: str | os.PathLike) -> Path:
  p = model_path(path_or_name)
  if not p.is_file():
    raise FileNotFoundError(f"no checkpoint at {p} (download the published models with `python get_data.py --models-only`, or train one)")
  return p


def save_checkpoint(model, path_or_name: str | os.PathLike, config: dict | None = None, overwrite: bool = False,
                    input_path: str | None = None) -> Path:
  """Write the model's state dict as safetensors (temp file + rename, so readers never see a torn
  file). config defaults to model.config; it lands in the metadata, with input_path (a UNet's input
  path, poemap.fidelity) when given. An existing file is an error unless overwrite=True."""
  path = model_path(path_or_name)
  if path.exists() and not overwrite: raise FileExistsError(f"checkpoint {path} exists; pass overwrite=True to replace it")
  if input_path is not None and input_path not in INPUT_PATHS: raise ValueError(f"input_path must be one of {INPUT_PATHS}, got {input_path!r}")
  cfg = config if config is not None else getattr(model, "config", None)
  meta = {**({META_KEY: json.dumps(cfg, sort_keys=True)} if cfg is not None else {}), **({INPUT_KEY: input_path} if input_path else {})} or None
  state = get_state_dict(model)
  Tensor.realize(*state.values())  # in place, so the model keeps computing with exactly the saved buffers
  atomic_write_with(path, lambda tmp: safe_save(state, tmp, meta), overwrite)
  return path


def read_header(path_or_name: str | os.PathLike) -> tuple[dict[str, tuple[int, ...]], dict | None]:
  """(tensor name -> shape, stored config or None) from a safetensors header, without reading the data."""
  shapes, meta = read_header_meta(path_or_name)
  return shapes, json.loads(meta[META_KEY]) if META_KEY in meta else None


def read_header_meta(path_or_name: str | os.PathLike) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
  """(tensor name -> shape, the raw safetensors metadata) without reading the data."""
  p = resolve(path_or_name)
  with open(p, "rb") as f:
    head = f.read(8)
    if len(head) != 8: raise ValueError(f"{p}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", head)
    if n > 100_000_000 or n > p.stat().st_size - 8: raise ValueError(f"{p}: not a safetensors file (bad header length {n})")
    try: header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError) as e: raise ValueError(f"{p}: not a safetensors file ({e})") from None
  meta = header.pop("__metadata__", None) or {}
  return {k: tuple(v["shape"]) for k, v in header.items()}, meta


def unet_input_path(path_or_name: str | os.PathLike) -> str:
  """The input path a UNet checkpoint wants (poemap.fidelity): what its metadata says; else "published"
  for a file without our metadata (the published AttentionUNet8_8600 carries none) or with the published
  architecture; else "bundled"."""
  shapes, meta = read_header_meta(path_or_name)
  if meta.get(INPUT_KEY) in INPUT_PATHS: return meta[INPUT_KEY]
  if META_KEY not in meta: return PUBLISHED
  return PUBLISHED if unet_config(split_halo(json.loads(meta[META_KEY]))[0]) == UNET_CONFIGS["published"] else BUNDLED


def check_fits(model, shapes: dict[str, tuple[int, ...]], source: str = "checkpoint") -> None:
  """ValueError naming every missing, unexpected and mismatched tensor when shapes don't fit the model exactly."""
  want = {k: tuple(v.shape) for k, v in get_state_dict(model).items()}
  missing, unexpected = sorted(set(want) - set(shapes)), sorted(set(shapes) - set(want))
  mismatched = sorted(f"{k}: model {want[k]} vs file {shapes[k]}" for k in set(want) & set(shapes) if want[k] != tuple(shapes[k]))
  if missing or unexpected or mismatched:
    raise ValueError(f"{source} does not fit {type(model).__name__}: missing {missing}; unexpected {unexpected}; mismatched {mismatched}")


def load_checkpoint(model, path_or_name: str | os.PathLike):
  """Load weights into model in place (names and shapes must fit exactly); returns the model."""
  p = resolve(path_or_name)
  sd = safe_load(str(p))
  check_fits(model, {k: tuple(int(d) for d in v.shape) for k, v in sd.items()}, str(p))
  own = get_state_dict(model)
  load_state_dict(model, {k: v if v.dtype == own[k].dtype else v.cast(own[k].dtype) for k, v in sd.items()}, verbose=False)
  return model


def _indices(shapes: dict, prefix: str) -> list[int]:
  return sorted({int(m.group(1)) for k in shapes if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))})


def infer_unet_config(shapes: dict[str, tuple[int, ...]]) -> UNetConfig:
  """UNet config from tensor names/shapes (the published files carry no metadata)."""
  try:
    mid, cin = shapes["save_intermediates.0.0.weight"][:2]
    depth = len(_indices(shapes, "save_intermediates."))
    width = len(_indices(shapes, "save_intermediates.0.")) - 1
    out = shapes[f"consume_intermediates.{depth - 1}.{width + 2}.weight"][0]
  except KeyError as e: raise ValueError(f"not a UNet checkpoint: no tensor {e}") from None
  arch = "AttentionUNet" if any(k.startswith("attention_blocks.") for k in shapes) else "UNet"
  return UNetConfig(arch=arch, in_chan=cin, mid_chan=mid, out_chan=out, depth=depth, width=width)


def infer_vit_config(shapes: dict[str, tuple[int, ...]]) -> ViTConfig:
  """ViT config from names/shapes; num_heads and max_tokens are not visible in shapes and take the published values."""
  try:
    return ViTConfig(embed_dim=shapes["cls_token"][-1], layers=len(_indices(shapes, "tbs.")), ff_dim=shapes["tbs.0.ff1.0"][1],
                     num_classes=shapes["head.0"][1])
  except KeyError as e: raise ValueError(f"not a ViT checkpoint: no tensor {e}") from None


def load_unet(path_or_name: str | os.PathLike) -> UNet:
  """Rebuild the UNet a checkpoint was saved from (metadata config and halo, else inferred: no halo) and load it."""
  shapes, meta = read_header(path_or_name)
  fields, halo = split_halo(meta) if meta is not None else ({}, 0)
  cfg = unet_config(fields) if meta is not None else infer_unet_config(shapes)
  return load_checkpoint(UNET_ARCHS[cfg.arch](cfg, halo=halo), path_or_name)


def load_vit(path_or_name: str | os.PathLike) -> ViT:
  """Rebuild the ViT a checkpoint was saved from (metadata config, else inferred) and load it."""
  shapes, meta = read_header(path_or_name)
  try: cfg = from_dict(ViTConfig, meta) if meta is not None else infer_vit_config(shapes)
  except (ValueError, TypeError) as e: raise ValueError(f"{model_path(path_or_name)} is not a ViT checkpoint ({e})") from None
  return load_checkpoint(ViT(cfg), path_or_name)


def load_tiled_unet(path_or_name: str | os.PathLike, batch: int = 64):
  """A models.tiled.TiledUNet of a checkpoint, on the input path it was made for (unet_input_path)."""
  return TiledUNet(load_unet(path_or_name), batch=batch, input_path=unet_input_path(path_or_name))

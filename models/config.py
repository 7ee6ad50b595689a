"""Model configurations: the named UNet sizes, and the bridge between a config dataclass (models.unet.UNetConfig,
models.vit.ViTConfig: the one place a model's sizes are stated) and argparse flags or checkpoint metadata.

"published" is the architecture of AttentionUNet8_8600; the small ones trade channels and levels for speed
(the published UNet costs ~64 ms per tile on two CPU cores).
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

from models.unet import UNET_ARCHS, UNet, UNetConfig
from models.vit import ViTConfig

UNET_CONFIGS: dict[str, UNetConfig] = {
  "published": UNetConfig(arch="AttentionUNet"),
  # relative per-tile cost on CPU (bench/bench_models.py): medium ~1/12, small ~1/33 of published
  "medium": UNetConfig(mid_chan=16, depth=2),
  "small": UNetConfig(mid_chan=8, depth=2),
  "tiny": UNetConfig(mid_chan=4, depth=2),
}
DEFAULT_UNET = "small"

C = TypeVar("C", UNetConfig, ViTConfig)


def from_dict(cls: type[C], d: dict[str, Any]) -> C:
  """A config from metadata or a JSON flag: unknown keys are an error naming them ("arch" is the ViT's implicit tag)."""
  d = dict(d)
  if cls is ViTConfig and d.pop("arch", "ViT") != "ViT": raise ValueError(f"not a ViT config: {d}")
  names = {f.name for f in dataclasses.fields(cls)}
  if extra := sorted(set(d) - names): raise ValueError(f"unknown {cls.__name__} keys {extra}; known: {sorted(names)}")
  return cls(**d)


def unet_config(spec: str | dict | UNetConfig) -> UNetConfig:
  """A UNetConfig from a registry name, a partial dict (over the published sizes, arch UNet) or a config."""
  if isinstance(spec, UNetConfig): return spec
  if isinstance(spec, str):
    if spec not in UNET_CONFIGS: raise ValueError(f"unknown UNet config {spec!r}; known: {sorted(UNET_CONFIGS)}")
    return UNET_CONFIGS[spec]
  return from_dict(UNetConfig, spec)


def split_halo(d: dict[str, Any]) -> tuple[dict[str, Any], int]:
  """(the config fields, the halo) of a UNet's metadata or JSON config: "halo" is the UNet's option beside its sizes
  (models.unet.UNet), 0 where absent."""
  d = dict(d)
  return d, int(d.pop("halo", 0))


def build_unet(spec: str | dict | UNetConfig = DEFAULT_UNET, seed: int = 0, halo: int | None = None) -> UNet:
  """A freshly initialised UNet (numpy init from seed) of a named or given config; halo (models.unet.UNet) from the
  argument, else from a dict spec's "halo" key, else 0."""
  if isinstance(spec, dict): spec, given = split_halo(spec)
  else: given = 0
  cfg = unet_config(spec)
  return UNET_ARCHS[cfg.arch](cfg, seed=seed, halo=given if halo is None else halo)


def flag(f: dataclasses.Field) -> str: return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def add_config_flags(p: argparse.ArgumentParser, cls: type, defaults: bool = True) -> None:
  """One flag per field of a config dataclass (--mid-chan, --heads, ...), its help from the field. defaults=False
  leaves them None, so they override another source (train_unet.py's --config) only when given."""
  g = p.add_argument_group(f"model sizes ({cls.__name__})")
  for f in dataclasses.fields(cls):
    d = f.default if defaults else None
    g.add_argument(flag(f), dest=f.name, type=type(f.default), default=d,
                   help=f"{f.metadata.get('help', f.name)} (default {'%(default)s' if defaults else 'from --config'})")


def config_from_args(cls: type[C], a: argparse.Namespace, base: C | None = None) -> C:
  """The config the parsed flags describe: each field's flag where given (not None), else base's (else the default)."""
  given = {f.name: getattr(a, f.name) for f in dataclasses.fields(cls) if getattr(a, f.name, None) is not None}
  return dataclasses.replace(base if base is not None else cls(), **given)


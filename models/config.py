"""Named UNet configurations. "published" is the architecture of AttentionUNet8_8600; the small ones
trade channels and levels for speed (the published UNet costs ~64 ms per tile on two CPU cores)."""
from __future__ import annotations

from models.unet import AttentionUNet, UNet

UNET_CONFIGS: dict[str, dict] = {
  "published": dict(arch="AttentionUNet", in_chan=3, mid_chan=64, out_chan=2, depth=3, width=1),
  # relative per-tile cost on CPU (bench/bench_models.py): medium ~1/12, small ~1/33 of published
  "medium": dict(arch="UNet", in_chan=3, mid_chan=16, out_chan=2, depth=2, width=1),
  "small": dict(arch="UNet", in_chan=3, mid_chan=8, out_chan=2, depth=2, width=1),
  "tiny": dict(arch="UNet", in_chan=3, mid_chan=4, out_chan=2, depth=2, width=1),
}
DEFAULT_UNET = "small"
UNET_ARCHS = {"UNet": UNet, "AttentionUNet": AttentionUNet}
VIT_DEFAULT: dict = dict(arch="ViT", num_classes=9, max_tokens=128, layers=3, embed_dim=256, num_heads=4, ff_dim=512)


def unet_config(name_or_config: str | dict) -> dict:
  """A full config dict (with "arch") from a registry name or a partial config (defaults: published sizes, arch UNet)."""
  if isinstance(name_or_config, str):
    if name_or_config not in UNET_CONFIGS: raise ValueError(f"unknown UNet config {name_or_config!r}; known: {sorted(UNET_CONFIGS)}")
    return dict(UNET_CONFIGS[name_or_config])
  cfg = {**UNET_CONFIGS["published"], "arch": "UNet", **name_or_config}
  if cfg["arch"] not in UNET_ARCHS: raise ValueError(f"unknown UNet arch {cfg['arch']!r}; known: {sorted(UNET_ARCHS)}")
  extra = set(cfg) - set(UNET_CONFIGS["published"])
  if extra: raise ValueError(f"unknown UNet config keys {sorted(extra)}")
  return cfg


def build_unet(name_or_config: str | dict = DEFAULT_UNET, seed: int = 0) -> UNet:
  """A freshly initialised UNet (numpy init from seed) of a named or given config."""
  cfg = unet_config(name_or_config)
  return UNET_ARCHS[cfg.pop("arch")](**cfg, seed=seed)

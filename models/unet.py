"""UNet and AttentionUNet for 32x32 minimap tiles -> per-pixel line logits.

The attribute layout (save_intermediates / middle / consume_intermediates / attention_blocks, with
list indices counting parameter-free steps too) is what the published AttentionUNet8_8600 checkpoint
was saved from, so tinygrad's get_state_dict yields its exact tensor names.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
from tinygrad import Tensor
from tinygrad.helpers import TRAINING

from models.layers import Conv2d, ConvTranspose2d, GroupNorm, LayerNorm2d
from poemap.contract import PUBLISHED_UNET_SIZES

EPS = 1e-5


@dataclass(frozen=True)
class UNetConfig:
  """A UNet's sizes: the one place they are stated. The fields are train_unet.py's flags (--mid-chan, ...) and the
  checkpoint's metadata (models.checkpoint); the defaults are the published AttentionUNet8_8600's, arch aside."""
  arch: str = field(default="UNet", metadata=dict(help="UNet, or AttentionUNet (attention gates on the skips, the published arch)"))
  in_chan: int = field(default=PUBLISHED_UNET_SIZES["in_chan"], metadata=dict(help="input channels (RGB)"))
  mid_chan: int = field(default=PUBLISHED_UNET_SIZES["mid_chan"], metadata=dict(help="channels of the first level, doubled per level"))
  out_chan: int = field(default=PUBLISHED_UNET_SIZES["out_chan"], metadata=dict(help="classes per pixel (ground, line)"))
  depth: int = field(default=PUBLISHED_UNET_SIZES["depth"], metadata=dict(help="encoder levels; a tile side must be a multiple of 2**depth"))
  width: int = field(default=1, metadata=dict(help="residual blocks per level"))

  def __post_init__(self):
    if self.arch not in ("UNet", "AttentionUNet"): raise ValueError(f"unknown UNet arch {self.arch!r}; known: ['AttentionUNet', 'UNet']")
    if min(self.in_chan, self.mid_chan, self.out_chan, self.depth, self.width) < 1: raise ValueError(f"UNet sizes must be >= 1, got {self}")


def check_halo(halo: int, cfg: UNetConfig) -> None:
  """A halo is >= 0 and a multiple of 2**depth (the haloed input side must pool down evenly)."""
  if not isinstance(halo, int) or halo < 0 or halo % 2**cfg.depth:
    raise ValueError(f"UNet halo must be an int >= 0 and a multiple of 2**depth = {2**cfg.depth}, got {halo!r}")


def groups_for(channels: int) -> int:
  # the published model uses channels/16 groups; small configs fall back to fewer groups that divide
  g = max(1, channels // 16)
  while channels % g: g -= 1
  return g


def relu(x: Tensor) -> Tensor: return x.relu()
def max_pool(x: Tensor) -> Tensor: return x.max_pool2d((2, 2))  # type: ignore[return-value]  # one output, no indices


def channel_dropout(x: Tensor, p: float = 0.5) -> Tensor:
  """Drops whole channels (Dropout2d); identity unless tinygrad's TRAINING context is set."""
  if not TRAINING: return x
  keep = (Tensor.rand(x.shape[0], x.shape[1], 1, 1) >= p)
  return keep.where(x, 0) / (1.0 - p)


class ResBlock:
  """Pre-activation residual block: (GroupNorm -> ReLU -> 3x3 conv) x2, plus 1x1 shortcut if channels change."""
  def __init__(self, cin: int, cout: int, rng: np.random.Generator):
    self.blocks: list[Callable] = [GroupNorm(groups_for(cin), cin, EPS), relu, Conv2d(cin, cout, 3, rng, padding=1),
                                   GroupNorm(groups_for(cout), cout, EPS), relu, Conv2d(cout, cout, 3, rng, padding=1)]
    if cin != cout: self.shortcut = Conv2d(cin, cout, 1, rng)
  def __call__(self, x: Tensor) -> Tensor:
    return x.sequential(self.blocks) + (self.shortcut(x) if hasattr(self, "shortcut") else x)


class AttentionGate:
  """Scales the skip connection x by a per-pixel weight computed from x and the decoder signal g."""
  def __init__(self, g_chan: int, x_chan: int, inter: int, rng: np.random.Generator):
    self.W_g: list[Callable] = [Conv2d(g_chan, inter, 1, rng), GroupNorm(groups_for(inter), inter, EPS)]
    self.W_x: list[Callable] = [Conv2d(x_chan, inter, 1, rng), GroupNorm(groups_for(inter), inter, EPS)]
    self.psi: list[Callable] = [Conv2d(inter, 1, 1, rng), LayerNorm2d(1, EPS)]
  def __call__(self, g: Tensor, x: Tensor) -> Tensor:
    # NOTE: LayerNorm2d over a single channel normalises to 0, so psi is sigmoid(bias) per pixel; the
    # published weights were trained with exactly this function, so it stays.
    a = (g.sequential(self.W_g) + x.sequential(self.W_x)).relu().sequential(self.psi).sigmoid()
    return x * a


class UNet:
  """depth encoder levels of `width` residual blocks each, channels mid_chan * 2**level; a middle at
  mid_chan * 2**depth; a mirrored decoder. Input (B,in_chan,H,W) with H,W multiples of 2**depth; output (B,out_chan,H,W),
  or with halo > 0 the centre (B,out_chan,H-2*halo,W-2*halo): the input is a tile with `halo` px of context on every
  side, and only the tile is predicted (an option beside the sizes: UNetConfig and the named configs stay the model
  contract's tile-only UNet; the checkpoint metadata records a halo where there is one, models.checkpoint).
  UNet(cfg) or UNet(mid_chan=8, ...) (fields of UNetConfig over its defaults); seed draws the initial weights."""
  def __init__(self, cfg: UNetConfig | None = None, /, seed: int = 0, halo: int = 0, **sizes: Any):
    cfg = replace(cfg or UNetConfig(arch=type(self).__name__), **sizes)
    if cfg.arch != type(self).__name__: raise ValueError(f"a {cfg.arch} config for a {type(self).__name__}")
    check_halo(halo, cfg)
    self.cfg, self.attention, self.halo = cfg, cfg.arch == "AttentionUNet", int(halo)
    rng = np.random.default_rng(seed)
    ch = [cfg.mid_chan * 2**i for i in range(cfg.depth + 1)]
    def stage(cin: int, cout: int) -> list: return [ResBlock(cin, cout, rng)] + [ResBlock(cout, cout, rng) for _ in range(cfg.width - 1)]
    self.save_intermediates: list[list] = [[Conv2d(cfg.in_chan, ch[0], 3, rng, padding=1), *stage(ch[0], ch[0])]]
    self.save_intermediates += [[max_pool, *stage(ch[i - 1], ch[i])] for i in range(1, cfg.depth)]
    self.middle: list = [max_pool, *stage(ch[-2], ch[-1]), channel_dropout, ConvTranspose2d(ch[-1], ch[-2], 2, rng, stride=2)]
    self.consume_intermediates: list[list] = []
    for lvl in range(cfg.depth - 1, -1, -1):
      tail = [ConvTranspose2d(ch[lvl], ch[lvl - 1], 2, rng, stride=2)] if lvl > 0 else \
             [GroupNorm(groups_for(ch[0]), ch[0], EPS), relu, Conv2d(ch[0], cfg.out_chan, 1, rng)]
      self.consume_intermediates.append([*stage(2 * ch[lvl], ch[lvl]), *tail])
    if self.attention:
      self.attention_blocks = [AttentionGate(ch[lvl], ch[lvl], max(1, ch[lvl] // 2), rng) for lvl in range(cfg.depth - 1, -1, -1)]

  @property
  def config(self) -> dict:
    """What the checkpoint metadata holds: the config's fields, and "halo" only where there is one (a plain UNet's is as it always was)."""
    return {**asdict(self.cfg), **({"halo": self.halo} if self.halo else {})}

  def __call__(self, x: Tensor) -> Tensor:
    skips = []
    for s in self.save_intermediates: skips.append(x := x.sequential(s))
    x = x.sequential(self.middle)
    for i, c in enumerate(self.consume_intermediates):
      skip = skips[-1 - i]
      if self.attention: skip = self.attention_blocks[i](x, skip)
      x = skip.cat(x, dim=1).sequential(c)
    # with a halo the input is the tile plus `halo` px of context on every side; only the tile is predicted
    return x[:, :, self.halo:x.shape[2] - self.halo, self.halo:x.shape[3] - self.halo] if self.halo else x


class AttentionUNet(UNet):
  """UNet whose skip connections pass attention gates before concatenation (the published AttentionUNet8_8600)."""


UNET_ARCHS: dict[str, type[UNet]] = {"UNet": UNet, "AttentionUNet": AttentionUNet}

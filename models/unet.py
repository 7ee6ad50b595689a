"""UNet and AttentionUNet for 32x32 minimap tiles -> per-pixel line logits.

The attribute layout (save_intermediates / middle / consume_intermediates / attention_blocks, with
list indices counting parameter-free steps too) is what the published AttentionUNet8_8600 checkpoint
was saved from, so tinygrad's get_state_dict yields its exact tensor names.
"""
from __future__ import annotations

from typing import Callable

from tinygrad import Tensor, nn
from tinygrad.helpers import TRAINING

from models.init import numpy_init

EPS = 1e-5


def groups_for(channels: int) -> int:
  # the published model uses channels/16 groups; small configs fall back to fewer groups that divide
  g = max(1, channels // 16)
  while channels % g: g -= 1
  return g


def relu(x: Tensor) -> Tensor: return x.relu()
def max_pool(x: Tensor) -> Tensor: return x.max_pool2d((2, 2))


def channel_dropout(x: Tensor, p: float = 0.5) -> Tensor:
  """Drops whole channels (Dropout2d); identity unless tinygrad's TRAINING context is set."""
  if not TRAINING: return x
  keep = (Tensor.rand(x.shape[0], x.shape[1], 1, 1) >= p)
  return keep.where(x, 0) / (1.0 - p)


class ResBlock:
  """Pre-activation residual block: (GroupNorm -> ReLU -> 3x3 conv) x2, plus 1x1 shortcut if channels change."""
  def __init__(self, cin: int, cout: int):
    self.blocks: list[Callable] = [nn.GroupNorm(groups_for(cin), cin, eps=EPS), relu, nn.Conv2d(cin, cout, 3, padding=1),
                                   nn.GroupNorm(groups_for(cout), cout, eps=EPS), relu, nn.Conv2d(cout, cout, 3, padding=1)]
    if cin != cout: self.shortcut = nn.Conv2d(cin, cout, 1)
  def __call__(self, x: Tensor) -> Tensor:
    return x.sequential(self.blocks) + (self.shortcut(x) if hasattr(self, "shortcut") else x)


class AttentionGate:
  """Scales the skip connection x by a per-pixel weight computed from x and the decoder signal g."""
  def __init__(self, g_chan: int, x_chan: int, inter: int):
    self.W_g = [nn.Conv2d(g_chan, inter, 1), nn.GroupNorm(groups_for(inter), inter, eps=EPS)]
    self.W_x = [nn.Conv2d(x_chan, inter, 1), nn.GroupNorm(groups_for(inter), inter, eps=EPS)]
    self.psi = [nn.Conv2d(inter, 1, 1), nn.LayerNorm2d(1, eps=EPS)]
  def __call__(self, g: Tensor, x: Tensor) -> Tensor:
    # NOTE: LayerNorm2d over a single channel normalises to 0, so psi is sigmoid(bias) per pixel; the
    # published weights were trained with exactly this function, so it stays.
    a = (g.sequential(self.W_g) + x.sequential(self.W_x)).relu().sequential(self.psi).sigmoid()
    return x * a


class UNet:
  """depth encoder levels of `width` residual blocks each, channels mid_chan * 2**level; a middle at
  mid_chan * 2**depth; a mirrored decoder. Input (B,in_chan,H,W) with H,W multiples of 2**depth."""
  attention = False

  def __init__(self, in_chan: int = 3, mid_chan: int = 64, out_chan: int = 2, depth: int = 3, width: int = 1, seed: int = 0):
    if min(in_chan, mid_chan, out_chan, depth, width) < 1: raise ValueError(f"UNet sizes must be >= 1, got {in_chan=} {mid_chan=} {out_chan=} {depth=} {width=}")
    self.config = dict(arch=type(self).__name__, in_chan=in_chan, mid_chan=mid_chan, out_chan=out_chan, depth=depth, width=width)
    ch = [mid_chan * 2**i for i in range(depth + 1)]
    def stage(cin: int, cout: int) -> list: return [ResBlock(cin, cout)] + [ResBlock(cout, cout) for _ in range(width - 1)]
    self.save_intermediates: list[list] = [[nn.Conv2d(in_chan, ch[0], 3, padding=1), *stage(ch[0], ch[0])]]
    self.save_intermediates += [[max_pool, *stage(ch[i - 1], ch[i])] for i in range(1, depth)]
    self.middle: list = [max_pool, *stage(ch[depth - 1], ch[depth]), channel_dropout, nn.ConvTranspose2d(ch[depth], ch[depth - 1], 2, stride=2)]
    self.consume_intermediates: list[list] = []
    for lvl in range(depth - 1, -1, -1):
      tail = [nn.ConvTranspose2d(ch[lvl], ch[lvl - 1], 2, stride=2)] if lvl > 0 else \
             [nn.GroupNorm(groups_for(ch[0]), ch[0], eps=EPS), relu, nn.Conv2d(ch[0], out_chan, 1)]
      self.consume_intermediates.append([*stage(2 * ch[lvl], ch[lvl]), *tail])
    if self.attention:
      self.attention_blocks = [AttentionGate(ch[lvl], ch[lvl], max(1, ch[lvl] // 2)) for lvl in range(depth - 1, -1, -1)]
    numpy_init(self, seed)

  def __call__(self, x: Tensor) -> Tensor:
    skips = []
    for s in self.save_intermediates: skips.append(x := x.sequential(s))
    x = x.sequential(self.middle)
    for i, c in enumerate(self.consume_intermediates):
      skip = skips[-1 - i]
      if self.attention: skip = self.attention_blocks[i](x, skip)
      x = skip.cat(x, dim=1).sequential(c)
    return x


class AttentionUNet(UNet):
  """UNet whose skip connections pass attention gates before concatenation (the published AttentionUNet8_8600)."""
  attention = True

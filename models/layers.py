"""The layers both networks are made of, each initialising its own parameters from a numpy Generator.

tinygrad's nn layers initialise with lazy random kernels: realising them compiles one kernel per shape (about
a minute for the published UNet on two cores), and an unrealised init is fused into every forward kernel.
Filling from numpy costs only copies, makes a run a function of its seed, and lets a fresh model compute
with the same kernels as a loaded one. The forward passes are tinygrad's (nn.Conv2d, nn.GroupNorm, ...),
op for op, so the published weights compute exactly as they were trained; attribute names are theirs too
(weight, bias), or tuple indices (0, 1) where the published ViT stored (weight, bias) pairs.
"""
from __future__ import annotations

import math

import numpy as np
from tinygrad import Tensor


def uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> Tensor:
  """uniform(+-1/sqrt(fan_in)): what tinygrad (and torch) draw for conv and linear weights and biases."""
  bound = 1 / math.sqrt(fan_in)
  return Tensor(rng.uniform(-bound, bound, shape).astype(np.float32))


def normal(rng: np.random.Generator, shape: tuple[int, ...], std: float = 0.02) -> Tensor:
  return Tensor(rng.normal(0, std, shape).astype(np.float32))


def ones(n: int) -> Tensor: return Tensor(np.ones(n, np.float32))
def zeros(n: int) -> Tensor: return Tensor(np.zeros(n, np.float32))


class Conv2d:
  def __init__(self, cin: int, cout: int, k: int, rng: np.random.Generator, stride: int = 1, padding: int = 0):
    self.stride, self.padding = stride, padding
    self.weight, self.bias = uniform(rng, (cout, cin, k, k), cin * k * k), uniform(rng, (cout,), cin * k * k)
  def __call__(self, x: Tensor) -> Tensor: return x.conv2d(self.weight, self.bias, 1, self.stride, 1, self.padding)


class ConvTranspose2d:
  """Weight (cin, cout, k, k) as torch stores it; fan_in counts what one input pixel feeds (cout * k * k)."""
  def __init__(self, cin: int, cout: int, k: int, rng: np.random.Generator, stride: int = 1):
    self.stride = stride
    self.weight, self.bias = uniform(rng, (cin, cout, k, k), cout * k * k), uniform(rng, (cout,), cout * k * k)
  def __call__(self, x: Tensor) -> Tensor: return x.conv_transpose2d(self.weight, self.bias, 1, self.stride, 1, 0, 0)


class GroupNorm:
  def __init__(self, num_groups: int, num_channels: int, eps: float):
    self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
    self.weight, self.bias = ones(num_channels), zeros(num_channels)
  def __call__(self, x: Tensor) -> Tensor:
    x = x.reshape(x.shape[0], self.num_groups, -1).layernorm(eps=self.eps).reshape(x.shape)
    return x * self.weight.reshape(1, -1, *[1] * (x.ndim - 2)) + self.bias.reshape(1, -1, *[1] * (x.ndim - 2))


class LayerNorm2d:
  """LayerNorm over the channels of (B, C, H, W)."""
  def __init__(self, num_channels: int, eps: float):
    self.eps = eps
    self.weight, self.bias = ones(num_channels), zeros(num_channels)
  def __call__(self, x: Tensor) -> Tensor:
    return (x.permute(0, 2, 3, 1).layernorm(eps=self.eps, axis=(-1,)) * self.weight + self.bias).permute(0, 3, 1, 2)


class Linear(tuple):
  """(weight (din, dout), bias (dout,)) applied x @ W + b: a tuple, so its tensors are named <name>.0 and <name>.1 as in
  the published ViT. __slots__ = () keeps instances without a __dict__, which tinygrad's get_state_dict would read instead."""
  __slots__ = ()
  def __new__(cls, din: int, dout: int, rng: np.random.Generator):
    return super().__new__(cls, (uniform(rng, (din, dout), din), uniform(rng, (dout,), din)))
  def __call__(self, x: Tensor) -> Tensor: return x.linear(*self)


class Affine(tuple):
  """(scale, bias) after a non-affine layer norm, named <name>.0 and <name>.1 (the published ViT's layout)."""
  __slots__ = ()
  def __new__(cls, dim: int): return super().__new__(cls, (ones(dim), zeros(dim)))
  def __call__(self, x: Tensor) -> Tensor: return x.linear(*self)

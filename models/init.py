"""Parameter initialisation from numpy, so a fresh model is made of plain buffers.

tinygrad's default init is lazy random kernels: realising them compiles one kernel per shape (about a
minute for the published UNet on two cores), and an unrealised init gets fused into every forward
kernel. Filling from a seeded numpy generator costs only copies and makes a fresh model compute with
the same kernels as a loaded one.
"""
from __future__ import annotations

import math

import numpy as np
from tinygrad import Tensor
from tinygrad.nn.state import get_state_dict


def numpy_init(model, seed: int = 0) -> None:
  """Fill every parameter in place: conv / linear weights and their biases uniform(+-1/sqrt(fan_in)),
  norm scales 1 and shifts 0, free-standing embeddings (class/mask tokens) normal(0, 0.02)."""
  rng = np.random.default_rng(seed)
  sd = get_state_dict(model)
  for name in sorted(sd):
    t = sd[name]
    base, last = name.rsplit(".", 1) if "." in name else ("", name)
    # a bias finds its weight under the same prefix: ".weight" (nn layers) or ".0" ((W, b) tuples)
    weight = sd.get(f"{base}.weight") if last == "bias" else sd.get(f"{base}.0") if last == "1" else t
    if weight is not None and weight.ndim >= 2 and "token" not in name:
      fan_in = math.prod(weight.shape[1:]) if weight.ndim == 4 else weight.shape[0]
      bound = 1 / math.sqrt(fan_in)
      arr = rng.uniform(-bound, bound, t.shape)
    elif t.ndim == 1: arr = np.ones(t.shape) if last in ("weight", "0") else np.zeros(t.shape)
    else: arr = rng.normal(0, 0.02, t.shape)
    t.replace(Tensor(arr.astype(np.float32), device=t.device).realize())

"""Smooth random fields: the one source of organic shapes and textures in the synthetic Coast."""
from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], period: float, channels: int = 0) -> np.ndarray:
  """float32 noise of `shape` (+channels) with features about `period` px across, roughly mean 0, std 1.
  Drawn on a coarse grid and upsampled with cubic interpolation, so the cost is one resize."""
  h, w = shape
  gh, gw = max(2, int(np.ceil(h / period)) + 2), max(2, int(np.ceil(w / period)) + 2)
  grid = rng.standard_normal((gh, gw) + ((channels,) if channels else ())).astype(np.float32)
  # the grid spans a little more than the output so the edges get full-strength noise too
  big = cv2.resize(grid, (int(gw * period), int(gh * period)), interpolation=cv2.INTER_CUBIC)
  out = big[int(period):int(period) + h, int(period):int(period) + w]
  return out / max(float(out.std()), 1e-6)


def periodic_noise(rng: np.random.Generator, size: int, period: float, channels: int = 0) -> np.ndarray:
  """Seamlessly tileable float32 noise (size x size), std 1, features about `period` px across:
  white noise low-passed in the Fourier domain, which wraps exactly at the tile edges."""
  f = np.fft.fftfreq(size)
  r2 = f[:, None] ** 2 + f[None, :] ** 2
  gain = np.exp(-r2 * (period / 2.0) ** 2 * np.pi ** 2)
  out = []
  for _ in range(max(1, channels)):
    n = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) * gain)).astype(np.float32)
    out.append(n / max(float(n.std()), 1e-6))
  return np.stack(out, axis=2) if channels else out[0]

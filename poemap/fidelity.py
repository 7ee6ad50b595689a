"""The two input paths from screen pixels to a UNet, and the ½ shrink of the published one.

The published UNet (AttentionUNet8_8600) was trained and used on the original tools' input, and has
only ever seen that:
- the client shrinks the stitched 4K canvas by ½ with cv2.INTER_CUBIC (so did the UNet data notebook);
- the server zero-pads the minimap to whole 32 px tiles, then normalises each channel by the mean and
  std of that whole padded minimap, recomputed on every request (eps 1e-8).
The bundled models use the "bundled" path: INTER_AREA (poemap.stitch.shrink_with_origin), statistics
fixed from the session's first (unpadded) minimap, padding after normalising, which makes incremental
inference exact. The "darkest" path is the bundled one on the canvas's darkest view of each pixel instead of
its latest capture (a UNet trained with train_unet.py --darkest). Both normalise with channel_stats / normalise, here because the server's sessions
(stream.session), the tiled runner (models.tiled) and the UNet training data all need them. Which path a server runs follows from the UNet it loaded
(models.checkpoint.unet_input_path) and is in its ping reply, so the client shrinks to match.
"""
from __future__ import annotations

import cv2
import numpy as np

from poemap.contract import NORM_EPS
from poemap.stitch import shrink_with_origin

BUNDLED, PUBLISHED, DARKEST = "bundled", "published", "darkest"
INPUT_PATHS = (BUNDLED, PUBLISHED, DARKEST)
# darkest: the bundled path on the canvas's per-pixel darkest views (poemap.stitch.MinimapCanvas(darkest=True)), which a
# UNet trained with train_unet.py --darkest was made for
DESCRIBE = {BUNDLED: "INTER_AREA shrink, statistics fixed per session, padding after normalising",
            PUBLISHED: "INTER_CUBIC shrink, zero padding to 32 px tiles, statistics of the padded minimap on every request",
            DARKEST: "the bundled path on the canvas's darkest view of each pixel"}


def shrink_cubic_with_origin(image: np.ndarray, origin) -> tuple[np.ndarray, np.ndarray]:
  """½ scale with cv2.INTER_CUBIC, as the original client shrank the canvas, and the origin mapped to the
  pixel that contains it (floor(origin) // 2, as shrink_with_origin). The canvas is always of even size;
  an odd side is padded with black first (as shrink_with_origin) so the output grid stays exactly ½."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim not in (2, 3): raise ValueError(f"image must be uint8 (H, W[, 3]), got {image.dtype} {image.shape}")
  o = np.asarray(origin, dtype=np.float64).reshape(-1)
  if o.shape != (2,): raise ValueError(f"origin must be [y, x], got {origin!r}")
  h, w = image.shape[:2]
  if h % 2 or w % 2: image = np.pad(image, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (image.ndim - 2))
  small = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_CUBIC)
  return small, (np.floor(o).astype(np.int64) // 2)


def channel_stats(image: np.ndarray, pad_to: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """Per-channel mean and (population) std of raw 0-255 values, float32 (3,) each. pad_to=32 takes them
  over the image zero-padded (bottom/right) to whole tiles, as the original server did for the published
  UNet: the black padding counts as pixels, so a minimap with a ragged edge has a lower mean."""
  image = check_image(image)
  px = image.reshape(-1, 3).astype(np.float64)
  if pad_to == 1: return px.mean(0).astype(np.float32), px.std(0).astype(np.float32)
  H, W = image.shape[:2]
  n = (-(-H // pad_to) * pad_to) * (-(-W // pad_to) * pad_to)
  mean = px.sum(0) / n  # the padding adds n - H*W zeros: to the count, not to the sum
  return mean.astype(np.float32), np.sqrt(((px - mean) ** 2).sum(0) / n + mean ** 2 * (n - H * W) / n).astype(np.float32)


def check_image(image: np.ndarray) -> np.ndarray:
  """The image as an array; ValueError unless it is non-empty uint8 (H,W,3) RGB."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
    raise ValueError(f"image must be non-empty uint8 (H,W,3) RGB, got {image.dtype} {image.shape}")
  return image


def normalise(pixels: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  """Each channel by its mean and std (channel_stats): the UNet's input, float32."""
  return (pixels.astype(np.float32) - mean) / (std + np.float32(NORM_EPS))


def shrink_for(input_path: str | None):
  """The client's shrink for a server's input path (unknown or missing: the bundled one)."""
  return shrink_cubic_with_origin if input_path == PUBLISHED else shrink_with_origin

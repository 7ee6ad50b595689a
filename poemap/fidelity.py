"""The two input paths from screen pixels to a UNet, and the ½ shrink of the published one.

The published UNet (AttentionUNet8_8600) was trained and used on the original tools' input, and has
only ever seen that:
- the client shrinks the stitched 4K canvas by ½ with cv2.INTER_CUBIC (so did the UNet data notebook);
- the server zero-pads the minimap to whole 32 px tiles, then normalises each channel by the mean and
  std of that whole padded minimap, recomputed on every request (eps 1e-8).
The bundled models use the "bundled" path: INTER_AREA (poemap.stitch.shrink_with_origin), statistics
fixed from the session's first (unpadded) minimap, padding after normalising, which makes incremental
inference exact. Which path a server runs follows from the UNet it loaded
(models.checkpoint.unet_input_path) and is in its ping reply, so the client shrinks to match.
"""
from __future__ import annotations

import cv2
import numpy as np

BUNDLED, PUBLISHED = "bundled", "published"
INPUT_PATHS = (BUNDLED, PUBLISHED)
DESCRIBE = {BUNDLED: "INTER_AREA shrink, statistics fixed per session, padding after normalising",
            PUBLISHED: "INTER_CUBIC shrink, zero padding to 32 px tiles, statistics of the padded minimap on every request"}


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


def shrink_for(input_path: str):
  """The client's shrink for a server's input path (unknown or missing: the bundled one)."""
  if input_path == PUBLISHED: return shrink_cubic_with_origin
  from poemap.stitch import shrink_with_origin
  return shrink_with_origin

"""Writes that never lose data: temp file in the target directory + fsync + rename.

Every writer in poemap goes through here so that a crash, a full disk or Ctrl+C leaves either the
old file or the complete new one, never a torn file, and never silently replaces existing data.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

_UMASK = os.umask(0); os.umask(_UMASK)


def atomic_write_with(path: str | os.PathLike, fill: Callable[[str], object], overwrite: bool = False) -> Path:
  """Create `path` atomically from whatever `fill(tmp_path)` writes into a temp file beside it
  (for writers that want a path, like safetensors, or stream a big copy). With overwrite=False an
  existing file is an error (FileExistsError) and stays untouched; the final link is made with
  os.link so two writers racing for one name cannot both win."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  try:
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; data files are shared like any other file
    os.close(fd)
    fill(tmp)
    with open(tmp, "rb+") as f: os.fsync(f.fileno())
    if overwrite:
      os.replace(tmp, path)
    else:
      os.link(tmp, path)  # fails with FileExistsError instead of clobbering
      os.unlink(tmp)
  except BaseException:
    if os.path.exists(tmp): os.unlink(tmp)
    raise
  return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
  """Write `data` to `path` atomically (see atomic_write_with)."""
  return atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(data), overwrite)


def _npz_bytes(**arrays: Any) -> bytes:
  buf = io.BytesIO()
  np.savez_compressed(buf, **arrays)
  return buf.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
  """PNG of an RGB (H,W,3) or grey (H,W) uint8 image."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
    raise ValueError(f"png_bytes wants uint8 (H,W) or (H,W,3), got {image.dtype} {image.shape}")
  bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
  ok, enc = cv2.imencode(".png", bgr)
  if not ok: raise ValueError("PNG encoding failed")
  return enc.tobytes()


def save_png(path: str | os.PathLike, image: np.ndarray, overwrite: bool = False) -> Path:
  return atomic_write_bytes(path, png_bytes(image), overwrite)


def save_npz(path: str | os.PathLike, overwrite: bool = False, **arrays: Any) -> Path:
  return atomic_write_bytes(path, _npz_bytes(**arrays), overwrite)


def save_json(path: str | os.PathLike, obj: Any, overwrite: bool = False) -> Path:
  return atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode(), overwrite)


def load_png(path: str | os.PathLike, grey: bool = False) -> np.ndarray:
  """RGB (H,W,3) or grey (H,W) uint8; FileNotFoundError / ValueError with the path on failure."""
  path = Path(path)
  if not path.is_file(): raise FileNotFoundError(f"no such image: {path}")
  img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
  if img is None: raise ValueError(f"not a readable image: {path}")
  return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def load_npz_data(path: str | os.PathLike, key: str = "data", allow_pickle: bool = False) -> np.ndarray:
  path = Path(path)
  if not path.is_file(): raise FileNotFoundError(f"no such file: {path}")
  with np.load(path, allow_pickle=allow_pickle) as f:
    if key not in f.files: raise ValueError(f"{path}: no key {key!r} (has {f.files})")
    return f[key]


def unique_stamp(directory: str | os.PathLike, suffixes: tuple[str, ...], now: Callable[[], float] | None = None) -> str:
  """A timestamp-like name `<ms since epoch>` for which no `<name><suffix>` exists in directory;
  bumps by 1 ms until free, so names stay unique across restarts and fast bursts."""
  directory = Path(directory)
  ts = int((now or time.time)() * 1000)
  while any((directory / f"{ts}{s}").exists() for s in suffixes): ts += 1
  return str(ts)

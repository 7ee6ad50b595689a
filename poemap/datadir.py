"""The published data directory (DESIGN.md), read and written in exactly one place.

Paths are relative to a data root (default `<repo>/data`, or $POEMAP_DATA). Layout ids and
instance ids are directory names; timestamps are strings. Writers never overwrite.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from poemap import REPO_ROOT
from poemap.fileio import load_npz_data, load_png, save_json, save_npz, save_png

COLLECT_SUFFIXES = ("_raw.png", "_origin.npz", "_mask.png", "_tokens.npz")


def data_root(root: str | os.PathLike | None = None) -> Path:
  return Path(root) if root is not None else Path(os.environ.get("POEMAP_DATA", REPO_ROOT / "data"))


def model_path(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
  """A checkpoint given by path, or by name under <data>/model/ (".safetensors" optional)."""
  p = Path(name_or_path)
  if p.suffix == ".safetensors" or p.parent != Path("."): return p
  return data_root(root) / "model" / f"{p.name}.safetensors"


def guide_path(area: str, layout_id: int, root: str | os.PathLike | None = None) -> Path:
  return data_root(root) / "user" / area / f"{int(layout_id)}.png"


# ---- full layouts for ViT training: train/<layout>/<instance>/<n>.png, _origin.npz, _mask.png, paths.npz

def write_layout(instance_dir: str | os.PathLike, n: int | str, image: np.ndarray, origin, mask: np.ndarray | None = None) -> None:
  d = Path(instance_dir)
  save_png(d / f"{n}.png", image)
  save_npz(d / f"{n}_origin.npz", data=np.asarray(origin, dtype=np.int64).reshape(2))
  if mask is not None: save_png(d / f"{n}_mask.png", (np.asarray(mask) > 0).astype(np.uint8) * 255)


def read_layout(instance_dir: str | os.PathLike, n: int | str = 0, with_image: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
  """(image RGB, origin [y,x] int64, mask 0/1 uint8 or None when not yet computed). with_image=False
  skips decoding the image (None), the bulk of the time when only the mask is wanted."""
  d = Path(instance_dir)
  image = load_png(d / f"{n}.png") if with_image else None
  origin = load_npz_data(d / f"{n}_origin.npz").astype(np.int64).reshape(2)
  mp = d / f"{n}_mask.png"
  mask = (load_png(mp, grey=True) > 127).astype(np.uint8) if mp.exists() else None
  return image, origin, mask


def write_paths(instance_dir: str | os.PathLike, paths: list[np.ndarray], overwrite: bool = False) -> None:
  arr = np.empty(len(paths), dtype=object)
  for i, p in enumerate(paths): arr[i] = np.asarray(p, dtype=np.int64).reshape(-1, 2)
  save_npz(Path(instance_dir) / "paths.npz", overwrite=overwrite, paths=arr)


def read_paths(instance_dir: str | os.PathLike) -> list[np.ndarray]:
  p = Path(instance_dir) / "paths.npz"
  if not p.exists(): return []
  return [np.asarray(a, dtype=np.int64).reshape(-1, 2) for a in load_npz_data(p, key="paths", allow_pickle=True)]


def layout_instances(root: str | os.PathLike | None = None, tree: str = "train") -> list[tuple[int, Path]]:
  """(layout_id, instance_dir) for every numeric layout/instance directory under <root>/<tree>."""
  base = data_root(root) / tree
  out = []
  if not base.is_dir(): return out
  for ld in sorted((p for p in base.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
    for idir in sorted((p for p in ld.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
      out.append((int(ld.name), idir))
  return out


# ---- live-like samples: what COLLECT mode saves, and the test tree built from them

def write_collect_sample(directory: str | os.PathLike, ts: str, raw: np.ndarray, origin, mask: np.ndarray, tokens: np.ndarray) -> None:
  d = Path(directory)
  save_png(d / f"{ts}_raw.png", raw)
  save_npz(d / f"{ts}_origin.npz", data=np.asarray(origin, dtype=np.int64).reshape(2))
  save_png(d / f"{ts}_mask.png", (np.asarray(mask) > 0).astype(np.uint8) * 255)
  save_npz(d / f"{ts}_tokens.npz", data=np.asarray(tokens))


def read_tokens(path: str | os.PathLike) -> np.ndarray:
  t = load_npz_data(path)
  if t.ndim != 4 or t.shape[1:] != (32, 32, 4): raise ValueError(f"{path}: tokens must be (N,32,32,4), got {t.shape}")
  return t


def read_curation_mask(root: str | os.PathLike | None = None) -> dict[str, dict[str, list[str]]] | None:
  p = data_root(root) / "test" / "curation_mask.json"
  if not p.exists(): return None
  with open(p) as f: return json.load(f)


def write_curation_mask(curation: dict[str, dict[str, list[str]]], root: str | os.PathLike | None = None) -> None:
  norm = {str(l): {str(i): [str(t) for t in ts] for i, ts in inst.items()} for l, inst in curation.items()}
  save_json(data_root(root) / "test" / "curation_mask.json", norm, overwrite=True)


def test_samples(root: str | os.PathLike | None = None, curated_only: bool = True) -> list[tuple[int, Path]]:
  """(layout_id, tokens_path) of the test tree; only curated ones when curation_mask.json exists."""
  cur = read_curation_mask(root) if curated_only else None
  out = []
  for layout, idir in layout_instances(root, "test"):
    for tp in sorted(idir.glob("*_tokens.npz")):
      ts = tp.name[: -len("_tokens.npz")]
      if cur is not None and ts not in cur.get(str(layout), {}).get(idir.name, []): continue
      out.append((layout, tp))
  return out


# ---- UNet pairs: auto_crop_50/<group>/<i>.npz + mask_50/<group>.npz

def write_unet_group(root: str | os.PathLike | None, group: str, crops: list[np.ndarray], mask: np.ndarray) -> None:
  r = data_root(root)
  for i, c in enumerate(crops):
    c = np.asarray(c)
    if c.dtype != np.uint8 or c.ndim != 3 or c.shape[:2] != mask.shape: raise ValueError(f"crop {i}: want uint8 {mask.shape}+(3,), got {c.dtype} {c.shape}")
    save_npz(r / "auto_crop_50" / group / f"{i}.npz", data=c)
  save_npz(r / "mask_50" / f"{group}.npz", data=(np.asarray(mask) > 0).astype(np.uint8))


def read_unet_groups(root: str | os.PathLike | None = None) -> list[tuple[str, list[Path], Path]]:
  """(group, crop paths, mask path) for every group that has both crops and a mask."""
  r = data_root(root)
  out = []
  crops_dir = r / "auto_crop_50"
  if not crops_dir.is_dir(): return out
  for g in sorted(p for p in crops_dir.iterdir() if p.is_dir()):
    m = r / "mask_50" / f"{g.name}.npz"
    crops = sorted(g.glob("*.npz"), key=lambda p: (len(p.stem), p.stem))
    if m.exists() and crops: out.append((g.name, crops, m))
  return out


def write_layout_mask(instance_dir: str | os.PathLike, n: int | str, mask: np.ndarray, overwrite: bool = False) -> Path:
  """<n>_mask.png (0/255) of a full layout, atomically; an existing mask is kept unless overwrite."""
  return save_png(Path(instance_dir) / f"{n}_mask.png", (np.asarray(mask) > 0).astype(np.uint8) * 255, overwrite=overwrite)

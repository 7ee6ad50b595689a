"""The published data directory (docs/DESIGN.md, "The published data directory"), read and written in exactly one place.

Paths are relative to a data root (default `<repo>/data`, or $POEMAP_DATA). Layout ids and
instance ids are directory names; timestamps are strings. Writers never overwrite.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
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


# ---- what a reader skipped: every reader can append (path, reason) pairs to a list, and runs print them

Skipped = list[tuple[str, str]]


def report_read(what: str, n: int, skipped: Skipped, log=print, limit: int = 20) -> None:
  """One line saying what was read, then one per skipped item with its reason (the first `limit`)."""
  log(f"{what}: read {n}" + (f"; skipped {len(skipped)}:" if skipped else "; skipped nothing"))
  for path, reason in skipped[:limit]: log(f"  skipped {path}: {reason}")
  if len(skipped) > limit: log(f"  ... and {len(skipped) - limit} more skipped")


# ---- full layouts for ViT training: train/<layout>/<instance>/<n>.png (or <n>_raw.png), _origin.npz, _mask.png, paths.npz
# <n> is a sample number (ours) or the collect timestamp the original label_layout.py kept, with its
# collect names (<ts>_raw.png, <ts>_origin.npz, <ts>_mask.png, <ts>_tokens.npz): both are read.

IMAGE_SUFFIXES = (".png", "_raw.png")


def layout_image_path(instance_dir: str | os.PathLike, n: int | str) -> Path | None:
  """<n>.png, else the collect name <n>_raw.png; None when neither exists."""
  return next((p for s in IMAGE_SUFFIXES if (p := Path(instance_dir) / f"{n}{s}").is_file()), None)


@dataclass(frozen=True)
class LayoutFiles:
  layout: int
  instance_dir: Path
  n: str
  image: Path | None   # <n>.png or <n>_raw.png
  mask: Path | None    # <n>_mask.png


def scan_layouts(root: str | os.PathLike | None = None, tree: str = "train", skipped: Skipped | None = None) -> list[LayoutFiles]:
  """Every full layout of the tree: an <n>_origin.npz with its image and/or mask, under either naming.
  What is not one goes to `skipped` with the reason (an image or mask without its origin, an origin with
  neither, an instance with no layout, directories that are not layout/instance ids)."""
  out, skipped = [], skipped if skipped is not None else []
  for layout, idir in layout_instances(root, tree, skipped):
    names = {p.name for p in idir.iterdir() if p.is_file()}
    ns = sorted((f[:-len("_origin.npz")] for f in names if f.endswith("_origin.npz")), key=lambda s: (len(s), s))
    for n in ns:
      image, mask = layout_image_path(idir, n), idir / f"{n}_mask.png"
      if image is None and not mask.is_file():
        skipped.append((str(idir / f"{n}_origin.npz"), f"neither {n}.png, {n}_raw.png nor {n}_mask.png beside it"))
      else: out.append(LayoutFiles(layout, idir, n, image, mask if mask.is_file() else None))
    for f in sorted(names):
      stem = (f[:-len("_mask.png")] if f.endswith("_mask.png") else f[:-len("_raw.png")] if f.endswith("_raw.png")
              else f[:-4] if f.endswith(".png") else None)
      if stem is not None and stem not in ns: skipped.append((str(idir / f), f"no {stem}_origin.npz beside it"))
    if not ns and not any(f.endswith(".png") for f in names):
      skipped.append((str(idir), "no layout (<n>_origin.npz with <n>.png, <n>_raw.png or <n>_mask.png)"))
  return out

def write_layout(instance_dir: str | os.PathLike, n: int | str, image: np.ndarray, origin, mask: np.ndarray | None = None) -> None:
  d = Path(instance_dir)
  save_png(d / f"{n}.png", image)
  save_npz(d / f"{n}_origin.npz", data=np.asarray(origin, dtype=np.int64).reshape(2))
  if mask is not None: save_png(d / f"{n}_mask.png", (np.asarray(mask) > 0).astype(np.uint8) * 255)


def read_layout(instance_dir: str | os.PathLike, n: int | str = 0,
                with_image: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
  """(image RGB, origin [y,x] int64, mask 0/1 uint8 or None when not yet computed). with_image=False
  skips decoding the image (None), the bulk of the time when only the mask is wanted."""
  d = Path(instance_dir)
  ip = layout_image_path(d, n)
  if with_image and ip is None: raise FileNotFoundError(f"no {n}.png or {n}_raw.png in {d}")
  image = load_png(ip) if with_image and ip is not None else None
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


def layout_instances(root: str | os.PathLike | None = None, tree: str = "train", skipped: Skipped | None = None) -> list[tuple[int, Path]]:
  """(layout_id, instance_dir) for every numeric layout/instance directory under <root>/<tree>; other
  directories go to `skipped` (train/collect is the collect area, not a layout)."""
  base = data_root(root) / tree
  out: list[tuple[int, Path]] = []
  skipped = skipped if skipped is not None else []
  if not base.is_dir(): return out
  for p in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.isdigit()):
    why = "the collect area, not a layout (label_layout.py / label_data.py move samples out of it)" if p.name == "collect" else "not a layout id"
    skipped.append((str(p), why))
  for ld in sorted((p for p in base.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
    for p in sorted(p for p in ld.iterdir() if p.is_dir() and not p.name.isdigit()): skipped.append((str(p), "not an instance id"))
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


def test_samples(root: str | os.PathLike | None = None, curated_only: bool = True, skipped: Skipped | None = None) -> list[tuple[int, Path]]:
  """(layout_id, tokens_path) of the test tree; only curated ones when curation_mask.json exists. Samples
  left out as not curated, and curated timestamps without a tokens file, go to `skipped`."""
  cur = read_curation_mask(root) if curated_only else None
  out, skipped = [], skipped if skipped is not None else []
  for layout, idir in layout_instances(root, "test", skipped):
    want = set(cur.get(str(layout), {}).get(idir.name, [])) if cur is not None else None
    have = set()
    for tp in sorted(idir.glob("*_tokens.npz")):
      ts = tp.name[: -len("_tokens.npz")]
      have.add(ts)
      if want is not None and ts not in want: skipped.append((str(tp), "not curated (test/curation_mask.json)"))
      else: out.append((layout, tp))
    for ts in sorted((want or set()) - have): skipped.append((str(idir / f"{ts}_tokens.npz"), "curated but missing"))
  return out


# ---- UNet pairs: auto_crop_50/<group>/<i>.npz + mask_50/<group>.npz

def write_unet_group(root: str | os.PathLike | None, group: str, crops: list[np.ndarray], mask: np.ndarray) -> None:
  r = data_root(root)
  for i, c in enumerate(crops):
    c = np.asarray(c)
    if c.dtype != np.uint8 or c.ndim != 3 or c.shape[:2] != mask.shape:
      raise ValueError(f"crop {i}: want uint8 {mask.shape}+(3,), got {c.dtype} {c.shape}")
    save_npz(r / "auto_crop_50" / group / f"{i}.npz", data=c)
  save_npz(r / "mask_50" / f"{group}.npz", data=(np.asarray(mask) > 0).astype(np.uint8))


def read_unet_groups(root: str | os.PathLike | None = None, skipped: Skipped | None = None) -> list[tuple[str, list[Path], Path]]:
  """(group, crop paths, mask path) for every group that has both crops and a mask; the others go to `skipped`."""
  r = data_root(root)
  out: list[tuple[str, list[Path], Path]] = []
  skipped = skipped if skipped is not None else []
  crops_dir = r / "auto_crop_50"
  if not crops_dir.is_dir(): return out
  groups = sorted(p for p in crops_dir.iterdir() if p.is_dir())
  for g in groups:
    m = r / "mask_50" / f"{g.name}.npz"
    crops = sorted(g.glob("*.npz"), key=lambda p: (len(p.stem), p.stem))
    if not m.exists(): skipped.append((str(g), f"no mask {m}"))
    elif not crops: skipped.append((str(g), "no crops (<i>.npz)"))
    else: out.append((g.name, crops, m))
  names = {g.name for g in groups}
  if (r / "mask_50").is_dir():
    skipped += [(str(m), "no crops directory auto_crop_50/" + m.stem) for m in sorted((r / "mask_50").glob("*.npz")) if m.stem not in names]
  return out


LOOKS_FILE = "sim_looks.json"  # written by the synthetic Coast: UNet group name -> the look it was rendered in


def read_group_families(root: str | os.PathLike | None = None) -> dict[str, str]:
  """UNet group name -> look family, from a synthetic data root's LOOKS_FILE ({} when absent)."""
  path = data_root(root) / LOOKS_FILE
  if not path.is_file(): return {}
  try: looks = json.loads(path.read_text())
  except (OSError, ValueError) as e: raise ValueError(f"{path}: unreadable ({e})") from None
  return {str(g): str(v.get("family", "?")) for g, v in looks.items()}


def write_layout_mask(instance_dir: str | os.PathLike, n: int | str, mask: np.ndarray, overwrite: bool = False) -> Path:
  """<n>_mask.png (0/255) of a full layout, atomically; an existing mask is kept unless overwrite."""
  return save_png(Path(instance_dir) / f"{n}_mask.png", (np.asarray(mask) > 0).astype(np.uint8) * 255, overwrite=overwrite)

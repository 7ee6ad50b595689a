"""UNet training pairs from screenshots: the `auto_crop_50/<group>/<i>.npz` + `mask_50/<group>.npz` format.

A group is one revealed minimap. Its ground truth comes from a clean screenshot (the minimap over a
dark background, where a colour filter finds exactly the blue lines); the noisy screenshots show the
same minimap, unchanged, moved over fires, effects, water... Each noisy screenshot is aligned to the
clean one by template matching an anchor (a box of the clean screenshot, e.g. around the map's
player icon; by default the map lines themselves, matched only on their pixels), and the matching
region is cut out. Crops and the clean crop are shrunk by ½ (INTER_AREA, the scale the server sees)
and the mask is the colour filter of the shrunk clean crop, so mask and crops agree pixel for pixel.
Background groups (screenshots with no minimap) get an all-zero mask.

Input folder:
  <input>/maps/<group>/clean.png         the minimap over a dark background
  <input>/maps/<group>/noisy/*.png       the same minimap elsewhere on screen, with noise
  <input>/maps/<group>/boxes.json        optional {"crop": [y0,x0,y1,x1], "anchor": [y0,x0,y1,x1]},
                                         clean.png pixels, end exclusive; crop defaults to the lines'
                                         bounding box plus a margin, anchor to the crop's lines
  <input>/background/<group>/*.png       screenshots without a minimap, all the same size
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from poemap.colorfilter import color_filter_mask
from poemap.datadir import data_root, write_unet_group
from poemap.fileio import load_png
from poemap.usererror import UserError


@dataclass
class Group:
  name: str
  kind: str  # "map" or "background"
  clean: Path | None
  shots: list[Path]
  boxes: dict = field(default_factory=dict)


def _images(d: Path) -> list[Path]:
  return sorted((p for p in d.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp") and not p.name.startswith(".")),
                key=lambda p: p.name)


def _box(v, what: str) -> tuple[int, int, int, int]:
  if not (isinstance(v, list) and len(v) == 4 and all(isinstance(i, int) for i in v) and 0 <= v[0] < v[2] and 0 <= v[1] < v[3]):
    raise UserError(f"{what} must be [y0, x0, y1, x1] integers with y0 < y1 and x0 < x1, got {v!r}")
  return tuple(v)


def find_groups(input_dir: str | os.PathLike) -> list[Group]:
  """Every group of the input folder, checked (files present, boxes valid) before any work."""
  inp = Path(input_dir)
  if not inp.is_dir(): raise UserError(f"no such input folder: {inp}")
  groups: list[Group] = []
  maps, bg = inp / "maps", inp / "background"
  if not maps.is_dir() and not bg.is_dir(): raise UserError(f"{inp} has neither maps/ nor background/ (see --help for the folder layout)")
  for gd in sorted(p for p in maps.iterdir() if p.is_dir()) if maps.is_dir() else []:
    clean = gd / "clean.png"
    if not clean.is_file(): raise UserError(f"{clean} is missing (a map group needs its clean screenshot)")
    shots = _images(gd / "noisy") if (gd / "noisy").is_dir() else []
    if not shots: raise UserError(f"{gd / 'noisy'} has no screenshots")
    boxes = {}
    if (bp := gd / "boxes.json").exists():
      try: boxes = json.loads(bp.read_text())
      except ValueError as e: raise UserError(f"{bp}: not valid JSON ({e})") from e
      if not isinstance(boxes, dict) or set(boxes) - {"crop", "anchor"}: raise UserError(f"{bp}: want an object with keys crop and/or anchor")
      boxes = {k: _box(v, f"{bp} {k}") for k, v in boxes.items()}
    groups.append(Group(gd.name, "map", clean, shots, boxes))
  for gd in sorted(p for p in bg.iterdir() if p.is_dir()) if bg.is_dir() else []:
    if not (shots := _images(gd)): raise UserError(f"{gd} has no screenshots")
    groups.append(Group(gd.name, "background", None, shots))
  names = [g.name for g in groups]
  if dup := sorted({n for n in names if names.count(n) > 1}): raise UserError(f"group name(s) used in both maps/ and background/: {', '.join(dup)}")
  if not groups: raise UserError(f"no groups in {inp}")
  return groups


def shrink(image: np.ndarray) -> np.ndarray:
  return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _even_box(box, shape) -> tuple[int, int, int, int]:
  """Clip to the image and make both sides even, so the ½ shrink maps pixels exactly."""
  y0, x0, y1, x1 = max(box[0], 0), max(box[1], 0), min(box[2], shape[0]), min(box[3], shape[1])
  if (y1 - y0) % 2: y1 = y1 + 1 if y1 < shape[0] else y1 - 1
  if (x1 - x0) % 2: x1 = x1 + 1 if x1 < shape[1] else x1 - 1
  return y0, x0, y1, x1


def line_box(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
  ys, xs = np.nonzero(mask)
  return _even_box((ys.min() - margin, xs.min() - margin, ys.max() + 1 + margin, xs.max() + 1 + margin), mask.shape)


def locate(image: np.ndarray, templ: np.ndarray, tmask: np.ndarray | None, coarse: int = 4) -> tuple[int, int, float]:
  """(y, x, score) of the best TM_CCOEFF_NORMED match of templ in image; coarse-to-fine because a
  full-resolution match of a large template over a 4K screenshot is slow."""
  def best(img, t, m):
    r = np.nan_to_num(cv2.matchTemplate(img, t, cv2.TM_CCOEFF_NORMED, mask=m), nan=-1.0, posinf=-1.0, neginf=-1.0)
    y, x = np.unravel_index(np.argmax(r), r.shape)
    return int(y), int(x), float(r[y, x])
  th, tw = templ.shape[:2]
  if image.shape[0] < th or image.shape[1] < tw: return 0, 0, -1.0
  if min(th, tw) < 16 * coarse: return best(image, templ, tmask)
  small = lambda a: cv2.resize(a, (a.shape[1] // coarse, a.shape[0] // coarse), interpolation=cv2.INTER_AREA)
  cy, cx, _ = best(small(image), small(templ), None if tmask is None else (small(tmask.astype(np.float32)) > 0).astype(np.uint8))
  pad = 2 * coarse
  y0, x0 = max(cy * coarse - pad, 0), max(cx * coarse - pad, 0)
  y1, x1 = min(cy * coarse + th + pad, image.shape[0]), min(cx * coarse + tw + pad, image.shape[1])
  y, x, s = best(np.ascontiguousarray(image[y0:y1, x0:x1]), templ, tmask)
  return y0 + y, x0 + x, s


def prepare_map_group(g: Group, margin: int = 8, min_score: float = 0.5) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
  """(½-scale noisy crops, ½-scale 0/1 mask, notes about skipped screenshots)."""
  assert g.clean is not None, "a map group has its clean screenshot"
  try: clean = load_png(g.clean)
  except ValueError as e: raise UserError(str(e)) from e
  full = color_filter_mask(clean)
  if "crop" in g.boxes: crop = _even_box(g.boxes["crop"], clean.shape)
  elif full.any(): crop = line_box(full, margin)
  else: raise UserError(f"{g.clean}: no minimap line pixels found; a screenshot without a minimap belongs in background/")
  y0, x0, y1, x1 = crop
  mask = color_filter_mask(shrink(np.ascontiguousarray(clean[y0:y1, x0:x1])))
  if "anchor" in g.boxes:
    ay0, ax0, ay1, ax1 = g.boxes["anchor"]
    if ay1 > clean.shape[0] or ax1 > clean.shape[1]:
      raise UserError(f"{g.clean}: anchor box {g.boxes['anchor']} lies outside the {clean.shape[1]}x{clean.shape[0]} image")
    tmask = None
  else:  # the lines themselves, compared only where they are: the background around them changes
    ay0, ax0, ay1, ax1 = crop
    tmask = cv2.dilate(full[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8))
  templ = np.ascontiguousarray(clean[ay0:ay1, ax0:ax1])
  crops, notes = [], []
  for p in tqdm(g.shots, desc=f"group {g.name}", unit="shot", leave=False):
    try: shot = load_png(p)
    except ValueError as e:
      notes.append(f"skipped {p}: {e}")
      continue
    y, x, score = locate(shot, templ, tmask)
    dy, dx = y - ay0, x - ax0
    if score < min_score:
      notes.append(f"skipped {p}: best anchor match {score:.2f} < --min-score {min_score}")
      continue
    if y0 + dy < 0 or x0 + dx < 0 or y1 + dy > shot.shape[0] or x1 + dx > shot.shape[1]:
      notes.append(f"skipped {p}: the minimap region lies partly off screen (shifted by {dy},{dx})")
      continue
    crops.append(shrink(np.ascontiguousarray(shot[y0 + dy:y1 + dy, x0 + dx:x1 + dx])))
  return crops, mask, notes


def prepare_background_group(g: Group) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
  try: shots = [load_png(p) for p in g.shots]
  except ValueError as e: raise UserError(str(e)) from e
  if bad := [str(p) for p, s in zip(g.shots, shots) if s.shape != shots[0].shape]:
    raise UserError(f"background group {g.name}: all screenshots must be {shots[0].shape[1]}x{shots[0].shape[0]} like {g.shots[0]}; "
                    f"differ: {', '.join(bad)}")
  crops = [shrink(s[: s.shape[0] // 2 * 2, : s.shape[1] // 2 * 2]) for s in shots]
  return crops, np.zeros(crops[0].shape[:2], np.uint8), []


def prepare(input_dir: str | os.PathLike, root: str | os.PathLike | None = None, margin: int = 8, min_score: float = 0.5,
            only: list[str] | None = None) -> list[str]:
  """Write every group of input_dir that the data directory does not have yet; returns report lines."""
  groups = find_groups(input_dir)
  if only:
    if unknown := sorted(set(only) - {g.name for g in groups}): raise UserError(f"no such group(s) in {input_dir}: {', '.join(unknown)}")
    groups = [g for g in groups if g.name in only]
  r = data_root(root)
  report = []
  for g in tqdm(groups, desc="groups", unit="group"):
    if (r / "mask_50" / f"{g.name}.npz").exists():
      report.append(f"{g.name}: already in {r}, left as it is")
      continue
    if (r / "auto_crop_50" / g.name).exists():  # the mask is written last, so this is a run that stopped half-way
      report.append(f"{g.name}: {r / 'auto_crop_50' / g.name} exists without its mask (an interrupted run); remove that folder to redo the group")
      continue
    crops, mask, notes = prepare_map_group(g, margin, min_score) if g.kind == "map" else prepare_background_group(g)
    report += [f"{g.name}: {n}" for n in notes]
    if not crops:
      report.append(f"{g.name}: no usable screenshot, nothing written")
      continue
    write_unet_group(r, g.name, crops, mask)
    report.append(f"{g.name}: {g.kind}, {len(crops)} crop(s) of {mask.shape[1]}x{mask.shape[0]}, {int(mask.sum())} line pixels")
  return report

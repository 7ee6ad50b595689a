"""Moving what the server collected (`train/collect/`) into the training and test trees.

A move here is copy → verify → (record) → remove source, so at every instant each file exists intact
in at least one place: a crash, a full disk or Ctrl+C can leave a duplicate, never a loss. Every
argument and every source file is checked before the first byte is written; a failure during the
copy phase removes only the copies it made (their sources are still there) and reports that nothing
was moved.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from poemap.datadir import COLLECT_SUFFIXES, data_root, layout_instances, read_curation_mask, read_paths, read_tokens, write_curation_mask
from poemap.fileio import atomic_write_bytes, load_npz_data
from poemap.usererror import UserError

N_LAYOUTS = 9  # Act 1 "The Coast"
# collect name suffix -> training-tree suffix after the sample number n
TRAIN_NAMES = {"_raw.png": ".png", "_origin.npz": "_origin.npz", "_mask.png": "_mask.png", "_tokens.npz": "_tokens.npz"}


def collect_dir(root: str | os.PathLike | None = None) -> Path: return data_root(root) / "train" / "collect"


def parse_layout(s: str, n_layouts: int = N_LAYOUTS) -> int:
  if not s.isdigit() or not 0 <= int(s) < n_layouts:
    raise UserError(f"layout id must be an integer 0..{n_layouts - 1}, got {s!r} (use --layouts N for an area with N layouts)")
  return int(s)


def parse_stamp(s: str) -> str:
  """A collect timestamp; a file name such as `1700000000000_raw.png` is accepted too."""
  s = Path(s).name
  for suf in COLLECT_SUFFIXES:
    if s.endswith(suf): s = s[: -len(suf)]
  if not s or s.startswith(".") or "/" in s: raise UserError(f"not a collect timestamp: {s!r}")
  return s


def collected_stamps(root: str | os.PathLike | None = None) -> list[str]:
  """Every timestamp with at least one file in train/collect/, oldest first."""
  d = collect_dir(root)
  if not d.is_dir(): return []
  stamps = {p.name[: -len(s)] for p in d.iterdir() for s in COLLECT_SUFFIXES if p.name.endswith(s) and not p.name.startswith(".")}
  return sorted(stamps, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))


def stamp_files(cdir: Path, ts: str) -> list[tuple[str, Path]]:
  return [(s, cdir / f"{ts}{s}") for s in COLLECT_SUFFIXES if (cdir / f"{ts}{s}").is_file()]


def claim_instance(layout_dir: Path, instance: int | None = None) -> tuple[Path, bool]:
  """(instance dir, created): the given instance (made if absent) or a new one past the highest
  existing id; mkdir is the claim, so two labelers never share a new instance."""
  layout_dir.mkdir(parents=True, exist_ok=True)
  if instance is not None:
    d = layout_dir / str(instance)
    if d.exists() and not d.is_dir(): raise UserError(f"{d} exists and is not a directory")
    created = not d.exists()
    d.mkdir(exist_ok=True)
    return d, created
  n = max((int(p.name) + 1 for p in layout_dir.iterdir() if p.name.isdigit()), default=0)
  while True:
    try:
      (layout_dir / str(n)).mkdir()
      return layout_dir / str(n), True
    except FileExistsError: n += 1


def _fsync_dir(d: Path) -> None:
  fd = os.open(d, os.O_RDONLY)
  try: os.fsync(fd)
  finally: os.close(fd)


def move_files(pairs: list[tuple[Path, Path]], after_copy: Callable[[], None] | None = None, desc: str = "moving") -> None:
  """Move src → dst for every pair, all or nothing up to the removal phase. `after_copy` runs once
  every copy is verified and before any source is removed (e.g. to record the move); if it fails
  the copies are withdrawn too."""
  dsts = [d for _, d in pairs]
  if len(set(dsts)) != len(dsts): raise UserError("two files would be moved to the same destination")
  if missing := [str(s) for s, _ in pairs if not s.is_file()]: raise UserError(f"missing source file(s): {', '.join(missing)}")
  if clobber := [str(d) for d in dsts if d.exists()]: raise UserError(f"refusing to overwrite existing file(s): {', '.join(clobber)}")
  made: list[Path] = []
  try:
    for src, dst in tqdm(pairs, desc=f"{desc}: copy", unit="file", leave=False):
      data = src.read_bytes()
      atomic_write_bytes(dst, data)  # never clobbers, even if dst appeared since the check
      made.append(dst)
      if dst.read_bytes() != data: raise OSError(f"verification failed: {dst} differs from {src}")
    for d in {d.parent for d in dsts}: _fsync_dir(d)  # the new names must be durable before the old ones go
    if after_copy is not None: after_copy()
  except BaseException as e:
    for dst in made:
      src = pairs[dsts.index(dst)][0]
      if src.is_file(): dst.unlink(missing_ok=True)  # only a copy whose source is still there
    if isinstance(e, (UserError, KeyboardInterrupt)): raise
    raise UserError(f"{type(e).__name__}: {e}; nothing was moved, all source files are where they were") from e
  for src, _ in tqdm(pairs, desc=f"{desc}: remove sources", unit="file", leave=False): src.unlink()
  for d in {s.parent for s, _ in pairs}: _fsync_dir(d)


def label_layout(root: str | os.PathLike | None, layout: int, stamp: str, instance: int | None = None) -> list[tuple[Path, Path]]:
  """Move collected full-layout sample `stamp` into train/<layout>/<instance>/<n>.png (+ _origin.npz,
  _mask.png, _tokens.npz when collected). Returns the (source, destination) pairs moved."""
  cdir = collect_dir(root)
  files = dict(stamp_files(cdir, stamp))
  if "_raw.png" not in files: raise UserError(f"no collected layout {cdir / (stamp + '_raw.png')} (see `label_layout.py c` / ls {cdir})")
  if "_origin.npz" not in files: raise UserError(f"{cdir / (stamp + '_origin.npz')} is missing: a training layout needs its origin")
  try: origin = load_npz_data(files["_origin.npz"])
  except (ValueError, OSError) as e: raise UserError(f"unreadable origin: {e}") from e
  if origin.size != 2: raise UserError(f"{files['_origin.npz']}: origin must be [y, x], got shape {origin.shape}")
  layout_dir = data_root(root) / "train" / str(layout)
  idir, created = claim_instance(layout_dir, instance)
  n = 0
  while any((idir / f"{n}{t}").exists() for t in TRAIN_NAMES.values()): n += 1
  pairs = [(src, idir / f"{n}{TRAIN_NAMES[s]}") for s, src in files.items()]
  try: move_files(pairs, desc=f"layout {layout}")
  except BaseException:
    if created and not any(idir.iterdir()): idir.rmdir()
    raise
  return pairs


def label_data(root: str | os.PathLike | None, layout: int, stamps: list[str] | None = None, instance: int | None = None) -> tuple[Path, list[str]]:
  """Move collected live samples (all of train/collect/, or `stamps`) into test/<layout>/<instance>/
  and add them to test/curation_mask.json. Returns (instance dir, curated stamps)."""
  cdir = collect_dir(root)
  if stamps is None:
    stamps = collected_stamps(root)
    if not stamps: raise UserError(f"nothing collected in {cdir}")
  stamps = list(dict.fromkeys(stamps))
  if missing := [ts for ts in stamps if not (cdir / f"{ts}_tokens.npz").is_file()]:
    raise UserError(f"no {cdir}/<ts>_tokens.npz for: {', '.join(missing)} (a test sample needs its tokens)")
  for ts in stamps:
    try: read_tokens(cdir / f"{ts}_tokens.npz")
    except (ValueError, OSError) as e: raise UserError(f"unreadable tokens: {e}") from e
  try: cur = read_curation_mask(root) or {}
  except ValueError as e: raise UserError(f"{data_root(root) / 'test' / 'curation_mask.json'} is not valid JSON ({e}); fix or move it first") from e
  idir, created = claim_instance(data_root(root) / "test" / str(layout), instance)
  pairs = [(src, idir / src.name) for ts in stamps for _, src in stamp_files(cdir, ts)]

  def record() -> None:
    inst = cur.setdefault(str(layout), {}).setdefault(idir.name, [])
    inst.extend(ts for ts in stamps if ts not in inst)
    write_curation_mask(cur, root)

  try: move_files(pairs, after_copy=record, desc=f"layout {layout}")
  except BaseException:
    if created and not any(idir.iterdir()): idir.rmdir()
    raise
  return idir, stamps


def count_table(root: str | os.PathLike | None, tree: str) -> str:
  """Per-layout counts of the train or test tree, plus what waits in train/collect/."""
  rows: dict[int, list[int]] = {}
  cur = read_curation_mask(root) if tree == "test" else None
  for layout, idir in layout_instances(root, tree):
    r = rows.setdefault(layout, [0, 0, 0])
    r[0] += 1
    if tree == "train":
      r[1] += sum(1 for p in idir.glob("*.png") if p.stem.isdigit())
      r[2] += len(read_paths(idir))
    else:
      tss = [p.name[: -len("_tokens.npz")] for p in idir.glob("*_tokens.npz")]
      r[1] += len(tss)
      r[2] += len(tss) if cur is None else sum(ts in cur.get(str(layout), {}).get(idir.name, []) for ts in tss)
  third = "paths" if tree == "train" else "curated"
  lines = [f"{tree}: layout  instances  samples  {third}"]
  lines += [f"{tree}: {l:6d}  {r[0]:9d}  {r[1]:7d}  {r[2]:{len(third)}d}" for l, r in sorted(rows.items())]
  tot = [sum(r[i] for r in rows.values()) for i in range(3)]
  lines.append(f"{tree}:  total  {tot[0]:9d}  {tot[1]:7d}  {tot[2]:{len(third)}d}")
  lines.append(f"collect: {len(collected_stamps(root))} sample(s) waiting in {collect_dir(root)}")
  return "\n".join(lines)


def parse_label_args(doc: str, tree: str, rest: tuple[str, dict], instance_help: str, argv: list[str] | None = None) -> argparse.Namespace | None:
  """The command line label_layout.py and label_data.py share: LAYOUT_ID (or `c`: print the counts of
  `tree` and return None), the script's own positional `rest` (name, add_argument options), --instance,
  --layouts and --data. Returns the arguments with .layout checked and made an int."""
  ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("layout", metavar="LAYOUT_ID", help="layout id 0..N-1, or c to count")
  ap.add_argument(rest[0], **rest[1])
  ap.add_argument("--instance", type=int, help=instance_help)
  ap.add_argument("--layouts", type=int, default=N_LAYOUTS, help="number of layouts of the area (default %(default)s)")
  ap.add_argument("--data", help="data directory (default: $POEMAP_DATA or <repo>/data)")
  a = ap.parse_args(argv)
  if a.layout == "c":
    if getattr(a, rest[0]): raise UserError("`c` takes no further arguments")
    print(count_table(a.data, tree))
    return None
  a.layout = parse_layout(a.layout, a.layouts)
  if a.instance is not None and a.instance < 0: raise UserError(f"--instance must be >= 0, got {a.instance}")
  return a

"""The area registry: which game areas poemap knows, and each one's guides, ViT and layout count.

It is data, `<data>/user/areas.json` (the bundled `data/user/areas.json` when the data root has
none), so adding an area is adding an entry, its guide images and its checkpoint:

    {"areas": {"coast": {"title": "The Coast", "area_ids": ["1_1_2"], "names": ["The Coast"],
                         "guides": "coast", "vit": "ViT6_219_15", "layouts": 9}, ...}}

`area_ids` are the language-independent ids of the log's "Generating level" line; `names` are what
its "You have entered NAME." line says (any translations may be listed); `guides` is the directory
under `<data>/user/` holding `<layout_id>.png`; `vit` a checkpoint name under `<data>/model/` or a
path. The client and the server both read it; the UNet is shared by all areas.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from poemap import REPO_ROOT
from poemap.datadir import data_root, model_path
from poemap.usererror import UserError

BUNDLED = REPO_ROOT / "data" / "user" / "areas.json"
KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a key travels in the wire protocol: keep it plain


@dataclass(frozen=True)
class Area:
  key: str
  title: str
  area_ids: tuple[str, ...]
  names: tuple[str, ...]
  guides: str
  vit: str
  layouts: int

  def guide_dir(self, root: str | os.PathLike | None = None) -> Path: return data_root(root) / "user" / self.guides
  def vit_path(self, root: str | os.PathLike | None = None) -> Path: return model_path(self.vit, root)


class Areas:
  """The registry, looked up by key, by the log's area id, or by the entered line's name."""

  def __init__(self, areas: list[Area], path: Path | None = None):
    self.areas, self.path = {a.key: a for a in areas}, path
    self._ids = {i: a for a in areas for i in a.area_ids}
    self._names = {n.casefold(): a for a in areas for n in a.names}

  def __contains__(self, key: str) -> bool: return key in self.areas
  def __getitem__(self, key: str) -> Area: return self.areas[key]
  def __len__(self) -> int: return len(self.areas)
  def by_id(self, area_id: str | None) -> Area | None: return self._ids.get(area_id) if area_id else None
  def by_name(self, name: str | None) -> Area | None: return self._names.get(name.casefold()) if name else None


def registry_path(root: str | os.PathLike | None = None) -> Path:
  """<data>/user/areas.json, or the bundled registry when that data root has none."""
  p = data_root(root) / "user" / "areas.json"
  return p if p.is_file() else BUNDLED


def parse_areas(obj: object, where: str = "area registry") -> Areas:
  """An Areas from the decoded JSON; UserError naming the entry and field that is wrong."""
  if not isinstance(obj, dict) or not isinstance(obj.get("areas"), dict):
    raise UserError(f"{where}: wants a JSON object with an \"areas\" object, got {type(obj).__name__}")
  out: list[Area] = []
  seen: dict[str, str] = {}
  for key, e in obj["areas"].items():
    bad = lambda what: UserError(f"{where}: area {key!r}: {what}")
    if not KEY.match(key): raise bad("keys are 1-64 letters, digits, '_', '-', '.'")
    if not isinstance(e, dict): raise bad("must be an object")
    strs = lambda f: isinstance(e.get(f), list) and all(isinstance(s, str) and s.strip() for s in e[f])
    for f in ("title", "guides", "vit"):
      if not isinstance(e.get(f), str) or not e[f].strip(): raise bad(f"{f!r} must be a non-empty string")
    for f in ("area_ids", "names"):
      if not strs(f): raise bad(f"{f!r} must be a list of non-empty strings")
    if not e["area_ids"] and not e["names"]: raise bad("needs at least one area id or name, else the log can never select it")
    if type(e.get("layouts")) is not int or e["layouts"] < 1: raise bad(f"'layouts' must be an integer >= 1, got {e.get('layouts')!r}")
    for i in e["area_ids"]:
      if i in seen: raise bad(f"area id {i!r} is also registered for {seen[i]!r}")
      seen[i] = key
    out.append(Area(key, e["title"], tuple(e["area_ids"]), tuple(e["names"]), e["guides"], e["vit"], e["layouts"]))
  return Areas(out)


def load_areas(path: str | os.PathLike | None = None, root: str | os.PathLike | None = None) -> Areas:
  """The registry at `path` (default registry_path(root)); UserError when it is missing or malformed."""
  p = Path(path) if path is not None else registry_path(root)
  try: text = p.read_text(encoding="utf-8")
  except FileNotFoundError: raise UserError(f"no area registry at {p} (restore data/user/areas.json from git, or pass the path of one)") from None
  except (OSError, UnicodeDecodeError) as e: raise UserError(f"cannot read the area registry {p}: {e}") from None
  try: obj = json.loads(text)
  except json.JSONDecodeError as e: raise UserError(f"the area registry {p} is not valid JSON: {e}") from None
  areas = parse_areas(obj, str(p))
  areas.path = p
  return areas

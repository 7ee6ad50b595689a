"""The client's remembered settings: one JSON file in the user's config directory.

Where: $POEMAP_CONFIG_DIR when set (tests use a temp dir), else %APPDATA%\\poemap on Windows and
$XDG_CONFIG_HOME/poemap or ~/.config/poemap elsewhere; the file is settings.json. It is read at start
(flags override it for that run), and rewritten atomically (poemap.fileio) when the player changes
something in the window (place, size, mode, opacity) or runs the client with --save-settings.
A file that cannot be read as written (broken JSON, another version, a bad value) never stops the
client: it gets a clear message and the defaults for what was wrong, and the file is first copied to
settings.json.bak, so the next rewrite cannot destroy what the player had.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poemap.fileio import atomic_write_bytes, save_json
from stream.comms import DEFAULT_ADDR
from stream.hotkeys import COMMANDS
from stream.overlay import MODES

VERSION = 1
ENV = "POEMAP_CONFIG_DIR"


@dataclass
class Settings:
  mode: str = "overlay"                 # overlay: borderless, topmost, translucent, on the game; windowed: a normal window
  overlay: list[int] | None = None      # [x, y, w, h] of the window in overlay mode (None: the default place)
  windowed: list[int] | None = None     # the same in windowed mode (e.g. on a second monitor)
  opacity: float = 0.85                 # of the overlay-mode window (Windows)
  monitor: int = 1                      # mss monitor captured (1 = primary)
  fps: float = 1.0
  server: str = DEFAULT_ADDR
  hotkeys: dict[str, str] = field(default_factory=lambda: {n: combo for n, (combo, _) in COMMANDS.items()})
  client_log: str | None = None         # the game's Client.txt (None: looked for in the usual places)

  def to_json(self) -> dict:
    return {"version": VERSION, **dataclasses.asdict(self)}


def _rect(v: Any) -> list[int] | None:
  if v is None: return None
  if not (isinstance(v, list) and len(v) == 4 and all(isinstance(x, int) and not isinstance(x, bool) for x in v) and v[2] > 0 and v[3] > 0):
    raise ValueError("want null or [x, y, width, height] in whole pixels, width and height > 0")
  return v


def _num(lo: float, hi: float, kind=float):
  def check(v: Any):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi or (kind is int and not isinstance(v, int)):
      raise ValueError(f"want {'a whole number' if kind is int else 'a number'} in {lo}..{hi}")
    return kind(v)
  return check


def _choice(*opts):
  def check(v: Any):
    if v not in opts: raise ValueError(f"want one of {', '.join(map(repr, opts))}")
    return v
  return check


def _str(optional: bool):
  def check(v: Any):
    if (v is None and optional) or (isinstance(v, str) and v): return v
    raise ValueError("want a non-empty string" + (" or null" if optional else ""))
  return check


def _hotkeys(v: Any) -> dict[str, str]:
  if not isinstance(v, dict) or not all(isinstance(c, str) and c for c in v.values()):
    raise ValueError("want {command: key combination}")
  unknown = set(v) - set(COMMANDS)
  if unknown: raise ValueError(f"unknown command {sorted(unknown)[0]!r} (commands: {', '.join(COMMANDS)})")
  return {**Settings().hotkeys, **v}  # a command left out keeps its default combination


CHECKS = {"mode": _choice(*MODES), "overlay": _rect, "windowed": _rect, "opacity": _num(0.2, 1.0), "monitor": _num(0, 16, int),
          "fps": _num(0.05, 30.0), "server": _str(False), "hotkeys": _hotkeys, "client_log": _str(True)}


def config_dir(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> Path:
  """Where the settings live (see the module doc); `env`/`platform` default to this process's."""
  env = os.environ if env is None else env
  if env.get(ENV): return Path(env[ENV])
  if platform == "win32" and env.get("APPDATA"): return Path(env["APPDATA"]) / "poemap"
  return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "poemap"


def settings_path() -> Path: return config_dir() / "settings.json"


def _keep_copy(path: Path) -> str:
  """Copy a file that was not read as written to <name>.bak (a fresh name if another .bak differs);
  returns the words for the message."""
  data = path.read_bytes()
  bak = path.with_name(path.name + ".bak")
  if bak.is_file() and bak.read_bytes() != data: bak = path.with_name(f"{path.name}.{int(time.time() * 1000)}.bak")
  try:
    if not bak.is_file(): atomic_write_bytes(bak, data)
  except OSError as e: return f"; could not keep a copy ({e}), so it is left as it is until a setting changes"
  return f"; the file is kept as {bak}"


def load_settings(path: str | os.PathLike | None = None) -> tuple[Settings, list[str]]:
  """The settings in `path` (default settings_path()) and what was wrong with them, one message per
  problem (empty when the file is fine or absent). Never raises for the file's content."""
  path = Path(path) if path is not None else settings_path()
  s = Settings()
  if not path.exists(): return s, []
  try:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict): raise ValueError(f"want a JSON object, got {type(raw).__name__}")
  except (OSError, UnicodeDecodeError, ValueError) as e:
    return s, [f"settings {path} unreadable ({e}): using the defaults" + (_keep_copy(path) if path.is_file() else "")]
  if raw.get("version") != VERSION:
    return s, [f"settings {path} are version {raw.get('version')!r}, this client reads version {VERSION}: using the defaults" + _keep_copy(path)]
  notes = []
  for k, v in raw.items():
    if k == "version": continue
    if k not in CHECKS: notes.append(f"settings {path}: unknown setting {k!r} ignored"); continue
    try: setattr(s, k, CHECKS[k](v))
    except ValueError as e: notes.append(f"settings {path}: {k} = {json.dumps(v)} ignored ({e}); using {json.dumps(getattr(s, k))}")
  if notes: notes[-1] += _keep_copy(path)
  return s, notes


def override(s: Settings, **flags: Any) -> Settings:
  """The settings with the flags that were given (not None) in place of theirs."""
  return dataclasses.replace(s, **{k: v for k, v in flags.items() if v is not None})


def save_settings(s: Settings, path: str | os.PathLike | None = None) -> Path:
  """Write the settings atomically (the old file stays whole until the new one is complete)."""
  return save_json(Path(path) if path is not None else settings_path(), s.to_json(), overwrite=True)

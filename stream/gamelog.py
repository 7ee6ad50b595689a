"""The game's log, `logs/Client.txt`: which area the player is in, read as the game appends it.

Two lines matter (docs/DESIGN.md, "The game's log"):

    2023/11/22 15:27:09 106890670 1186a0e0 [DEBUG Client 204] Generating level 70 area "1_1_2" with seed 3743543658
    2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] : You have entered The Coast.

The first is the same in every game language (area id, level, instance seed); it is written when
loading starts. The second is translated, and written when the player stands in the area. Chat
passes through the same log (`[INFO Client 204] @From Someone: You have entered ...`), so only the
exact forms match: the text must follow the `] ` of the tag directly (`Generating`) or after an
empty speaker (`: You have entered`), which no chat line has.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

_HEAD = r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \d+ (?:[0-9a-fA-F]+ )?\[(?:DEBUG|INFO|WARN) Client \d+\] "
GENERATING = re.compile(_HEAD + r'Generating level (\d+) area "([^"\s]+)" with seed (\d+)\s*$')
ENTERED = re.compile(_HEAD + r": You have entered (.+?)\.\s*$")
MAX_LINE = 64 * 1024       # a longer run without a newline is not a log line: dropped
MAX_READ = 4 * 1024 * 1024  # per poll; the rest comes with the next one, so a burst never stalls the caller


@dataclass(frozen=True)
class AreaEvent:
  """One area line: `kind` "generating" (area_id, level, seed set) or "entered" (name set)."""
  kind: str
  time: datetime
  area_id: str | None = None
  level: int | None = None
  seed: int | None = None
  name: str | None = None


def parse_line(line: str) -> AreaEvent | None:
  """The AreaEvent of one log line (without or with its line ending), None for every other line."""
  line = line.rstrip("\r\n")
  if (m := GENERATING.match(line)) is not None:
    return AreaEvent("generating", datetime.strptime(m[1], "%Y/%m/%d %H:%M:%S"), area_id=m[3], level=int(m[2]), seed=int(m[4]))
  if (m := ENTERED.match(line)) is not None:
    return AreaEvent("entered", datetime.strptime(m[1], "%Y/%m/%d %H:%M:%S"), name=m[2].strip())
  return None


class LogFollower:
  """Follows a log file like `tail -F`: poll() returns the AreaEvents of the lines appended since the
  last call. Starts at the end of a file that exists (a years-old log can be gigabytes; the past is
  not news), reads from the start a file that appears later or replaces the old one (rename + new
  file, detected by its identity), and starts over when the file shrinks (truncated). Lines are split
  on \\n with any \\r dropped, decoded as UTF-8 with bad bytes replaced, and an unterminated last line
  waits for the rest. Never raises for the file: a missing or unreadable log is just no events.

  Limit: a file truncated and then refilled past the old size between two polls is not noticed
  (neither does tail); the game appends a few lines a minute, polls come several times a second."""

  def __init__(self, path: str | os.PathLike, from_start: bool = False):
    self.path = Path(path)
    self._f: BinaryIO | None = None
    self._ident: tuple[int, int] | None = None
    self._pos, self._buf, self._skip_partial = 0, b"", False
    self.lines = 0  # complete lines seen, for the curious
    self.error = ""  # why the log can't be read right now, "" when fine
    if self._open() and not from_start and self._f is not None:
      self._pos = self._f.seek(0, os.SEEK_END)
      # the end may be in the middle of a line being written: its tail is not a whole line
      if self._pos > 0:
        self._f.seek(self._pos - 1)
        self._skip_partial = self._f.read(1) != b"\n"

  def _open(self) -> bool:
    try:
      f = open(self.path, "rb")
      st = os.fstat(f.fileno())
    except OSError as e:
      self.error = f"{type(e).__name__}: {e}"
      return False
    self._f, self._ident, self._pos, self._buf, self._skip_partial, self.error = f, (st.st_dev, st.st_ino), 0, b"", False, ""
    return True

  def _close(self) -> None:
    if self._f is not None: self._f.close()
    self._f = None

  def _lines(self, data: bytes, final: bool = False) -> list[str]:
    parts = (self._buf + data).split(b"\n")
    self._buf = b"" if final else parts.pop()
    if final and parts and parts[-1] == b"": parts.pop()
    if len(self._buf) > MAX_LINE: self._buf, self._skip_partial = b"", True
    if self._skip_partial and parts: parts, self._skip_partial = parts[1:], False
    self.lines += len(parts)
    return [p.rstrip(b"\r").decode("utf-8", "replace") for p in parts]

  def _read(self, f: BinaryIO, final: bool = False) -> list[str]:
    try: data = f.read(MAX_READ)
    except OSError as e:
      self.error = f"{type(e).__name__}: {e}"
      return []
    self._pos += len(data)
    return self._lines(data, final)

  def poll_lines(self) -> list[str]:
    """The complete lines appended since the last call."""
    try: st = os.stat(self.path)
    except OSError: st = None
    out: list[str] = []
    if self._f is not None and (st is None or (st.st_dev, st.st_ino) != self._ident):
      # replaced or removed: what the old file got before that is still news; its last line is complete
      out += self._read(self._f, final=True)
      self._close()
    elif self._f is not None and st is not None and st.st_size < self._pos:
      self._f.seek(0)
      self._pos, self._buf, self._skip_partial = 0, b"", False
    if self._f is None and st is not None: self._open()
    if self._f is not None: out += self._read(self._f)
    return out

  def poll(self) -> list[AreaEvent]:
    """The AreaEvents appended since the last call, oldest first."""
    return [e for e in map(parse_line, self.poll_lines()) if e is not None]

  def close(self) -> None: self._close()
  def __enter__(self) -> LogFollower: return self
  def __exit__(self, *a) -> None: self.close()


# ---- where the log is

GAMES = ("Path of Exile", "Path of Exile 2")


def _steam_libraries(steam: Path) -> list[Path]:
  """Steam library folders listed in <steam>/steamapps/libraryfolders.vdf (games often live on another drive)."""
  try: text = (steam / "steamapps" / "libraryfolders.vdf").read_text(errors="replace")
  except OSError: return []
  return [Path(p.replace("\\\\", "\\")) for p in re.findall(r'"path"\s+"([^"]+)"', text)]


def candidate_logs(platform: str = sys.platform, home: Path | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
  """Where Client.txt usually is: the standalone client and Steam, PoE 1 and 2; on Linux, Steam
  (native, flatpak) running the game under Proton, and Wine/Lutris prefixes."""
  env, home = os.environ if env is None else env, Path.home() if home is None else home
  steams: list[Path] = []
  games: list[Path] = []
  if platform == "win32":
    pf = [Path(env.get(k, d)) for k, d in (("ProgramFiles(x86)", r"C:\Program Files (x86)"), ("ProgramFiles", r"C:\Program Files"))]
    games += [p / "Grinding Gear Games" / g for p in pf for g in GAMES]
    steams += [p / "Steam" for p in pf]
  else:
    steams += [home / ".steam" / "steam", home / ".local" / "share" / "Steam",
               home / ".var" / "app" / "com.valvesoftware.Steam" / ".local" / "share" / "Steam"]
    for prefix in (home / ".wine", home / "Games" / "path-of-exile", home / "Games" / "path-of-exile-2"):
      games += [prefix / "drive_c" / "Program Files (x86)" / "Grinding Gear Games" / g for g in GAMES]
  libs = [lib for s in steams for lib in [s, *_steam_libraries(s)]]
  games += [lib / "steamapps" / "common" / g for lib in dict.fromkeys(libs) for g in GAMES]
  return [g / "logs" / "Client.txt" for g in dict.fromkeys(games)]


def find_client_log(candidates: list[Path] | None = None) -> Path | None:
  """The most recently written Client.txt among the usual places (the game being played now), or None."""
  found = []
  for p in candidates if candidates is not None else candidate_logs():
    try: found.append((p.stat().st_mtime, p))
    except OSError: pass
  return max(found)[1] if found else None

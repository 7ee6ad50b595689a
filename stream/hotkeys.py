"""Commands for the client: global hotkeys through `keyboard`, and typed commands on stdin.

Both feed one queue of command names, so the capture loop never blocks on input. Global hotkeys
need Windows, or root on Linux (keyboard reads /dev/input); where they cannot be registered the
client says so and the stdin commands (q/w/e/z + Enter) still work.
"""
from __future__ import annotations

import queue
import sys
import threading

COMMANDS = {"start": ("ctrl+alt+q", "q"), "stop": ("ctrl+alt+w", "w"), "quit": ("ctrl+alt+e", "e"), "frames": ("ctrl+alt+z", "z"),
            "hide": ("ctrl+alt+h", "h")}
HELP = {"start": "start streaming the minimap (press at the area entrance)", "stop": "stop streaming", "quit": "quit",
        "frames": "stream raw frames to the server for background collection", "hide": "hide / show the guide window"}


def parse_command(line: str) -> str | None:
  """'q'/'start' → 'start' etc.; None for anything else."""
  s = line.strip().lower()
  for name, (_, letter) in COMMANDS.items():
    if s in (letter, name): return name
  return None


class Commands:
  """A queue of commands from hotkeys and/or stdin. get() never blocks."""

  def __init__(self, hotkeys: bool = True, stdin: bool = True, out=sys.stderr, combos: dict[str, str] | None = None):
    """`combos`: command → key combination, replacing the defaults of COMMANDS (the settings' hotkeys)."""
    self.q: queue.Queue[str] = queue.Queue()
    self.combos = {n: (combos or {}).get(n, c) for n, (c, _) in COMMANDS.items()}
    self.hotkeys_ok, self.hotkey_error, self._kb = False, "", None
    if hotkeys: self._register(out)
    if stdin and sys.stdin is not None and not sys.stdin.closed:
      threading.Thread(target=self._read_stdin, daemon=True, name="stdin-commands").start()

  def _register(self, out) -> None:
    try:
      import keyboard  # deferred: its import raises on Linux unless root, and the client then takes commands from the terminal
      for name, combo in self.combos.items(): keyboard.add_hotkey(combo, self.q.put, args=(name,))
      self._kb, self.hotkeys_ok = keyboard, True
    except Exception as e:  # ImportError ("must be root"), OSError (no input devices), ...
      self.hotkey_error = f"{type(e).__name__}: {e}"
      print(f"global hotkeys unavailable ({self.hotkey_error}); type commands instead", file=out, flush=True)

  def _read_stdin(self) -> None:
    try:
      for line in sys.stdin:
        c = parse_command(line)
        if c is not None: self.q.put(c)
        elif line.strip(): print(f"unknown command {line.strip()!r}: use " + ", ".join(f"{l} ({n})" for n, (_, l) in COMMANDS.items()),
                                 file=sys.stderr, flush=True)
    except (OSError, ValueError): pass

  def put(self, name: str) -> None:
    if name not in COMMANDS: raise ValueError(f"unknown command {name!r}")
    self.q.put(name)

  def get(self) -> str | None:
    try: return self.q.get_nowait()
    except queue.Empty: return None

  def help(self) -> str:
    keys = "\n".join(f"  {self.combos[n]:<11} or {letter}+Enter  {HELP[n]}" for n, (_, letter) in COMMANDS.items())
    return ("hotkeys active" if self.hotkeys_ok else "hotkeys off: type the letter and Enter") + "\n" + keys

  def close(self) -> None:
    if self._kb is not None:
      try: self._kb.unhook_all_hotkeys()
      except Exception: pass

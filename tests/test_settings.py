"""The client's settings file (stream/settings.py): where it lives, a round trip, flags over it, and
files that are broken, of another version or hold bad values: defaults and a message, never a crash,
and the player's file kept as .bak before anything rewrites it."""
import json
from pathlib import Path

import pytest

from stream.settings import VERSION, Settings, config_dir, load_settings, override, save_settings, settings_path


def test_config_dir_per_platform(tmp_path):
  home = Path.home()
  assert config_dir({}, "linux") == home / ".config" / "poemap"
  assert config_dir({"XDG_CONFIG_HOME": "/x/cfg"}, "linux") == Path("/x/cfg/poemap")
  assert config_dir({"APPDATA": r"C:\Users\p\AppData\Roaming"}, "win32") == Path(r"C:\Users\p\AppData\Roaming") / "poemap"
  assert config_dir({"APPDATA": "C:/a", "POEMAP_CONFIG_DIR": str(tmp_path)}, "win32") == tmp_path
  assert settings_path().parent == config_dir()  # the tests' own dir (conftest), never the player's


def test_round_trip_and_absent_file(tmp_path):
  p = tmp_path / "cfg" / "settings.json"
  s, notes = load_settings(p)
  assert s == Settings() and notes == [] and not p.exists()  # nothing there: defaults, silently, nothing written
  s = Settings(mode="windowed", overlay=[10, 20, 300, 360], windowed=[-1900, 0, 800, 900], opacity=0.6, monitor=2, fps=2.5,
               server="tcp://192.168.1.5:50000", hotkeys={**Settings().hotkeys, "hide": "f9"}, client_log=r"D:\Games\PoE\logs\Client.txt")
  save_settings(s, p)
  assert json.loads(p.read_text())["version"] == VERSION and list(p.parent.iterdir()) == [p]  # atomic: no temp file left
  assert load_settings(p) == (s, [])


def test_flags_override_only_what_was_given():
  s = Settings(server="tcp://10.0.0.2:50000", fps=2.0, mode="windowed")
  o = override(s, server=None, fps=4.0, mode=None, opacity=0.5)
  assert (o.server, o.fps, o.mode, o.opacity) == ("tcp://10.0.0.2:50000", 4.0, "windowed", 0.5) and s.fps == 2.0


@pytest.mark.parametrize("text,why", [("{not json", "unreadable"), ("", "unreadable"), ("[1, 2]", "want a JSON object"),
                                      (b"\xff\xfe\x00", "unreadable"), ('{"version": 0, "mode": "windowed"}', "version 0"),
                                      ('{"mode": "windowed"}', "version None"), ('{"version": 99}', "version 99")])
def test_broken_or_other_version_gives_defaults_a_message_and_a_kept_copy(tmp_path, text, why):
  p = tmp_path / "settings.json"
  p.write_bytes(text if isinstance(text, bytes) else text.encode())
  before = p.read_bytes()
  s, notes = load_settings(p)
  assert s == Settings() and len(notes) == 1 and why in notes[0] and "using the defaults" in notes[0] and str(p) in notes[0]
  assert p.read_bytes() == before and (tmp_path / "settings.json.bak").read_bytes() == before  # kept, untouched
  save_settings(s, p)  # the next change rewrites the file; the copy stays
  assert (tmp_path / "settings.json.bak").read_bytes() == before and load_settings(p) == (Settings(), [])
  p.write_text("{still broken")  # a second, different broken file does not replace the first copy
  load_settings(p)
  assert (tmp_path / "settings.json.bak").read_bytes() == before and len(list(tmp_path.glob("settings.json.*.bak"))) == 1


def test_bad_values_fall_back_one_by_one(tmp_path):
  p = tmp_path / "settings.json"
  raw = {"version": VERSION, "mode": "fullscreen", "overlay": [1, 2, 0, 4], "windowed": [5, 6, 700, 800], "opacity": 3, "monitor": "2",
         "fps": 2, "server": "", "hotkeys": {"hide": "f8", "dance": "f7"}, "client_log": None, "colour": "blue"}
  p.write_text(json.dumps(raw))
  s, notes = load_settings(p)
  d = Settings()
  assert (s.mode, s.overlay, s.opacity, s.monitor, s.server, s.hotkeys) == (d.mode, d.overlay, d.opacity, d.monitor, d.server, d.hotkeys)
  assert s.windowed == [5, 6, 700, 800] and s.fps == 2.0 and s.client_log is None  # the good ones are read
  bad = {n.split(": ")[1].split(" ")[0] for n in notes}
  assert bad == {"mode", "overlay", "opacity", "monitor", "server", "hotkeys", "unknown"} and len(notes) == 7
  assert any("'dance'" in n for n in notes) and any("'colour'" in n for n in notes)
  assert "kept as" in notes[-1] and json.loads((tmp_path / "settings.json.bak").read_text()) == raw


def test_hotkeys_left_out_keep_their_defaults(tmp_path):
  p = tmp_path / "settings.json"
  p.write_text(json.dumps({"version": VERSION, "hotkeys": {"hide": "f8"}}))
  s, notes = load_settings(p)
  assert notes == [] and s.hotkeys == {**Settings().hotkeys, "hide": "f8"} and not (tmp_path / "settings.json.bak").exists()

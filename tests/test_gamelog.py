"""The game's log: parsing the area lines, and following a real file that a separate process appends
to, through truncation, replacement, late appearance, partial lines, CRLF and bad bytes."""
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime

import pytest

from stream.gamelog import AreaEvent, LogFollower, candidate_logs, find_client_log, parse_line

GEN = '2023/11/22 15:27:09 106890670 1186a0e0 [DEBUG Client 204] Generating level {level} area "{aid}" with seed {seed}'
ENT = "2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] : You have entered {name}."


def gen(aid="1_1_2", seed=3743543658, level=2): return GEN.format(aid=aid, seed=seed, level=level)
def ent(name="The Coast"): return ENT.format(name=name)


def test_parse_the_two_area_lines():
  assert parse_line(gen("MapWorldsInfestedValley", 3743543658, 70)) == AreaEvent("generating", datetime(2023, 11, 22, 15, 27, 9),
                                                                                 area_id="MapWorldsInfestedValley", level=70, seed=3743543658)
  assert parse_line(ent("The Coast") + "\r\n") == AreaEvent("entered", datetime(2023, 11, 22, 15, 27, 11), name="The Coast")
  assert parse_line(ent("Lioneye's Watch")).name == "Lioneye's Watch"
  # older logs have no hex field
  assert parse_line("2019/01/02 03:04:05 12345 [INFO Client 9] : You have entered The Mud Flats.").name == "The Mud Flats"


@pytest.mark.parametrize("line", [
  "2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] @From Someone: You have entered The Coast.",
  "2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] @To Someone: You have entered The Coast.",
  "2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] #Someone: You have entered The Coast.",
  "2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] Someone: You have entered The Coast.",
  "2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] <GUILD> Someone: : You have entered The Coast.",
  '2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] @From Someone: Generating level 2 area "1_1_2" with seed 5',
  "2023/11/22 15:27:11 106892110 cffb0734 [INFO Client 204] : Vous êtes entré dans : La Côte.",  # translated: not ours to guess
  "You have entered The Coast.", "", "garbage \ufffd\ufffd",
  '2023/11/22 15:27:09 106890670 1186a0e0 [DEBUG Client 204] Generating level 2 area "1_1_2" with seed 12 and more',
])
def test_chat_and_other_lines_are_not_area_events(line):
  assert parse_line(line) is None


def _writer(path, script: str) -> subprocess.Popen:
  """A separate process appending to `path` as the game would: script is Python with `f` open for appending bytes."""
  code = "import sys, time, os\nf = open(sys.argv[1], 'ab', buffering=0)\n" + textwrap.dedent(script)
  return subprocess.Popen([sys.executable, "-c", code, str(path)])


def _collect(fol: LogFollower, want: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> list[AreaEvent]:
  out: list[AreaEvent] = []
  end = time.monotonic() + timeout
  while len(out) < want and time.monotonic() < end:
    out += fol.poll()
    time.sleep(0.02)
  if proc is not None: assert proc.wait(30) == 0
  return out + fol.poll()


def test_follows_a_file_another_process_appends_to_with_partial_lines_crlf_and_bad_bytes(tmp_path):
  log = tmp_path / "Client.txt"
  log.write_bytes((gen("old_area", 1) + "\r\n" + ent("Old Place") + "\r\n").encode())  # the past: never reported
  fol = LogFollower(log)
  assert fol.poll() == []
  g, e = gen("1_1_2", 77).encode(), ent("The Coast").encode()
  p = _writer(log, f"""
    f.write(b"2023/11/22 15:27:00 1 ab [INFO Client 204] bad bytes \\xff\\xfe\\x80 here\\r\\n")
    f.write({g[:30]!r}); time.sleep(0.4)         # the game flushed half a line
    f.write({g[30:]!r} + b"\\r\\n"); time.sleep(0.2)
    f.write(b"2023/11/22 15:27:10 1 ab [INFO Client 204] @From X: You have entered The Coast.\\r\\n")
    f.write({e!r} + b"\\r\\n")
  """)
  evs = _collect(fol, 2, p)
  assert [(x.kind, x.area_id, x.seed, x.name) for x in evs] == [("generating", "1_1_2", 77, None), ("entered", None, None, "The Coast")]
  assert fol.lines == 4


def test_truncation_replacement_and_a_file_that_appears_later(tmp_path):
  log = tmp_path / "Client.txt"
  fol = LogFollower(log)             # not there yet
  assert fol.poll() == [] and fol.error
  log.write_text(gen("a_1", 1) + "\n")  # appears: read from its start
  assert [x.area_id for x in fol.poll()] == ["a_1"]
  with open(log, "a") as f: f.write(gen("a_2", 2) + "\n")
  assert [x.area_id for x in fol.poll()] == ["a_2"]
  log.write_text(gen("b_1", 3) + "\n")  # truncated and rewritten, shorter than before
  assert [x.area_id for x in fol.poll()] == ["b_1"]
  # replaced: the old file gets a last (unterminated) line, is renamed away, a new one takes its name
  with open(log, "a") as f: f.write(gen("b_2", 4))
  os.replace(log, tmp_path / "Client.old.txt")
  log.write_text(gen("c_1", 5) + "\n")
  assert [x.area_id for x in fol.poll()] == ["b_2", "c_1"]
  log.unlink()                          # gone: no events, no error raised
  assert fol.poll() == []
  log.write_text(ent("The Coast") + "\n")
  assert [x.name for x in fol.poll()] == ["The Coast"]
  fol.close()


def test_replacement_by_a_separate_process(tmp_path):
  log = tmp_path / "Client.txt"
  log.write_text("")
  fol = LogFollower(log)
  p = _writer(log, f"""
    f.write(({gen('x_1', 1)!r} + "\\n").encode()); f.close(); time.sleep(0.3)
    os.replace(sys.argv[1], sys.argv[1] + ".1")
    open(sys.argv[1], "wb").write(({gen('x_2', 2)!r} + "\\n" + {ent('The Coast')!r} + "\\n").encode())
  """)
  evs = _collect(fol, 3, p)
  assert [(x.area_id, x.name) for x in evs] == [("x_1", None), ("x_2", None), (None, "The Coast")]


def test_a_huge_existing_log_is_skipped_at_once(tmp_path):
  log = tmp_path / "Client.txt"
  with open(log, "wb") as f:
    f.write((gen("ancient", 1) + "\n").encode())
    f.truncate(1 << 30)                 # 1 GiB (sparse): a years-old log
    f.seek(0, os.SEEK_END)
    f.write(b"the middle of a line being writ")
  t = time.perf_counter()
  fol = LogFollower(log)
  assert fol.poll() == []
  dt = time.perf_counter() - t
  with open(log, "ab") as f: f.write(b"ten when we opened it\n" + (gen("now", 2) + "\n").encode())
  assert [x.area_id for x in fol.poll()] == ["now"]  # the tail of the half line is not mistaken for a line
  assert dt < 1.0, f"took {dt:.2f}s to open a 1 GiB log"


def test_overlong_garbage_without_newlines_is_dropped(tmp_path):
  log = tmp_path / "Client.txt"
  log.write_bytes(b"")
  fol = LogFollower(log)
  with open(log, "ab") as f: f.write(os.urandom(200_000).replace(b"\n", b"x"))
  assert fol.poll() == []
  with open(log, "ab") as f: f.write(b"\n" + (gen("ok", 1) + "\n").encode())
  assert [x.area_id for x in fol.poll()] == ["ok"]


def test_default_locations(tmp_path):
  win = [str(p) for p in candidate_logs("win32", env={})]
  for want in (r"C:\Program Files (x86)\Grinding Gear Games\Path of Exile\logs\Client.txt",
               r"C:\Program Files (x86)\Grinding Gear Games\Path of Exile 2\logs\Client.txt",
               r"C:\Program Files (x86)\Steam\steamapps\common\Path of Exile\logs\Client.txt",
               r"C:\Program Files (x86)\Steam\steamapps\common\Path of Exile 2\logs\Client.txt"):
    assert any(w.replace("/", "\\") == want for w in win), want
  # Linux: Steam under Proton, including a second Steam library named in libraryfolders.vdf
  steam = tmp_path / ".local" / "share" / "Steam"
  lib = tmp_path / "games" / "SteamLibrary"
  (steam / "steamapps").mkdir(parents=True)
  vdf = f'"libraryfolders"\n{{\n "0"\n {{\n  "path"  "{steam}"\n }}\n "1"\n {{\n  "path"  "{lib}"\n }}\n}}\n'
  (steam / "steamapps" / "libraryfolders.vdf").write_text(vdf)
  cands = candidate_logs("linux", home=tmp_path)
  assert steam / "steamapps/common/Path of Exile/logs/Client.txt" in cands and lib / "steamapps/common/Path of Exile 2/logs/Client.txt" in cands
  assert find_client_log(cands) is None
  older, newer = cands[0], lib / "steamapps/common/Path of Exile 2/logs/Client.txt"
  for p in (older, newer): p.parent.mkdir(parents=True); p.write_text("")
  os.utime(older, (1, 1))
  assert find_client_log(cands) == newer  # the game being played writes the newest log

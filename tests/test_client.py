"""The capture client against a real server (`python -m stream.server` with small random models) over
loopback: a replay end to end with --json, a server that is down and comes back, a dead address,
Ctrl+C, and bad input."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from models.checkpoint import load_unet, save_checkpoint
from poemap import REPO_ROOT
from poemap.fidelity import DARKEST
from poemap.contract import CAPTURE_SIDE
from poemap.sim.look import Look
from poemap.stitch import ADOPT_AFTER, shrink_with_origin
from poemap.sim.session import make_session, save_session
from stream.capture import ReplaySource
from stream.client import STATUSES, Streamer, run_replay
from stream.comms import Client
from stream.demo import ServerProcess, random_models
from stream.hotkeys import parse_command
from stream.overlay import Overlay
from tests.test_capture import needs_xvfb, xvfb

N_FRAMES = 6


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def dead_addr() -> str:
  return f"tcp://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
  d = tmp_path_factory.mktemp("replay")
  return save_session(d / "coast.npz", make_session(3, 17, n_frames=N_FRAMES, resolution=(1280, 720)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  """Not started yet: the first test starts it late on purpose (the client must cope)."""
  d = tmp_path_factory.mktemp("models")
  unet, vit = random_models(d, "tiny", 3)
  state = {"addr": f"tcp://127.0.0.1:{free_port()}", "proc": None, "args": (unet, vit, str(tmp_path_factory.mktemp("data")))}
  def start():
    if state["proc"] is None: state["proc"] = ServerProcess(*state["args"], ready_wait_s=500, bind=state["addr"])
    return state["proc"]
  state["start"] = start
  yield state
  if state["proc"] is not None: state["proc"].stop()


def run_cli(*args, timeout=300, **kw):
  env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
  return subprocess.run([sys.executable, "-m", "stream.client", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                        timeout=timeout, **kw)


def test_client_keeps_capturing_while_the_server_is_down_and_reconnects_by_itself(server, replay):
  frames = ReplaySource(replay)
  client = Client(server["addr"], timeout_ms=400, retries=0)
  st = Streamer(client, Overlay("nowhere"), probe_every_s=0.2)
  st.start()
  # the server is not running: capture and stitching go on, the status says why nothing comes back
  for _ in range(3):
    st.feed(frames.grab())
    st.pump(0.6)
  assert st.frames == 3 and st.canvas is not None
  assert st.result.status == "unreachable" and st.overlay.sel.status == "unreachable" and not st.reachable
  srv = server["start"]()
  seen, end = [], time.monotonic() + 500
  while time.monotonic() < end:
    f = frames.grab()
    if f is not None: st.feed(f)  # the replay may run out while the server compiles: the newest minimap stays queued
    st.pump(0.5)
    seen.append(st.result.status)
    if st.result.status in ("ok", "no_features"): break
  assert st.result.status in ("ok", "no_features"), f"no answer after the server came up: {seen[-5:]}\n{''.join(srv.log[-10:])}"
  assert st.reachable and st.resets_acked == 1 and st.result.frame is not None
  if st.result.status == "ok": assert len(st.result.probs) == 9 and st.result.layout_id == int(np.argmax(st.result.probs))
  client.close()


def test_replay_json_lines_against_a_real_server(server, replay):
  srv = server["start"]()
  srv.wait_ready()
  r = run_cli("--server", server["addr"], "--replay", str(replay), "--json", "--no-overlay", "--area", "nowhere")
  assert r.returncode == 0, r.stderr
  recs = [json.loads(l) for l in r.stdout.splitlines()]
  assert [x["frame"] for x in recs] == list(range(N_FRAMES))
  for x in recs:
    assert x["status"] in STATUSES and x["status"] in ("ok", "no_features"), x
    assert x["result_frame"] == x["frame"] or x["skipped"]  # deterministic: every stitched frame is answered
    assert x["latency_ms"] is not None and x["latency_ms"] > 0
    assert len(x["canvas"]) == 2 and x["canvas"][0] % 64 == 0 and x["canvas"][1] % 64 == 0
    if x["status"] == "ok": assert len(x["probs"]) == 9 and abs(sum(x["probs"]) - 1) < 1e-3 and x["layout_id"] in range(9)
  sizes = [x["canvas"][0] * x["canvas"][1] for x in recs]
  assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # the player walked: the canvas grew
  assert "done: 6 frames" in r.stderr


def test_replay_in_process_sends_one_reset_per_stream(server, replay):
  server["start"]().wait_ready()
  with Client(server["addr"], timeout_ms=60_000, retries=0) as c:
    st = Streamer(c)
    recs = run_replay(st, ReplaySource(replay), max_frames=2)
    first = st.session
    recs += run_replay(st, ReplaySource(replay), max_frames=2)
    assert st.session != first and st.resets_acked == 2 and st.sent == 4
    assert all(x["status"] in ("ok", "no_features") for x in recs)
    assert c.ping()["sessions"] >= 2


def test_a_canvas_begun_on_the_passive_tree_is_forgotten_by_the_server_when_the_walk_replaces_it(server, tmp_path):
  """The passive tree opened on arrival is the first frame: the canvas begins on it and is sent. Once the walk's frames
  have replaced it (MinimapCanvas._adopt: a canvas begun late), the server gets a reset_session before the new canvas,
  the record says began_late, and the overlay chooses no guide (GuideSelector late)."""
  s = make_session(3, 21, 10, look=Look(), lead_in=1, lead_in_kind="tree")
  path = save_session(tmp_path / "tree.npz", s)
  server["start"]().wait_ready()
  with Client(server["addr"], timeout_ms=60_000, retries=0) as c:
    ov = Overlay("nowhere")
    st = Streamer(c, ov)
    recs = run_replay(st, ReplaySource(path))
  late = [r["began_late"] for r in recs]
  at = late.index(True)
  assert not any(late[:at]) and all(late[at:]) and at >= ADOPT_AFTER, late
  assert st.resets_acked == 2 and ov.sel.late and st.canvas is not None and st.canvas.began_after >= 1
  assert ov.sel.shown is None and ov.sel.status == ("late" if recs[-1]["status"] == "ok" else "waiting")
  assert all(r["status"] in ("ok", "no_features") for r in recs[at:]) and recs[-1]["result_frame"] == len(recs) - 1
  # what the server answers after the reset is about the new canvas: its position counts from where it began
  k = CAPTURE_SIDE / s["frames"].shape[1]
  walked = (s["positions"][-1] - s["positions"][st.canvas.began_after]) * k
  assert float(np.abs(np.asarray(recs[-1]["position"]) - walked).max()) <= 2.0


def test_no_guide_is_chosen_from_a_canvas_of_one_view(server, tmp_path, replay):
  """The passive tree left open on arrival places on itself (one view): the server answers, but however sure the
  answer, no guide is shown until a frame placed elsewhere stitches to the first; a walk shows one from then on."""
  s = make_session(3, 21, 4, look=Look(), lead_in=3, lead_in_kind="tree")
  server["start"]().wait_ready()
  with Client(server["addr"], timeout_ms=60_000, retries=0) as c:
    ov = Overlay("nowhere", k=1, threshold=0.01)  # any answer would do
    st = Streamer(c, ov)
    recs = run_replay(st, ReplaySource(save_session(tmp_path / "tree.npz", s)), max_frames=3)
    assert [r["status"] for r in recs[1:]] == ["ok"] * 2 and st.canvas is not None and st.canvas.views == 1
    assert ov.sel.shown is None and all(r["shown"] is None for r in recs)
    ov = Overlay("nowhere", k=1, threshold=0.01)
    st = Streamer(c, ov)
    recs = run_replay(st, ReplaySource(replay))
    assert st.canvas is not None and st.canvas.views >= 2 and ov.sel.shown is not None
    assert recs[0]["shown"] is None and recs[-1]["shown"] is not None  # the entrance alone is one view too


def test_a_unet_made_for_the_darkest_views_is_sent_them(tmp_path, replay):
  """A server whose UNet says (in its checkpoint) it wants the canvas's darkest views: its pong tells the client, whose
  canvas (begun before the pong came) keeps them from then on and is sent whole; the server answers every minimap."""
  unet, vit = random_models(tmp_path, "tiny", 3)
  dark = save_checkpoint(load_unet(unet), tmp_path / "UNet_dark.safetensors", input_path=DARKEST)
  srv = ServerProcess(dark, vit, str(tmp_path / "data"), ready_wait_s=500)
  try:
    with Client(srv.wait_ready(), timeout_ms=120_000, retries=0) as c:
      st = Streamer(c)
      recs = run_replay(st, ReplaySource(replay), max_frames=N_FRAMES)
      assert st.input_path == DARKEST and st.canvas is not None and st.canvas.dark is not None
      assert all(x["status"] in ("ok", "no_features") for x in recs) and st.sent == N_FRAMES
      sent, origin = st.minimap()
      want, o = shrink_with_origin(st.canvas.dark, st.canvas.origin)
      assert np.array_equal(sent, want) and np.array_equal(origin, o) and not np.array_equal(sent, shrink_with_origin(st.canvas.image, o)[0])
  finally:
    srv.stop()


def test_dead_server_every_frame_reported_unreachable_and_exit_is_clean(replay):
  r = run_cli("--server", dead_addr(), "--replay", str(replay), "--json", "--no-overlay", "--timeout", "0.3", timeout=120)
  assert r.returncode == 0, r.stderr
  recs = [json.loads(l) for l in r.stdout.splitlines()]
  assert [x["frame"] for x in recs] == list(range(N_FRAMES))
  assert all(x["status"] == "unreachable" for x in recs) and all(x["canvas"] is not None for x in recs)
  assert "Traceback" not in r.stderr


def test_ctrl_c_exits_cleanly(replay):
  env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
  p = subprocess.Popen([sys.executable, "-m", "stream.client", "--server", dead_addr(), "--replay", str(replay), "--realtime", "--fps", "0.5",
                        "--json", "--no-overlay", "--timeout", "5"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True,
                       # a shell's background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  line = p.stdout.readline()
  assert json.loads(line)["frame"] == 0
  p.send_signal(signal.SIGINT)
  _, err = p.communicate(timeout=30)
  assert p.returncode == 0 and "interrupted" in err and "Traceback" not in err, err


@pytest.mark.parametrize("args,msg", [(["--replay", "/nonexistent.npz"], "cannot read replay"), (["--fps", "0"], "--fps must be > 0"),
                                      (["--replay", str(REPO_ROOT / "README.md")], "cannot read replay")])
def test_bad_input_is_a_clear_error(args, msg):
  r = run_cli("--server", dead_addr(), "--no-overlay", *args, timeout=60)
  assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_stdin_commands_are_parsed():
  assert [parse_command(s) for s in ("q\n", " W ", "e", "z", "start", "quit", "x", "")] == ["start", "stop", "quit", "frames", "start", "quit",
                                                                                            None, None]


@needs_xvfb
def test_live_capture_on_a_screen_driven_by_stdin_commands_without_global_hotkeys():
  with xvfb(1920, 1080) as display:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "stream.client", "--server", dead_addr(), "--display", display, "--no-hotkeys", "--no-overlay",
                          "--json", "--fps", "4", "--timeout", "0.3"], cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
      p.stdin.write("q\n"); p.stdin.flush()
      recs = [json.loads(p.stdout.readline()) for _ in range(6)]  # the empty screen has no lines: frames are skipped, not fatal
      p.stdin.write("w\n"); p.stdin.write("e\n"); p.stdin.flush()
      _, err = p.communicate(timeout=30)
    finally:
      if p.poll() is None: p.kill(); p.wait()
  assert p.returncode == 0, err
  assert [r["frame"] for r in recs] == list(range(6)) and all(r["canvas"] == [1216, 1216] for r in recs)
  assert all(r["skipped"] for r in recs[1:]) and recs[-1]["status"] == "unreachable"
  assert "type commands instead" not in err and "streaming screen monitor 1 1920x1080" in err and "quit" in err

"""The game's log drives the client: the LogDriver's decisions on a real file, and end to end a client
process started with no hotkey, following a Client.txt that a separate writer process appends to, with
a real server (small random models) that serves two registered areas."""
import json
import queue
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from models.checkpoint import save_checkpoint
from models.vit import ViT
from poemap import REPO_ROOT
from poemap.areas import load_areas
from poemap.sim.session import make_session, save_session
from stream.capture import ReplaySource
from stream.client import LogDriver, Streamer
from stream.comms import PROTOCOL_VERSION, Client, decode
from stream.demo import ServerProcess, random_models
from stream.gamelog import LogFollower
from stream.overlay import Overlay
from tests.test_client import dead_addr, free_port
from tests.test_gamelog import ent, gen

N_FRAMES = 8
SIM_ID, SEED = "sim_1_1_2", 4242


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
  return save_session(tmp_path_factory.mktemp("replay") / "coast.npz", make_session(3, 17, n_frames=N_FRAMES, resolution=(1280, 720)))


def registry(path, vit_a, vit_b=None) -> str:
  areas = {"synth": {"title": "The Synthetic Coast", "area_ids": [SIM_ID], "names": ["The Synthetic Coast"], "guides": "synthetic_coast",
                     "vit": str(vit_a), "layouts": 9}}
  if vit_b is not None:
    areas["other"] = {"title": "Other", "area_ids": ["o_1"], "names": ["Other"], "guides": "other", "vit": str(vit_b), "layouts": 5}
    areas["wrong"] = {"title": "Wrong", "area_ids": ["w_1"], "names": ["Wrong"], "guides": "w", "vit": str(vit_b), "layouts": 9}
    areas["absent"] = {"title": "Absent", "area_ids": ["n_1"], "names": ["Absent"], "guides": "n", "vit": "NoSuchViT", "layouts": 9}
  path.write_text(json.dumps({"areas": areas}))
  return str(path)


def append(path, *lines):
  with open(path, "a", encoding="utf-8", newline="\n") as f: f.write("".join(l + "\n" for l in lines))


def test_log_driver_starts_stops_and_resumes_the_same_instance(tmp_path, replay):
  log, reg = tmp_path / "Client.txt", registry(tmp_path / "areas.json", "ViT_synth")
  log.write_text(gen(SIM_ID, 1) + "\n" + ent("The Synthetic Coast") + "\n")  # old history: ignored
  frames, msgs = ReplaySource(replay), []
  with Client(dead_addr(), timeout_ms=50, retries=0) as c:
    st = Streamer(c, Overlay("nowhere"))
    d = LogDriver(st, LogFollower(log), load_areas(reg), arrival_wait_s=2.0, log=msgs.append)
    assert d.poll(force=True) == [] and st.session is None and not d.streaming
    append(log, gen(SIM_ID, SEED))
    assert d.poll(force=True) == [] and not d.streaming  # loading: not yet arrived
    append(log, ent("The Synthetic Coast"))
    assert d.poll(force=True) == ["start"] and d.streaming and st.area == "synth" and st.instance == (SIM_ID, SEED)
    assert st.overlay.guides.area == "synthetic_coast"
    first = st.session
    for _ in range(3): st.feed(frames.grab())
    canvas = st.canvas
    append(log, gen("1_1_town", 9), ent("Lioneye's Watch"))  # a town portal
    assert d.poll(force=True) == ["stop", "away"] and not d.streaming and st.canvas is None
    assert st.overlay.sel.status == "away" and "Lioneye's Watch: not a registered area" in st.overlay.detail
    append(log, gen(SIM_ID, SEED), ent("The Synthetic Coast"))  # back through the portal: same instance
    assert d.poll(force=True) == ["resume"] and st.session == first and st.canvas is canvas and st.frames == 3
    append(log, gen(SIM_ID, SEED + 1), ent("The Synthetic Coast"))  # a new instance of the same area
    assert d.poll(force=True) == ["stop", "start"] and st.session != first and st.canvas is None
    # a translated client: no "entered" line we can read; the arrival comes arrival_wait_s after loading began
    append(log, gen("1_1_town", 9), gen(SIM_ID, SEED), "2023/11/22 15:27:11 1 ab [INFO Client 204] : Vous êtes entré dans : La Côte.")
    t = time.monotonic()
    assert d.poll(now=t, force=True) == ["stop"]
    assert d.poll(now=t + 1.0, force=True) == [] and d.poll(now=t + 2.5, force=True) == ["resume"] and st.session == first
    # hotkeys override: a manual start restarts the instance from here; a manual stop holds until the next arrival
    d.manual("start")
    assert st.session != first and st.instance == (SIM_ID, SEED) and st.canvas is None
    d.manual("stop")
    assert not d.streaming and st.session is None
    # following began between the two lines: the registered name alone selects the area (no instance to resume)
    append(log, ent("The Synthetic Coast"))
    assert d.poll(force=True) == ["start"] and st.area == "synth" and st.instance is None
    d.follower.close()
  assert any(m.startswith("entered The Synthetic Coast (area sim_1_1_2, seed 4242): streaming") for m in msgs), msgs
  assert any(m.startswith("back in The Synthetic Coast") for m in msgs) and any("entered Lioneye's Watch: not a registered area" in m for m in msgs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  d = tmp_path_factory.mktemp("models")
  unet, vit = random_models(d, "tiny", 3)
  save_checkpoint(ViT(num_classes=5, seed=1), d / "vit5.safetensors")
  reg = registry(d / "areas.json", vit, d / "vit5.safetensors")
  srv = ServerProcess(unet, vit, str(tmp_path_factory.mktemp("data")), ready_wait_s=500, bind=f"tcp://127.0.0.1:{free_port()}",
                      extra=["--areas", reg])
  srv.wait_ready()
  yield srv, reg
  srv.stop()


def _lines(stream, q):
  for line in stream: q.put(line)
  q.put(None)


def test_a_log_line_starts_the_stream_end_to_end(tmp_path, replay, server):
  srv, reg = server
  log = tmp_path / "Client.txt"
  log.write_text(gen(SIM_ID, SEED) + "\n" + ent("The Synthetic Coast") + "\n")  # from an earlier session: must not start anything
  p = subprocess.Popen([sys.executable, "-m", "stream.client", "--server", srv.addr, "--replay", str(replay), "--client-log", str(log),
                        "--areas", reg, "--json", "--no-overlay", "--no-hotkeys", "--fps", "4", "--timeout", "120"],
                       cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
  out, err = queue.Queue(), queue.Queue()
  threading.Thread(target=_lines, args=(p.stdout, out), daemon=True).start()
  threading.Thread(target=_lines, args=(p.stderr, err), daemon=True).start()
  errs = []
  def wait_err(s, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
      try: line = err.get(timeout=0.5)
      except queue.Empty: continue
      if line is None: break
      errs.append(line)
      if s in line: return line
    raise AssertionError(f"no {s!r} from the client: {''.join(errs)}")
  def write(*lines):  # a separate process appends, as the game does
    code = "import sys\nwith open(sys.argv[1], 'a', encoding='utf-8') as f:\n  for l in sys.argv[2:]: f.write(l + '\\n'); f.flush()"
    subprocess.run([sys.executable, "-c", code, str(log), *lines], check=True, timeout=30)
  try:
    wait_err("following")
    time.sleep(1.5)
    assert out.empty(), "streamed before any arrival"
    write(gen(SIM_ID, SEED), ent("The Synthetic Coast"))
    wait_err("entered The Synthetic Coast (area sim_1_1_2, seed 4242): streaming")
    recs = [json.loads(out.get(timeout=120)) for _ in range(3)]
    write(gen("1_1_town", 7), ent("Lioneye's Watch"))
    wait_err("left The Synthetic Coast: stopped")
    wait_err("entered Lioneye's Watch: not a registered area")
    time.sleep(0.3)
    while not out.empty(): recs.append(json.loads(out.get()))  # frames captured before the stop took effect
    n = len(recs)
    time.sleep(1.0)
    assert out.empty(), "streamed in town"
    write(gen(SIM_ID, SEED), ent("The Synthetic Coast"))
    wait_err("back in The Synthetic Coast (seed 4242): continuing session")
    while (line := out.get(timeout=120)) is not None: recs.append(json.loads(line))
    assert p.wait(60) == 0
  finally:
    if p.poll() is None: p.kill(); p.wait()
  while (line := err.get(timeout=10)) is not None: errs.append(line)
  assert [r["frame"] for r in recs] == list(range(N_FRAMES)) and n < N_FRAMES, recs  # one canvas continued across the town trip
  assert len({r["session"] for r in recs}) == 1 and all(r["area"] == "synth" for r in recs)
  assert all(r["status"] in ("ok", "no_features", "pending") for r in recs), [r["status"] for r in recs]
  assert any(r["status"] == "ok" and len(r["probs"]) == 9 for r in recs)
  assert "Traceback" not in "".join(errs) and "ended" in "".join(errs)


def test_one_server_serves_several_areas(server):
  srv, _ = server
  img = np.random.default_rng(0).integers(0, 256, (160, 192, 3), dtype=np.uint8)
  img[::9] = (130, 50, 230)
  with Client(srv.addr, timeout_ms=300_000, retries=0) as c:
    assert c.reset("s-other", area="other")["num_classes"] == 5  # loaded on first use
    r = c.process(img, [64, 64], "s-other", area="other")
    assert r["area"] == "other" and (r["status"] == "no_features" or len(r["probs"]) == 5)
    r = c.process(img, [64, 64], "s-synth", area="synth")
    assert r["status"] == "no_features" or len(r["probs"]) == 9
    assert set(c.ping()["areas"]) >= {"other", "synth"}
    bad = c.process(img, [64, 64], "s-x", area="nowhere")
    assert bad["status"] == "error" and "unknown area 'nowhere'" in bad["reason"]
    assert "has 5 classes, the registry says 9" in c.process(img, [64, 64], "s-w", area="wrong")["reason"]
    assert "no ViT checkpoint at" in c.process(img, [64, 64], "s-a", area="absent")["reason"]
    # a client of protocol 1 gets told why
    c.sock.send_multipart([json.dumps({"v": 1, "type": "ping"}).encode()])
    m = decode(c.sock.recv_multipart())
    assert m.type == "error" and f"protocol version 1, this side speaks {PROTOCOL_VERSION}: run a client and a server of the same poemap version" \
      in m["reason"]

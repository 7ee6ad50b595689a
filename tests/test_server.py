"""End to end over loopback: `python -m stream.server` as a subprocess with small random models,
real clients, bad input of every kind, several clients at once, COLLECT mode and its failures."""
import json
import os
import queue
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import zmq

from models.checkpoint import save_checkpoint
from models.config import build_unet
from models.vit import ViT
from poemap import REPO_ROOT
from poemap.datadir import read_tokens
from poemap.fileio import load_npz_data, load_png
from poemap.usererror import UserError
from stream.comms import PROTOCOL_VERSION, Client, ServerUnreachable, decode, encode
from stream.keys import make_keys
from stream.server import bind
from tests.test_comms import BAD

READY_WAIT_S = 400  # first compile of the kernels on a loaded 2-core machine


def _start_server(args, env_extra=None):
  env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env_extra or {})}
  p = subprocess.Popen([sys.executable, "-m", "stream.server", *args], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
  lines: queue.Queue = queue.Queue()
  threading.Thread(target=lambda: [lines.put(l) for l in p.stdout], daemon=True).start()
  log = []
  while True:
    try: line = lines.get(timeout=READY_WAIT_S)
    except queue.Empty: p.kill(); raise AssertionError(f"server not ready after {READY_WAIT_S}s: {''.join(log)}")
    log.append(line)
    if line.startswith("ready on "): return p, line.split()[2], log
    if p.poll() is not None and lines.empty(): raise AssertionError(f"server exited {p.returncode}: {''.join(log)}")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
  d = tmp_path_factory.mktemp("models")
  save_checkpoint(build_unet("tiny", seed=2), d / "unet.safetensors")
  save_checkpoint(ViT(), d / "vit.safetensors")
  return d


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
  data = tmp_path_factory.mktemp("data")
  p, addr, _ = _start_server(["--bind", "tcp://127.0.0.1:*", "--unet", str(models / "unet.safetensors"), "--vit", str(models / "vit.safetensors"),
                              "--data", str(data), "--max-sessions", "4"], {"COLLECT": "1"})
  yield addr, data
  p.terminate()
  try: p.wait(30)
  except subprocess.TimeoutExpired: p.kill(); p.wait()


def _minimap(h=160, w=192, seed=0):
  img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
  img[::9] = (130, 50, 230)
  return img


@pytest.fixture
def client(server):
  c = Client(server[0], timeout_ms=60000, retries=0)
  yield c
  c.close()


def test_ping(client):
  p = client.ping()
  assert p.type == "pong" and p["ready"] and p["num_classes"] == 9 and p["unet"] == "unet" and p["collect"] and p["incremental"]


def test_process_result_and_collect(client, server):
  img, origin = _minimap(), [80, 96]
  r = client.process(img, origin, "collect-me")
  assert r["status"] == "ok" and r["reason"] == "" and r["session"] == "collect-me"
  assert len(r["probs"]) == 9 and abs(sum(r["probs"]) - 1) < 1e-4 and r["layout_id"] == int(np.argmax(r["probs"]))
  assert r["tiles_computed"] == r["tiles_total"] == 5 * 6 and r["n_tokens"] > 0
  assert set(r["timings"]) == {"decode", "unet", "clean", "tokenize", "vit", "collect", "total"}
  d, ts = server[1] / "train" / "collect", r["collect_ts"]
  np.testing.assert_array_equal(load_png(d / f"{ts}_raw.png"), img)
  assert load_npz_data(d / f"{ts}_origin.npz").tolist() == origin
  mask = load_png(d / f"{ts}_mask.png", grey=True)
  assert mask.shape == img.shape[:2] and set(np.unique(mask)) <= {0, 255}
  assert read_tokens(d / f"{ts}_tokens.npz").shape[0] == r["n_tokens"]
  # the same minimap again: nothing to recompute, same answer, a new never-clobbering sample
  r2 = client.process(img, origin, "collect-me")
  assert r2["tiles_computed"] == 0 and r2["probs"] == r["probs"] and r2["collect_ts"] != ts
  # grown by a tile on top: origin moves, old tiles are reused
  grown = np.concatenate([_minimap(32, 192, seed=9), img])
  r3 = client.process(grown, [112, 96], "collect-me")
  assert r3["status"] == "ok" and r3["tiles_computed"] == 6 and not r3["session_restarted"]
  # a canvas that is not the old one grown (a new area without reset): fresh start, not an error
  r4 = client.process(img[:64], [10, 10], "collect-me")
  assert r4["session_restarted"] and r4["tiles_computed"] == r4["tiles_total"]


def test_no_features_is_a_status_not_a_number(client):
  r = client.process(np.full((1, 1, 3), 200, np.uint8), [0, 0], "tiny")  # one pixel can never survive sparse-pixel cleaning
  assert r["status"] == "no_features" and r["layout_id"] is None and r["probs"] == [] and r["n_tokens"] == 0 and r["reason"]


def test_reset_and_save_frame(client, server):
  client.process(_minimap(64, 64), [0, 0], "r")
  assert client.reset("r")["existed"] is True
  assert client.reset("r")["existed"] is False
  frame = _minimap(50, 70, seed=4)
  a = client.save_frame(frame)
  assert a["request"] == "save_frame" and "collect_error" not in a
  np.testing.assert_array_equal(load_png(server[1] / "background" / "collect" / f"{a['ts']}.png"), frame)
  assert client.save_frame(frame)["ts"] != a["ts"]


def test_collect_failure_is_reported_and_inference_goes_on(client, server):
  d = server[1] / "train" / "collect"
  moved = d.with_name("collect.moved")
  if d.exists(): d.rename(moved)
  d.write_text("a file where the directory should be")  # unwritable even for root
  try:
    r = client.process(_minimap(seed=5), [0, 0], "c2")
    assert r["status"] == "ok" and len(r["probs"]) == 9 and "collect_error" in r and "collect_ts" not in r
  finally:
    d.unlink()
    if moved.exists(): moved.rename(d)
  assert "collect_error" not in client.process(_minimap(seed=5), [0, 0], "c2")


def _raw_request(addr, frames, sock_type=zmq.REQ, timeout_ms=60000):
  ctx = zmq.Context.instance()
  s = ctx.socket(sock_type)
  s.setsockopt(zmq.LINGER, 0)
  s.connect(addr)
  try:
    s.send_multipart(frames)
    assert s.poll(timeout_ms), "no reply to a bad request"
    return s.recv_multipart()
  finally: s.close(0)


@pytest.mark.parametrize("name", [k for k in BAD if k != "empty message"])
def test_bad_requests_get_error_replies(server, name):
  reply = decode(_raw_request(server[0], BAD[name]))
  assert reply.type == "error" and reply["reason"]


def test_more_bad_input_then_good_service(server, client):
  addr = server[0]
  assert decode(_raw_request(addr, [b""])).type == "error"                                    # empty header
  assert decode(_raw_request(addr, encode("pong", ready=True))).type == "error"              # a reply sent as a request
  lying = json.dumps({"v": PROTOCOL_VERSION, "type": "save_frame",
                      "arrays": [{"name": "frame", "dtype": "uint8", "shape": [8192, 8192, 3]}]}).encode()
  assert "bytes" in decode(_raw_request(addr, [lying, b"tiny"]))["reason"]                   # a huge shape, a tiny frame
  # a DEALER without the empty delimiter frame still gets its answer
  d = _raw_request(addr, [b"\x00garbage\xff"], zmq.DEALER)
  assert decode(d[-1:]).type == "error"
  # a raw TCP peer speaking no ZeroMQ at all
  host, port = addr[len("tcp://"):].rsplit(":", 1)
  with socket.create_connection((host, int(port)), timeout=10) as raw: raw.sendall(os.urandom(4096))
  # nonsense images are still images: an answer, not a crash
  for img in (np.zeros((8192, 1, 3), np.uint8), np.full((33, 65, 3), 255, np.uint8)):
    assert client.process(img, [0, 0], "nonsense")["status"] in ("ok", "no_features")
  assert client.ping()["ready"]


def test_client_that_disconnects_mid_request(server, client):
  for _ in range(3):
    c = Client(server[0], timeout_ms=60000)
    c.send_process(_minimap(640, 640, seed=7), [300, 300], "gone")
    c.close()  # before the reply: the server's answer has nowhere to go
  assert client.ping()["ready"]
  assert client.process(_minimap(64, 96), [1, 1], "after")["status"] in ("ok", "no_features")


def test_several_clients_at_once(server):
  imgs = {f"s{i}": _minimap(96 + 32 * i, 128, seed=20 + i) for i in range(4)}
  got, errors = {}, []
  def work(sid):
    try:
      with Client(server[0], timeout_ms=120000, retries=0) as c: got[sid] = [c.process(imgs[sid], [0, 0], sid) for _ in range(2)]
    except Exception as e: errors.append(e)
  ts = [threading.Thread(target=work, args=(sid,)) for sid in imgs]
  for t in ts: t.start()
  for t in ts: t.join(300)
  assert not errors and set(got) == set(imgs)
  with Client(server[0], timeout_ms=60000) as c:
    for sid, (r1, r2) in got.items():
      assert r1["session"] == r2["session"] == sid and r2["tiles_computed"] == 0
      alone = c.process(imgs[sid], [0, 0], sid + "-alone")  # the same request alone gives the same answer
      assert alone["probs"] == r1["probs"] and alone["n_tokens"] == r1["n_tokens"]


def test_session_limit_evicts_oldest(client):
  img = _minimap(64, 64)
  for i in range(6): client.process(img, [0, 0], f"lru{i}")
  assert client.ping()["sessions"] <= 4
  assert client.reset("lru0")["existed"] is False and client.reset("lru5")["existed"] is True


def test_refuses_public_bind_without_keys_and_missing_weights(tmp_path):
  env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
  r = subprocess.run([sys.executable, "-m", "stream.server", "--data", str(tmp_path)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                     timeout=120)
  assert r.returncode == 2 and "no UNet weights" in r.stderr and "Traceback" not in r.stderr
  with pytest.raises(UserError, match="refusing"): bind(zmq.Context.instance(), "tcp://0.0.0.0:0")


def test_curve_keys(tmp_path):
  keys = tmp_path / "keys"
  make_keys(keys)
  assert (keys / "server.key_secret").stat().st_mode & 0o077 == 0
  with pytest.raises(UserError, match="already exist"): make_keys(keys)
  ctx = zmq.Context()
  sock, auth = bind(ctx, "tcp://127.0.0.1:*", keys)
  addr = sock.getsockopt_string(zmq.LAST_ENDPOINT)
  stop = threading.Event()
  def answer():
    while not stop.is_set():
      if sock.poll(50):
        f = sock.recv_multipart()
        sock.send_multipart(f[:2] + encode("pong", ready=True))
  t = threading.Thread(target=answer, daemon=True); t.start()
  try:
    with Client(addr, timeout_ms=5000, curve_keys=keys) as c: assert c.ping()["ready"]
    with Client(addr, timeout_ms=500, retries=0) as c:  # no keys: the handshake fails, no reply ever
      with pytest.raises(ServerUnreachable): c.ping()
  finally:
    stop.set(); t.join(5); sock.close(0); auth.stop(); ctx.term()

"""The wire protocol: round trips, every validation rule, and the Lazy Pirate client against real
loopback sockets (a tiny echo ROUTER stands in for the server so these tests need no models)."""
import json
import threading

import numpy as np
import pytest
import zmq
from hypothesis import given, settings, strategies as st

from stream.comms import (MAX_SIDE, PROTOCOL_VERSION, Client, ProtocolError, ServerError, ServerUnreachable,
                          decode, encode, is_loopback)


def _minimap(h=64, w=96, seed=0): return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)

def _header(frames): return json.loads(frames[0])

def _with_header(frames, **changes):
  h = _header(frames)
  h.update(changes)
  return [json.dumps(h).encode(), *frames[1:]]


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 80), w=st.integers(1, 80), data=st.data())
def test_process_roundtrip(h, w, data):
  y, x = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
  img = np.random.default_rng(h * 100 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
  m = decode(encode("process_minimap", {"minimap": img, "origin": np.array([y, x], dtype=np.int32)}, session="s1", extra=[1, 2]))
  assert m.type == "process_minimap" and m["session"] == "s1" and m["extra"] == [1, 2]
  np.testing.assert_array_equal(m["minimap"], img)
  assert m["origin"].dtype == np.int32 and m["origin"].tolist() == [y, x]


def test_non_native_and_noncontiguous_arrays_encode_by_value():
  img = _minimap()[:, ::2]  # a strided view
  m = decode(encode("process_minimap", {"minimap": img, "origin": np.array([1, 2], dtype=">i8")}, session="s"))
  np.testing.assert_array_equal(m["minimap"], img)
  assert m["origin"].tolist() == [1, 2]


def test_replies_roundtrip():
  r = decode(encode("result", status="no_features", probs=[], layout_id=None, timings={"unet": 1.5}))
  assert r.type == "result" and r["status"] == "no_features" and r["layout_id"] is None and r.get("missing", 7) == 7
  assert decode(encode("error", reason="bad")).fields == {"reason": "bad"}
  assert decode(encode("pong", ready=True, num_classes=9))["num_classes"] == 9


GOOD = encode("process_minimap", {"minimap": _minimap(), "origin": np.array([5, 6])}, session="s")

BAD = {
  "empty message": [],
  "not JSON": [b"\xff\xfe garbage"],
  "JSON list": [b"[1, 2]"],
  "old version": _with_header(GOOD, v=PROTOCOL_VERSION + 99),
  "unknown type": _with_header(GOOD, type="format_disk"),
  "missing frame": GOOD[:-1],
  "extra frame": GOOD + [b"x"],
  "lying shape": _with_header(GOOD, arrays=[{"name": "minimap", "dtype": "uint8", "shape": [65, 96, 3]}, _header(GOOD)["arrays"][1]]),
  "huge shape": _with_header(GOOD, arrays=[{"name": "minimap", "dtype": "uint8", "shape": [MAX_SIDE + 1, 10**9, 3]}, _header(GOOD)["arrays"][1]]),
  "negative shape": _with_header(GOOD, arrays=[{"name": "minimap", "dtype": "uint8", "shape": [-64, -96, 3]}, _header(GOOD)["arrays"][1]]),
  "float shape": _with_header(GOOD, arrays=[{"name": "minimap", "dtype": "uint8", "shape": [64.0, 96, 3]}, _header(GOOD)["arrays"][1]]),
  "wrong dtype": _with_header(GOOD, arrays=[{"name": "minimap", "dtype": "float32", "shape": [64, 96, 3]}, _header(GOOD)["arrays"][1]]),
  "unknown dtype": _with_header(GOOD, arrays=[{"name": "minimap", "dtype": "object", "shape": [64, 96, 3]}, _header(GOOD)["arrays"][1]]),
  "wrong ndim": [_with_header(GOOD, arrays=[{"name": "minimap", "dtype": "uint8", "shape": [64 * 96 * 3]}, _header(GOOD)["arrays"][1]])[0],
                 *GOOD[1:]],
  "four channels": _with_header(GOOD, arrays=[{"name": "minimap", "dtype": "uint8", "shape": [48, 96, 4]}, _header(GOOD)["arrays"][1]]),
  "renamed array": _with_header(GOOD, arrays=[{"name": "picture", "dtype": "uint8", "shape": [64, 96, 3]}, _header(GOOD)["arrays"][1]]),
  "duplicate array": _with_header(GOOD, arrays=[_header(GOOD)["arrays"][0], _header(GOOD)["arrays"][0]]),
  "missing array": [_with_header(GOOD, arrays=[_header(GOOD)["arrays"][0]])[0], GOOD[1]],
  "no session": [json.dumps({k: v for k, v in _header(GOOD).items() if k != "session"}).encode(), *GOOD[1:]],
  "numeric session": _with_header(GOOD, session=5),
  "long session": _with_header(GOOD, session="x" * 1000),
  "origin outside": encode("process_minimap", {"minimap": _minimap(), "origin": np.array([5, 6])},
                           session="s")[:2] + [np.array([64, 0], dtype="<i8").tobytes()],
  "negative origin": GOOD[:2] + [np.array([-1, 0], dtype="<i8").tobytes()],
  "huge header": [b'{"pad": "' + b"a" * 70000 + b'"}'],
  "arrays not list": _with_header(encode("ping"), arrays={"a": 1}),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_messages_are_rejected_with_a_reason(name):
  with pytest.raises(ProtocolError) as e: decode(BAD[name])
  assert str(e.value)


def test_encode_refuses_what_decode_would_refuse():
  with pytest.raises(ProtocolError, match="outside"): encode("process_minimap", {"minimap": _minimap(), "origin": [64, 0]}, session="s")
  with pytest.raises(ProtocolError, match="dtype"): encode("save_frame", {"frame": np.zeros((4, 4, 3), np.float64)})
  with pytest.raises(ProtocolError, match="reserved"): encode("ping", type="x")
  with pytest.raises(ProtocolError, match="JSON"): encode("ping", x=float("nan"))
  with pytest.raises(ProtocolError, match="status"): encode("result", status="maybe", probs=[])
  with pytest.raises(ProtocolError, match="unknown"): encode("nope")


def test_is_loopback():
  for a in ("tcp://127.0.0.1:50000", "tcp://localhost:1", "tcp://[::1]:5", "tcp://127.1.2.3:*", "ipc:///tmp/x", "inproc://a"):
    assert is_loopback(a), a
  for a in ("tcp://0.0.0.0:50000", "tcp://*:50000", "tcp://192.168.1.2:1", "tcp://eth0:5", "tcp://127.0.0.1.evil.com:5"): assert not is_loopback(a), a


class Echo:
  """A minimal ROUTER peer: answers pings with pong, drops the first `drop` requests, echoes
  process requests as results carrying the minimap sum. Runs until stopped; bounded polls."""
  def __init__(self, drop=0):
    self.ctx = zmq.Context()
    self.sock = self.ctx.socket(zmq.ROUTER)
    self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
    self.addr, self.drop, self.seen = f"tcp://127.0.0.1:{self.port}", drop, 0
    self.stop = threading.Event()
    self.t = threading.Thread(target=self.loop, daemon=True)
    self.t.start()

  def loop(self):
    while not self.stop.is_set():
      if not self.sock.poll(20): continue
      env_and_body = self.sock.recv_multipart()
      i = env_and_body.index(b"")
      env, body = env_and_body[:i + 1], env_and_body[i + 1:]
      self.seen += 1
      if self.seen <= self.drop: continue
      try: m = decode(body)
      except ProtocolError as e: self.sock.send_multipart(env + encode("error", reason=str(e))); continue
      if m.type == "ping": reply = encode("pong", ready=True)
      elif m.type == "process_minimap": reply = encode("result", status="ok", probs=[1.0], layout_id=int(m["minimap"].sum()) % 9,
                                                       session=m["session"])
      else: reply = encode("error", reason=f"echo does not do {m.type}")
      self.sock.send_multipart(env + reply)

  def close(self):
    self.stop.set(); self.t.join(5); self.sock.close(0); self.ctx.term()


@pytest.fixture
def echo():
  e = Echo(); yield e; e.close()


def test_client_blocking_calls(echo):
  with Client(echo.addr, timeout_ms=2000) as c:
    assert c.ping()["ready"] is True
    img = _minimap(32, 32, seed=3)
    r = c.process(img, [0, 0], "abc")
    assert r.type == "result" and r["layout_id"] == int(img.sum()) % 9 and r["session"] == "abc"
    with pytest.raises(ServerError, match="echo does not do"): c.reset("abc")
    assert c.ping().type == "pong"  # still usable after an error reply


def test_client_nonblocking_never_blocks_and_delivers(echo):
  with Client(echo.addr, timeout_ms=2000) as c:
    c.send_process(_minimap(), [1, 1], "s")
    assert c.busy
    with pytest.raises(RuntimeError, match="in flight"): c.send_process(_minimap(), [1, 1], "s")
    got = None
    for _ in range(500):  # a capture loop: poll without waiting, do other work
      got = c.poll_reply(0)
      if got is not None: break
      c.sock.poll(10)  # stand-in for a frame's worth of capture work
    assert got is not None and got.type == "result" and not c.busy


def test_lazy_pirate_resends_after_a_lost_reply():
  e = Echo(drop=1)
  try:
    with Client(e.addr, timeout_ms=300, retries=2) as c:
      assert c.ping().type == "pong"
      assert e.seen == 2
  finally: e.close()


def test_unreachable_server_raises_then_client_recovers():
  ctx = zmq.Context.instance()
  s = ctx.socket(zmq.ROUTER)
  port = s.bind_to_random_port("tcp://127.0.0.1")
  s.close(0)  # nothing listens on this port now
  c = Client(f"tcp://127.0.0.1:{port}", timeout_ms=150, retries=1)
  with pytest.raises(ServerUnreachable, match="2 tries"): c.ping()
  assert not c.busy
  c.send_process(_minimap(), [0, 0], "s")
  assert c.poll_reply(0) is None  # not-yet is None, not an exception
  with pytest.raises(ServerUnreachable): c.poll_reply(None)
  c.close()


def test_client_rejects_a_bad_reply():
  ctx = zmq.Context.instance()
  s = ctx.socket(zmq.ROUTER)
  port = s.bind_to_random_port("tcp://127.0.0.1")
  c = Client(f"tcp://127.0.0.1:{port}", timeout_ms=2000)
  c.send(encode("ping"))
  assert s.poll(2000)
  env = s.recv_multipart()[:2]
  s.send_multipart(env + [b"not json"])
  with pytest.raises(ProtocolError, match="JSON"): c.poll_reply(None)
  c.send(encode("ping"))  # the client is free again
  assert s.poll(2000)
  env = s.recv_multipart()[:2]
  s.send_multipart(env + encode("ping"))  # a request is not a reply
  with pytest.raises(ProtocolError, match="not a reply"): c.poll_reply(None)
  c.close(); s.close(0)

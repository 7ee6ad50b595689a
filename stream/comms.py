"""The wire protocol between the capture client and the inference server (docs/PROTOCOL.md).

A message is a ZeroMQ multipart message: frame 0 is a UTF-8 JSON object
`{"v": PROTOCOL_VERSION, "type": ..., "arrays": [{"name", "dtype", "shape"}, ...], **fields}`,
then one raw little-endian C-order frame per declared array, in the declared order. Nothing is
ever unpickled: a message is either fully valid by the rules below or a ProtocolError with a reason.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zmq
import zmq.auth

PROTOCOL_VERSION = 2  # 2: requests may name their area (poemap.areas registry key)
DEFAULT_ADDR = "tcp://127.0.0.1:50000"
MAX_SIDE = 8192            # per array dimension: a 4K canvas at ½ scale is far below this
MAX_HEADER_BYTES = 64 * 1024
MAX_SESSION_CHARS = 128
AREA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # as poemap.areas.KEY
STATUSES = ("ok", "no_features", "error")

DTYPES: dict[str, np.dtype] = {"uint8": np.dtype("u1"), "int32": np.dtype("<i4"), "int64": np.dtype("<i8"), "float32": np.dtype("<f4")}


@dataclass(frozen=True)
class ArraySpec:
  dtypes: tuple[str, ...]
  shape: tuple[int | None, ...]  # None: any size in 1..MAX_SIDE


_IMAGE = ArraySpec(("uint8",), (None, None, 3))
# request and reply types -> the arrays they carry (exactly these, in any order)
ARRAYS: dict[str, dict[str, ArraySpec]] = {
  "process_minimap": {"minimap": _IMAGE, "origin": ArraySpec(("int64", "int32"), (2,))},
  "save_frame": {"frame": _IMAGE},
  "reset_session": {}, "ping": {},
  "result": {}, "ack": {}, "error": {}, "pong": {},
}
REPLIES = ("result", "ack", "error", "pong")
# scalar fields that must be present, with their JSON type
REQUIRED: dict[str, dict[str, type]] = {
  "process_minimap": {"session": str}, "reset_session": {"session": str},
  "result": {"status": str, "probs": list}, "error": {"reason": str},
}
_RESERVED = ("v", "type", "arrays")


class ProtocolError(ValueError):
  """A message that breaks the protocol; str(e) is the reason sent back to the peer."""

class ServerUnreachable(ConnectionError):
  """No reply after every retry (the server is down, busy for too long, or the address is wrong)."""

class ServerError(RuntimeError):
  """The server answered with an `error` reply; str(e) is its reason."""


@dataclass
class Message:
  type: str
  fields: dict[str, Any] = field(default_factory=dict)
  arrays: dict[str, np.ndarray] = field(default_factory=dict)

  def __getitem__(self, key: str) -> Any: return self.arrays[key] if key in self.arrays else self.fields[key]
  def __contains__(self, key: str) -> bool: return key in self.arrays or key in self.fields
  def get(self, key: str, default: Any = None) -> Any: return self.arrays.get(key, self.fields.get(key, default))


def _check_array(mtype: str, name: str, dtype: str, shape: tuple[int, ...]) -> None:
  spec = ARRAYS[mtype].get(name)
  if spec is None: raise ProtocolError(f"{mtype}: unexpected array {name!r} (wants {sorted(ARRAYS[mtype])})")
  if dtype not in spec.dtypes: raise ProtocolError(f"{mtype}: array {name!r} has dtype {dtype}, wants one of {list(spec.dtypes)}")
  if len(shape) != len(spec.shape): raise ProtocolError(f"{mtype}: array {name!r} has {len(shape)} dims {list(shape)}, wants {len(spec.shape)}")
  for i, (s, want) in enumerate(zip(shape, spec.shape)):
    if want is None and not 1 <= s <= MAX_SIDE: raise ProtocolError(f"{mtype}: array {name!r} dim {i} is {s}, must be in 1..{MAX_SIDE}")
    if want is not None and s != want: raise ProtocolError(f"{mtype}: array {name!r} dim {i} is {s}, must be {want}")


def _check_fields(mtype: str, fields: dict[str, Any]) -> None:
  for k, t in REQUIRED.get(mtype, {}).items():
    if not isinstance(fields.get(k), t): raise ProtocolError(f"{mtype}: field {k!r} must be a {t.__name__}, got {type(fields.get(k)).__name__}")
  if "session" in fields and (not isinstance(fields["session"], str) or not 1 <= len(fields["session"]) <= MAX_SESSION_CHARS):
    raise ProtocolError(f"{mtype}: session must be a string of 1..{MAX_SESSION_CHARS} characters")
  if "area" in fields and (not isinstance(fields["area"], str) or not AREA_KEY.match(fields["area"])):
    raise ProtocolError(f"{mtype}: area must be a registry key of 1..64 letters, digits, '_', '-', '.'")
  if mtype == "result" and fields["status"] not in STATUSES: raise ProtocolError(f"result: status {fields['status']!r} not in {STATUSES}")


def _check_message(m: Message) -> None:
  missing = set(ARRAYS[m.type]) - set(m.arrays)
  if missing: raise ProtocolError(f"{m.type}: missing arrays {sorted(missing)}")
  _check_fields(m.type, m.fields)
  if m.type == "process_minimap":
    h, w = m.arrays["minimap"].shape[:2]
    y, x = (int(v) for v in m.arrays["origin"])
    if not (0 <= y < h and 0 <= x < w): raise ProtocolError(f"process_minimap: origin [{y}, {x}] outside the {h}x{w} minimap")


def encode(msg_type: str, arrays: dict[str, np.ndarray] | None = None, **fields: Any) -> list[bytes]:
  """Frames of one message; raises ProtocolError when the message would not decode."""
  if msg_type not in ARRAYS: raise ProtocolError(f"unknown message type {msg_type!r}")
  bad = [k for k in fields if k in _RESERVED]
  if bad: raise ProtocolError(f"field names {bad} are reserved")
  header: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": msg_type, "arrays": []}
  payload = []
  for name, a in (arrays or {}).items():
    a = np.asarray(a)
    dname = next((n for n, d in DTYPES.items() if d == a.dtype.newbyteorder("<") or d == a.dtype), None)
    if dname is None: raise ProtocolError(f"{msg_type}: array {name!r} has unsupported dtype {a.dtype}")
    _check_array(msg_type, name, dname, a.shape)
    header["arrays"].append({"name": name, "dtype": dname, "shape": list(a.shape)})
    payload.append(np.ascontiguousarray(a, dtype=DTYPES[dname]).tobytes())
  header.update(fields)
  try: head = json.dumps(header, allow_nan=False).encode()
  except (TypeError, ValueError) as e: raise ProtocolError(f"{msg_type}: fields are not plain JSON: {e}") from None
  frames = [head, *payload]
  decode(frames)  # one set of rules for both directions
  return frames


def decode(frames: Sequence[bytes | memoryview | zmq.Frame]) -> Message:
  """The Message in `frames`, or ProtocolError saying exactly what is wrong."""
  if not frames: raise ProtocolError("empty message")
  head = bytes(frames[0].buffer if isinstance(frames[0], zmq.Frame) else frames[0])
  if len(head) > MAX_HEADER_BYTES: raise ProtocolError(f"header is {len(head)} bytes, limit {MAX_HEADER_BYTES}")
  try: header = json.loads(head.decode("utf-8"))
  except (UnicodeDecodeError, ValueError): raise ProtocolError("header frame is not UTF-8 JSON") from None
  if not isinstance(header, dict): raise ProtocolError("header must be a JSON object")
  if header.get("v") != PROTOCOL_VERSION:
    raise ProtocolError(f"protocol version {header.get('v')!r}, this side speaks {PROTOCOL_VERSION}: "
                        "run a client and a server of the same poemap version")
  mtype = header.get("type")
  if not isinstance(mtype, str) or mtype not in ARRAYS: raise ProtocolError(f"unknown message type {mtype!r} (known: {list(ARRAYS)})")
  decl = header.get("arrays", [])
  if not isinstance(decl, list): raise ProtocolError(f"{mtype}: 'arrays' must be a list")
  if len(frames) != 1 + len(decl): raise ProtocolError(f"{mtype}: header declares {len(decl)} arrays but {len(frames) - 1} array frames arrived")
  arrays: dict[str, np.ndarray] = {}
  for d, raw in zip(decl, frames[1:]):
    if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not isinstance(d.get("dtype"), str) or not isinstance(d.get("shape"), list):
      raise ProtocolError(f"{mtype}: each array needs a string name, a string dtype and a shape list")
    name, dtype, shape = d["name"], d["dtype"], d["shape"]
    if name in arrays: raise ProtocolError(f"{mtype}: array {name!r} declared twice")
    if not all(type(s) is int for s in shape): raise ProtocolError(f"{mtype}: array {name!r} shape must be integers, got {shape}")
    _check_array(mtype, name, dtype, tuple(shape))
    buf = raw.buffer if isinstance(raw, zmq.Frame) else raw
    want = math.prod(shape) * DTYPES[dtype].itemsize
    if (got := len(memoryview(buf).cast("B"))) != want:
      raise ProtocolError(f"{mtype}: array {name!r} frame has {got} bytes, shape {shape} {dtype} needs {want}")
    arrays[name] = np.frombuffer(buf, dtype=DTYPES[dtype]).reshape(shape)
  m = Message(mtype, {k: v for k, v in header.items() if k not in _RESERVED}, arrays)
  _check_message(m)
  return m


def is_loopback(addr: str) -> bool:
  """True for endpoints no other machine can reach: inproc, ipc, tcp on 127.0.0.0/8, ::1, localhost."""
  if addr.startswith(("inproc://", "ipc://")): return True
  if not addr.startswith("tcp://"): return False
  host = addr[len("tcp://"):].rsplit(":", 1)[0].strip("[]")
  return host in ("localhost", "::1") or (host.startswith("127.") and all(p.isdigit() for p in host.split(".")) and host.count(".") == 3)


def curve_client_keys(keys_dir: str | Path) -> tuple[bytes, bytes, bytes]:
  """(client public, client secret, server public) from a directory made by `python -m stream.keys`."""
  d = Path(keys_dir)
  for f in ("client.key_secret", "server.key"):
    if not (d / f).is_file(): raise FileNotFoundError(f"{d / f} missing: make keys with `python -m stream.keys {d}`")
  pub, sec = zmq.auth.load_certificate(d / "client.key_secret")
  if sec is None: raise ValueError(f"{d / 'client.key_secret'} holds no secret key: make keys with `python -m stream.keys {d}`")
  spub, _ = zmq.auth.load_certificate(d / "server.key")
  return pub, sec, spub


class Client:
  """Request/reply with the server that never hangs: the Lazy Pirate pattern (REQ socket, poll with
  a timeout, on timeout close and reopen the socket and resend, give up after `retries` resends).

  Blocking: ping(), process(), save_frame(), reset(). Non-blocking, for a capture loop:
  send_process() then poll_reply(0) each frame until it returns a Message (`busy` is True meanwhile).
  A resent request may be processed twice by the server; every request type tolerates that."""

  def __init__(self, addr: str = DEFAULT_ADDR, timeout_ms: int = 5000, retries: int = 2, curve_keys: str | Path | None = None,
               ctx: zmq.Context | None = None):
    self.addr, self.timeout_ms, self.retries = addr, int(timeout_ms), int(retries)
    self.curve = curve_client_keys(curve_keys) if curve_keys is not None else None
    self.ctx = ctx or zmq.Context.instance()
    self._pending: list[bytes] | None = None
    self._deadline, self._tries = 0.0, 0
    self.sock: zmq.Socket | None = None
    self._open()

  def _open(self) -> None:
    self.sock = self.ctx.socket(zmq.REQ)
    self.sock.setsockopt(zmq.LINGER, 0)
    if self.curve is not None:
      self.sock.curve_publickey, self.sock.curve_secretkey, self.sock.curve_serverkey = self.curve
    self.sock.connect(self.addr)

  def _reopen(self) -> None:
    # a REQ socket that missed its reply is stuck in the "expect reply" state: only a new socket recovers
    if self.sock is not None: self.sock.close(linger=0)
    self._open()

  def _live(self) -> zmq.Socket:
    if self.sock is None: raise RuntimeError("client is closed")
    return self.sock

  @property
  def busy(self) -> bool: return self._pending is not None

  def send(self, frames: list[bytes]) -> None:
    if self._pending is not None: raise RuntimeError("a request is already in flight: poll_reply() until it returns first")
    self._live().send_multipart(frames)
    self._pending, self._tries, self._deadline = frames, 0, time.monotonic() + self.timeout_ms / 1000

  def poll_reply(self, timeout_ms: float | None = 0) -> Message | None:
    """The reply to the request in flight, or None if it has not come within timeout_ms (None: wait
    through every retry). Resends on a fresh socket when a try times out; raises ServerUnreachable
    after the last one (the client is then ready for a new request), ProtocolError on a bad reply."""
    if self._pending is None: raise RuntimeError("no request in flight")
    end = math.inf if timeout_ms is None else time.monotonic() + timeout_ms / 1000
    while True:
      now = time.monotonic()
      wait = max(0.0, min(end, self._deadline) - now)
      if self._live().poll(int(math.ceil(wait * 1000)), zmq.POLLIN):
        frames = self._live().recv_multipart()
        self._pending = None
        m = decode(frames)
        if m.type not in REPLIES: raise ProtocolError(f"server sent a {m.type!r}, not a reply")
        return m
      now = time.monotonic()
      if now >= self._deadline:
        self._reopen()
        self._tries += 1
        if self._tries > self.retries:
          self._pending = None
          raise ServerUnreachable(f"no reply from {self.addr} after {self.retries + 1} tries of {self.timeout_ms} ms")
        self._live().send_multipart(self._pending)
        self._deadline = time.monotonic() + self.timeout_ms / 1000
      elif now >= end: return None

  def request(self, frames: list[bytes]) -> Message:
    self.send(frames)
    m = self.poll_reply(None)
    assert m is not None
    if m.type == "error": raise ServerError(m.fields.get("reason", "unknown error"))
    return m

  def send_process(self, minimap: np.ndarray, origin, session: str, **fields: Any) -> None:
    self.send(encode("process_minimap", {"minimap": minimap, "origin": np.asarray(origin, dtype=np.int64).reshape(-1)}, session=session, **fields))

  def ping(self) -> Message: return self.request(encode("ping"))
  def process(self, minimap: np.ndarray, origin, session: str, **fields: Any) -> Message:
    self.send_process(minimap, origin, session, **fields)
    m = self.poll_reply(None)
    assert m is not None
    if m.type == "error": raise ServerError(m.fields.get("reason", "unknown error"))
    return m
  def save_frame(self, frame: np.ndarray) -> Message: return self.request(encode("save_frame", {"frame": frame}))
  def reset(self, session: str, area: str | None = None) -> Message:
    return self.request(encode("reset_session", None, session=session, **({"area": area} if area is not None else {})))

  def close(self) -> None:
    if self.sock is not None: self.sock.close(linger=0)
    self.sock, self._pending = None, None

  def __enter__(self) -> Client: return self
  def __exit__(self, *a) -> None: self.close()

"""The inference server: minimap -> UNet line mask -> cleaning -> tokens -> ViT -> layout probabilities.

`python -m stream.server` binds a ZeroMQ ROUTER on tcp://127.0.0.1:50000 (docs/PROTOCOL.md), warms
the models up, prints "ready on <addr>" and answers every request with exactly one reply. One
thread does all the work: requests from several clients queue in the ROUTER and are served in turn.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zmq
import zmq.auth
from tinygrad import Device
from tinygrad.helpers import DEV, Context
from zmq.auth.thread import ThreadAuthenticator

from models.checkpoint import load_unet, load_vit, unet_input_path
from models.tiled import TiledUNet, ViTRunner
from poemap.areas import load_areas
from poemap.contract import PUBLISHED_UNET, PUBLISHED_VIT
from poemap.datadir import COLLECT_SUFFIXES, data_root, model_path, write_collect_sample
from poemap.fidelity import BUNDLED, DESCRIBE, INPUT_PATHS, PUBLISHED
from poemap.fileio import save_png, unique_stamp
from poemap.tiles import grid
from poemap.tokens import tokenize_mask
from poemap.usererror import UserError, run_main
from stream.comms import DEFAULT_ADDR, MAX_HEADER_BYTES, MAX_SIDE, PROTOCOL_VERSION, Message, ProtocolError, decode, encode, is_loopback
from stream.session import Sessions, alignment, update_clean, update_fused, update_mask, update_tokens

# the published models (get_data.py --models-only) for the real Coast when present, else the bundled synthetic-Coast ones
DEFAULT_UNET, DEFAULT_VIT = "UNet_synth", "ViT_synth"


def find_model(name_or_path: str | None, candidates: tuple[str, ...], kind: str, root: str | os.PathLike | None = None) -> Path:
  """The checkpoint to load: the one named, else the first candidate present under <data>/model/."""
  if name_or_path is not None:
    p = model_path(name_or_path, root)
    if not p.is_file(): raise UserError(f"no {kind} checkpoint at {p}")
    return p
  for c in candidates:
    p = model_path(c, root)
    if p.is_file(): return p
  raise UserError(f"no {kind} weights: looked for {', '.join(str(model_path(c, root)) for c in candidates)}. "
                  f"Train one (train_unet.py / train_vit.py), download the published ones (python get_data.py), or pass --{kind.lower()} PATH")


def pick_models(unet: str | None, vit: str | None, root: str | os.PathLike | None = None) -> tuple[Path, Path, str]:
  """(UNet path, ViT path, area key or "custom"): the ones named, else the ViT of the first area in the
  registry (poemap.areas: the real Coast before the synthetic one) whose checkpoint is in <data>/model/,
  and the published UNet when present, else the bundled one. So a player who downloaded the published
  models gets them, and never the synthetic ones by accident."""
  areas = load_areas(root=root)
  area = next((a for a in areas.areas.values() if a.vit_path(root).is_file()), None) if vit is None else None
  u = find_model(unet, (PUBLISHED_UNET, DEFAULT_UNET), "UNet", root)
  v = find_model(vit, (area.vit,) if area else tuple(a.vit for a in areas.areas.values()), "ViT", root)
  return u, v, area.key if area else "custom"


class AreaError(ValueError):
  """A request names an area this server cannot serve (not registered, no checkpoint); str(e) is the reason."""


class InferenceServer:
  """The request handler. handle() turns request frames into reply frames and never raises.

  Several areas: a request may name its area (a poemap.areas registry key); that area's ViT is loaded
  on first use (its reset_session, else its first minimap) and kept; the UNet is shared. A request
  naming no area gets the ViT the server was started with."""

  def __init__(self, unet_model, vit_model, *, incremental: bool = True, collect: bool = False, data: str | os.PathLike | None = None,
               max_sessions: int = 16, unet_batch: int = 32, names: tuple[str, str] = ("unet", "vit"), input_path: str = BUNDLED,
               models: str = "custom", areas=None, vit_path: str | os.PathLike | None = None, beam: int = 0, fuse: bool = False):
    if input_path not in INPUT_PATHS: raise ValueError(f"input_path must be one of {INPUT_PATHS}, got {input_path!r}")
    self.input_path, self.models = input_path, models
    # the published UNet's input: raw black padding and the statistics of every padded minimap (poemap.fidelity)
    self.unet, self.vit = TiledUNet(unet_model, batch=unet_batch, input_path=input_path), ViTRunner(vit_model, batch=1)
    self.num_classes = int(vit_model.config["num_classes"]) if hasattr(vit_model, "config") else None
    self.incremental, self.collect, self.names, self.beam, self.fuse = incremental, collect, names, beam, fuse
    self.root = data_root(data)
    self.sessions = Sessions(max_sessions)
    self.ready = False
    self.areas, self.vit_path = areas, Path(vit_path) if vit_path is not None else None
    self.area_vits: dict[str, object] = {}  # area key -> ViTRunner, loaded on first use

  def vit_for(self, key: str | None):
    """The ViT runner for an area key (None: the default one); AreaError when it can't be served."""
    if key is None: return self.vit
    if key in self.area_vits: return self.area_vits[key]
    if self.areas is None or key not in self.areas:
      raise AreaError(f"unknown area {key!r}: this server's registry has {sorted(self.areas.areas) if self.areas is not None else 'none'}")
    a = self.areas[key]
    p = a.vit_path(self.root)
    if self.vit_path is not None and p.resolve() == self.vit_path.resolve(): runner = self.vit
    else:
      if not p.is_file(): raise AreaError(f"area {key!r}: no ViT checkpoint at {p} (python get_data.py --models-only, or train one)")
      try: model = load_vit(p)
      except (OSError, ValueError) as e: raise AreaError(f"area {key!r}: cannot load {p}: {e}") from None
      n = int(model.config["num_classes"]) if hasattr(model, "config") else a.layouts
      if n != a.layouts: raise AreaError(f"area {key!r}: {p.name} has {n} classes, the registry says {a.layouts} layouts")
      runner = ViTRunner(model, batch=1)
      self._warm_vit(runner)  # its kernels (and any BEAM search) now, on the area's first request, not on every one
      print(f"area {key}: loaded {p}", flush=True)
    self.area_vits[key] = runner
    return runner

  def warmup(self) -> None:
    """Compile every kernel before the first real request: TinyJit captures on the second call, and the
    captured kernels are all the hot path runs (fixed shapes), so a BEAM search happens here or never.
    tinygrad keeps searched kernels in its cache (~/.cache/tinygrad/cache.db): only the first start searches."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    img[40:44, :] = (130, 60, 220)  # a line-coloured stripe so cleaning and tokens have work too
    coords = np.argwhere(np.ones(grid(96, 96), bool))
    with Context(BEAM=self.beam):
      for _ in range(3): self.unet.tiles(img, coords)
    self._warm_vit(self.vit)
    self.ready = True

  def _warm_vit(self, runner) -> None:
    tok = tokenize_mask(np.pad(np.ones((40, 40), np.uint8), 28), [48, 48])
    with Context(BEAM=self.beam):
      for _ in range(3): runner.probs([tok])

  # ---- requests

  def handle(self, frames: list) -> list[bytes]:
    t0 = time.perf_counter()
    try: m = decode(frames)
    except ProtocolError as e: return encode("error", reason=str(e))
    try:
      if m.type == "ping": return self.pong()
      if m.type == "reset_session":
        area = {"area": m["area"], "num_classes": int(self.vit_for(m["area"]).model.config["num_classes"])} if "area" in m else {}
        return encode("ack", request="reset_session", session=m["session"], existed=self.sessions.reset(m["session"]), **area)
      if m.type == "save_frame": return self.save_frame(m)
      if m.type == "process_minimap": return self.process(m, (time.perf_counter() - t0) * 1000)
      return encode("error", reason=f"{m.type!r} is a reply type, not a request")
    except AreaError as e:
      if m.type == "process_minimap": return encode("result", status="error", reason=str(e), probs=[], layout_id=None, session=m["session"])
      return encode("error", reason=str(e))
    except Exception as e:  # a bug or resource failure on one request must not take the server down
      traceback.print_exc(file=sys.stderr)
      reason = f"internal error: {type(e).__name__}: {e}"[:2000]
      if m.type == "process_minimap": return encode("result", status="error", reason=reason, probs=[], layout_id=None, session=m["session"])
      return encode("error", reason=reason)

  def pong(self) -> list[bytes]:
    return encode("pong", ready=self.ready, protocol=PROTOCOL_VERSION, unet=self.names[0], vit=self.names[1], num_classes=self.num_classes,
                  models=self.models, areas=sorted(self.area_vits), input_path=self.input_path, incremental=self.incremental, fuse=self.fuse,
                  collect=self.collect, sessions=len(self.sessions), max_sessions=self.sessions.limit)

  def save_frame(self, m: Message) -> list[bytes]:
    d = self.root / "background" / "collect"
    try:
      ts = unique_stamp(d, (".png",))
      p = save_png(d / f"{ts}.png", m["frame"])
      return encode("ack", request="save_frame", ts=ts, path=str(p))
    except OSError as e: return encode("ack", request="save_frame", collect_error=f"{type(e).__name__}: {e}")

  def process(self, m: Message, decode_ms: float = 0.0) -> list[bytes]:
    sid, minimap, origin = m["session"], m["minimap"], m["origin"].astype(np.int64)
    vit = self.vit_for(m.get("area"))  # before any work: an area we can't serve is a clear error at once
    t = {"decode": decode_ms}
    tic = time.perf_counter()
    def lap(stage: str) -> None:
      nonlocal tic
      now = time.perf_counter()
      t[stage], tic = (now - tic) * 1000, now
    prev = self.sessions.get(sid)
    # a minimap that is not the previous canvas grown by whole tiles is a new area: fresh statistics
    restarted = prev is not None and alignment(prev, minimap, origin) is None
    if restarted: prev = None
    state, computed = update_mask(self.unet, prev, minimap, origin, self.incremental, per_request=self.input_path == PUBLISHED)
    if self.fuse: update_fused(prev, state)  # cleaning and tokens then read the fused mask (stream/session.py)
    self.sessions.put(sid, state)
    lap("unet")
    # cleaning and tokens are redone only around the tiles whose mask changed (bit for bit the full computation)
    mask = update_clean(prev, state)
    lap("clean")
    tokens, n_tokens = update_tokens(prev, state, None if self.collect else vit.model.max_tokens)  # the ViT reads only its first max_tokens
    lap("tokenize")
    fields = dict(session=sid, **({"area": m["area"]} if "area" in m else {}), session_restarted=restarted, n_tokens=n_tokens,
                  tiles_computed=int(computed),
                  tiles_total=int(np.prod(grid(*minimap.shape[:2]))), reason="")
    if n_tokens == 0:
      fields.update(status="no_features", layout_id=None, probs=[], reason="the line mask is empty: no map lines found yet")
    else:
      probs = vit.probs([tokens])[0]
      fields.update(status="ok", layout_id=int(np.argmax(probs)), probs=[float(p) for p in probs])
    lap("vit")
    if self.collect:
      d = self.root / "train" / "collect"
      try:
        ts = unique_stamp(d, COLLECT_SUFFIXES)
        write_collect_sample(d, ts, minimap, origin, mask, tokens)
        fields["collect_ts"] = ts
      except OSError as e: fields["collect_error"] = f"{type(e).__name__}: {e}"
      lap("collect")
    t["total"] = sum(t.values())
    return encode("result", timings={k: round(v, 3) for k, v in t.items()}, **fields)

  # ---- the socket loop

  def serve(self, sock: zmq.Socket, stop: threading.Event | None = None) -> None:
    """Answer requests until `stop` is set (checked every 100 ms)."""
    while stop is None or not stop.is_set():
      if not sock.poll(100, zmq.POLLIN): continue
      frames = sock.recv_multipart(copy=False)
      # REQ peers put [identity, b""] before the body; a DEALER may send [identity] + body
      i = next((k for k, f in enumerate(frames) if len(f) == 0), None)
      env, body = ([f.bytes for f in frames[:i + 1]], frames[i + 1:]) if i is not None else ([frames[0].bytes], frames[1:])
      reply = self.handle(body)
      try: sock.send_multipart(env + reply, zmq.NOBLOCK)
      except zmq.ZMQError: pass  # the peer is gone or stuck: its reply has nowhere to go


def bind(ctx: zmq.Context, addr: str, curve_keys: str | os.PathLike | None = None) -> tuple[zmq.Socket, ThreadAuthenticator | None]:
  """A ROUTER bound to addr. Anything but loopback needs CurveZMQ keys (`python -m stream.keys DIR`):
  the server's secret key and, as the allowed clients, every public *.key file in DIR."""
  if not is_loopback(addr) and curve_keys is None:
    raise UserError(f"refusing to bind {addr} without encryption: other machines could reach it. "
                    f"Make keys with `python -m stream.keys DIR` and pass --curve-keys DIR, or bind 127.0.0.1")
  auth = None
  sock = ctx.socket(zmq.ROUTER)
  sock.setsockopt(zmq.LINGER, 0)
  sock.setsockopt(zmq.MAXMSGSIZE, MAX_SIDE * MAX_SIDE * 3 + MAX_HEADER_BYTES)  # bigger frames can't be valid: drop before buffering
  if curve_keys is not None:
    d = Path(curve_keys)
    if not (d / "server.key_secret").is_file(): raise UserError(f"{d / 'server.key_secret'} missing: make keys with `python -m stream.keys {d}`")
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=str(d))
    sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(d / "server.key_secret")
    sock.curve_server = True
  try: sock.bind(addr)
  except zmq.ZMQError as e:
    sock.close(0)
    if auth is not None: auth.stop()
    raise UserError(f"cannot bind {addr}: {e}") from None
  return sock, auth


@contextmanager
def serving(srv: InferenceServer, addr: str = "tcp://127.0.0.1:*") -> Iterator[str]:
  """srv serving on loopback from a thread (for benchmarks and tests); yields the endpoint, stops on exit."""
  ctx = zmq.Context()
  sock, _ = bind(ctx, addr)
  stop = threading.Event()
  th = threading.Thread(target=srv.serve, args=(sock, stop), daemon=True)
  th.start()
  try: yield sock.getsockopt_string(zmq.LAST_ENDPOINT)
  finally:
    stop.set(); th.join(10); sock.close(0); ctx.term()


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(prog="python -m stream.server", description=__doc__.splitlines()[0])
  ap.add_argument("--bind", default=DEFAULT_ADDR, help=f"ZeroMQ endpoint (default {DEFAULT_ADDR}; port * picks a free one)")
  ap.add_argument("--curve-keys", metavar="DIR", help="CurveZMQ keys from `python -m stream.keys DIR` (required off loopback)")
  ap.add_argument("--unet", metavar="NAME_OR_PATH",
                  help=f"UNet checkpoint (default {PUBLISHED_UNET} when downloaded, else the bundled {DEFAULT_UNET})")
  ap.add_argument("--vit", metavar="NAME_OR_PATH", help=f"ViT checkpoint (default {PUBLISHED_VIT} when downloaded, else the bundled {DEFAULT_VIT})")
  ap.add_argument("--input-path", choices=("auto",) + INPUT_PATHS, default="auto",
                  help="how minimaps reach the UNet (poemap/fidelity.py): auto = what the UNet checkpoint was made for (default)")
  ap.add_argument("--data", metavar="DIR", help="data root (default $POEMAP_DATA or <repo>/data)")
  ap.add_argument("--areas", metavar="FILE",
                  help="area registry for requests that name their area (default <data>/user/areas.json, else the bundled one)")
  ap.add_argument("--collect", action="store_true", default=os.environ.get("COLLECT", "") not in ("", "0"),
                  help="save every minimap, mask and tokens to <data>/train/collect (also COLLECT=1)")
  ap.add_argument("--no-incremental", dest="incremental", action="store_false", help="run the UNet on every tile of every minimap")
  ap.add_argument("--fuse", action="store_true", help="clean and tokenize a fused mask: a pixel is a line where the UNet said so in at least "
                  "two of its views (stream/session.py); pays with a client sending the whole canvas (--full-canvas), not with the default send rule")
  ap.add_argument("--max-sessions", type=int, default=16, help="sessions kept in memory (least recently used dropped)")
  ap.add_argument("--unet-batch", type=int, default=32,
                  help="tiles per UNet call (fixed shape for the JIT; 32 suited the ~100 tiles a frame of a whole canvas changes, the "
                  "client's send rule leaves 0-50: docs/PERFORMANCE.md)")
  ap.add_argument("--device", metavar="DEV", default=os.environ.get("DEV"), help="tinygrad device: CPU (default without a GPU), CUDA, NV, AMD, "
                  "METAL, CL... (also DEV=CUDA; `python -c 'from tinygrad import Device; print(Device.DEFAULT)'` shows the default)")
  ap.add_argument("--beam", type=int, default=int(os.environ.get("BEAM", "0") or 0), metavar="N", help="tinygrad kernel search width at warm-up "
                  "(0 off; 2 pays on CPU, docs/MODELS.md); searched once, then read from tinygrad's cache")
  args = ap.parse_args(argv)
  if args.device:  # before any tensor exists
    DEV.value = args.device

  def run() -> None:
    unet_p, vit_p, which = pick_models(args.unet, args.vit, args.data)
    ctx = zmq.Context()
    sock, auth = bind(ctx, args.bind, args.curve_keys)  # before the slow part: a bad address fails at once
    try:
      try: unet, vit, auto = load_unet(unet_p), load_vit(vit_p), unet_input_path(unet_p)
      except (OSError, ValueError) as e: raise UserError(f"cannot load models: {e}") from None
      input_path = auto if args.input_path == "auto" else args.input_path
      srv = InferenceServer(unet, vit, incremental=args.incremental, collect=args.collect, data=args.data, max_sessions=args.max_sessions,
                            unet_batch=args.unet_batch, names=(unet_p.stem, vit_p.stem), input_path=input_path, models=which,
                            areas=load_areas(args.areas, args.data), vit_path=vit_p, beam=args.beam, fuse=args.fuse)
      about = {"coast": "the published models, for the real Coast", "synthetic_coast": "the bundled SYNTHETIC-Coast models: they know nothing "
               "of the real game (get the published ones with `python get_data.py --models-only`)"}.get(
                 which, f"for area {which!r}" if which != "custom" else "as given")
      print(f"models: {unet_p.stem} + {vit_p.stem}, {about}", flush=True)
      print(f"input path: {input_path} ({DESCRIBE[input_path]})" + ("" if input_path == auto else f"; the UNet was made for {auto}"), flush=True)
      beam = f" (BEAM={args.beam}: the first start searches kernels, minutes)" if args.beam else ""
      print(f"loaded {unet_p} and {vit_p} on {Device.DEFAULT}; warming up{beam}", flush=True)
      if input_path == PUBLISHED and Device.DEFAULT in ("CPU", "CLANG", "LLVM"):
        # the exact published input path recomputes every revealed tile per frame (docs/PERFORMANCE.md)
        print("note: the published UNet's exact input path on a CPU costs tens of seconds per frame once the map is revealed; "
              "--input-path bundled runs it at about 0.5 s per frame on 2 cores (statistics fixed per session: drift in docs/MODELS.md)",
              flush=True)
      srv.warmup()
      stop = threading.Event()
      signal.signal(signal.SIGTERM, lambda *_: stop.set())
      print(f"ready on {sock.getsockopt_string(zmq.LAST_ENDPOINT)}" + (" (collecting)" if args.collect else ""), flush=True)
      try: srv.serve(sock, stop)
      except KeyboardInterrupt: pass
      print("server stopped", flush=True)
    finally:
      sock.close(0)
      if auth is not None: auth.stop()
      ctx.destroy(linger=0)

  run_main(run)


if __name__ == "__main__": main()

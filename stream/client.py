"""The capture client: capture → stitch → shrink → send → show the predicted layout's guide.

`python -m stream.client` follows the game's log (Client.txt, stream/gamelog.py): entering an area
of the registry (poemap/areas.py) starts a stream at once, the arrival point being the origin;
entering anything else stops it; coming back to the same instance continues its canvas. Ctrl+Alt+Q
(or q + Enter) starts a stream by hand and overrides the log. While streaming it captures the centre
of the screen at --fps, stitches the minimap and keeps the server fed with the newest one: capture
never waits for the server, one request is in flight at a time, and a minimap that was not sent yet
is replaced by a newer one. `--replay FILE` plays a synthetic-Coast session instead of the screen.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Callable

import numpy as np

from poemap.areas import Area, Areas, load_areas
from poemap.fidelity import DARKEST, shrink_for
from poemap.stitch import MinimapCanvas
from poemap.tiles import FOG_ASPECT, FOG_CORE, FOG_REACH, FogRule, TileSender
from poemap.usererror import UserError, run_main
from stream.capture import ReplaySource, ScreenSource, Ticker
from stream.comms import DEFAULT_ADDR, Client, Message, ProtocolError, ServerUnreachable, encode
from stream.gamelog import LogFollower, candidate_logs, find_client_log
from stream.guidemarker import Tracker, draw_tracked
from stream.hotkeys import Commands
from stream.overlay import STABLE_FLOOR, Overlay, OverlayWindow, PngSink, has_display
from stream.settings import MODES, load_settings, override, save_settings, settings_path

STATUSES = ("ok", "no_features", "error", "unreachable", "pending")
MAX_SAVED = 4  # instances whose canvas is kept for a return (a 4K canvas of a whole area is ~100 MB)


@dataclass
class Result:
  """The latest answer about the current stream."""
  status: str = "pending"            # ok / no_features / error from the server; unreachable / pending on our side
  layout_id: int | None = None
  probs: list[float] = field(default_factory=list)
  latency_ms: float | None = None    # send → reply, as the client saw it
  server_ms: float | None = None     # the server's own total
  frame: int | None = None           # the capture frame whose minimap this answers
  reason: str = ""


class Streamer:
  """One client's streaming state: the canvas of the current stream and the request in flight.

  feed() stitches a frame (never blocks); pump() talks to the server for at most `timeout` seconds.
  The minimap is shrunk only when it is about to be sent, so frames captured while the server is
  busy cost only their stitching, and the one sent is always the newest. With a `send_rule`
  (poemap.tiles) the minimap sent is the last one sent with only the tiles refreshed where the fog can
  have lifted since (the server recomputes only those); None sends the whole canvas every time."""

  def __init__(self, client: Client, overlay=None, on_result=None, probe_every_s: float = 1.0, area: str | None = None,
               send_rule: FogRule | None = FogRule()):
    self.client, self.overlay, self.on_result = client, overlay, on_result
    self.area = area        # registry key the server is told (None: its default ViT)
    self.instance: tuple | None = None  # (area id, seed) of the stream, when the log named it: the key for a return
    self.saved: OrderedDict[tuple, dict] = OrderedDict()
    # after a timeout only pings go out until one is answered: an abandoned minimap still costs the
    # server its full processing time, an abandoned ping costs nothing
    self.reachable, self.probe_every_s, self._next_probe = True, probe_every_s, 0.0
    self.session: str | None = None
    self.canvas: MinimapCanvas | None = None
    self.send_rule = send_rule
    self.sender: TileSender | None = None  # the current canvas's path and last minimap sent, with a send rule
    self.result = Result()
    self.frames = self.sent = self.resets_acked = self.failures = 0
    # a ping first: its pong says the server's input path, and so the shrink its UNet wants (poemap.fidelity)
    self._queue: list[tuple[str, object]] = [("ping", None)]   # control requests to send before the next minimap
    self.input_path: str | None = None
    self.models: str | None = None
    self.shrink = shrink_for(None)
    self.on_pong: Callable[[Message], None] | None = None
    self._dirty_frame: int | None = None          # frame index of a stitched minimap not sent yet
    self._inflight: tuple[str, int | None, float, str | None] | None = None  # (kind, frame, t_send, session)
    self.last_skipped = False
    self.here = Tracker()  # 'you are here' on the guide shown (stream.guidemarker)
    self._here_frame: tuple[int, int] | None = None
    self._void_before = 0  # answers about frames before this one are of a canvas that began again since (_began_late)
    if overlay is not None: overlay.marker = lambda g: draw_tracked(self.here, g)

  # ---- streams

  def start(self, area: Area | str | None | EllipsisType = ..., instance: tuple | None = None) -> str:
    """A new stream (a new area): fresh canvas, a fresh session id and a reset_session for it.
    `area`: a registry Area (its key goes to the server, its guides to the overlay), a key, or None;
    left out, the current one. `instance`: (area id, seed) from the log, so that resume() finds it."""
    self._stash()
    if not isinstance(area, EllipsisType):
      self.area = area.key if isinstance(area, Area) else area
      if isinstance(area, Area) and self.overlay is not None: self.overlay.set_guides(area.guides)
    self.session, self.instance = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}", instance
    if instance is not None: self.saved.pop(instance, None)  # a manual restart in a known instance replaces its old canvas
    self.canvas, self.sender, self.frames, self._dirty_frame, self.result, self._void_before = None, None, 0, None, Result(), 0
    self.here.reset()
    self._queue_reset()
    if self.overlay is not None: self.overlay.reset()
    return self.session

  def stop(self) -> None:
    self._stash()
    self.canvas, self.sender, self._dirty_frame, self.session, self.instance = None, None, None, None, None

  def _stash(self) -> None:
    # the canvas and the guide of a stream the log named, kept for a return to that instance
    if self.instance is None or self.session is None: return
    ov = self.overlay
    self.saved[self.instance] = {"session": self.session, "canvas": self.canvas, "sender": self.sender, "frames": self.frames, "result": self.result,
                                 "area": self.area,
                                 "sel": ov.sel if ov is not None else None, "guides": ov.guides.area if ov is not None else None}
    self.saved.move_to_end(self.instance)
    while len(self.saved) > MAX_SAVED: self.saved.popitem(last=False)
    if ov is not None: ov.reset()  # the kept selector must not show this instance's guide elsewhere

  def resume(self, instance: tuple) -> bool:
    """Continue the stream of an instance streamed before (same area id and seed): its canvas, its
    session on the server and its guide. False when it is not kept (then start() a new one).
    The player comes back where the portal or waypoint is, not necessarily where the canvas last
    saw them: a frame is stitched only once it aligns with the last accepted frame or with the
    canvas around the last known position (MinimapCanvas relocation); until then frames are
    refused (counted as skipped), and the canvas and the guide of the instance stay as they were."""
    s = self.saved.get(instance)
    if s is None: return False
    self._stash()
    del self.saved[instance]
    self.session, self.canvas, self.sender, self.frames, self.result = s["session"], s["canvas"], s["sender"], s["frames"], s["result"]
    self.area, self.instance = s["area"], instance
    self._dirty_frame = None
    self.here.reset()
    if self.overlay is not None:
      if s["guides"] is not None: self.overlay.set_guides(s["guides"])
      if s["sel"] is not None: self.overlay.sel, self.overlay.dirty = s["sel"], True
    return True

  def feed(self, frame: np.ndarray) -> bool:
    """Stitch one capture frame; False when its translation failed and it was skipped."""
    i = self.frames
    self.frames += 1
    if self.canvas is None or self.canvas.frame_shape != frame.shape:
      self.canvas = MinimapCanvas(frame, darkest=self.input_path == DARKEST)
      self.sender = TileSender(self.send_rule) if self.send_rule is not None else None
      ok = not self.canvas.waiting  # a loading screen or a barely revealed entrance: nothing to send yet
    else:
      late = self.canvas.began_late
      ok = self.canvas.add(frame)
      if self.canvas.began_late and not late: self._began_late()
    self.last_skipped = not ok
    if ok:
      self._dirty_frame = i
      if self.sender is not None: self.sender.moved(self.canvas.position - self.canvas.origin, self.canvas.merges)
    return ok

  def _queue_reset(self) -> None:
    self._queue = [q for q in self._queue if q[0] != "reset"] + [("reset", self.session)]  # one reset: this session's

  def _began_late(self) -> None:
    # the canvas began again after the entrance (MinimapCanvas.began_late): whatever its first frame showed is gone
    # from it, so the server forgets what it was sent and the overlay what it showed. Its tokens are anchored where the
    # player stood when it began, where the ViT is often sure and wrong: no guide is chosen (GuideSelector late)
    self._queue_reset()
    self.result, self._void_before = Result(), self.frames - 1
    if self.overlay is not None: self.overlay.reset(late=True)

  def queue_frame(self, frame: np.ndarray) -> None:
    """Background collection: the newest raw frame replaces an unsent one."""
    self._queue = [q for q in self._queue if q[0] != "frame"] + [("frame", frame)]

  @property
  def idle(self) -> bool:
    """Nothing in flight and nothing waiting to be sent."""
    return self._inflight is None and not self._queue and self._dirty_frame is None

  # ---- the network

  def _send_next(self) -> bool:
    if not self.reachable:
      if time.monotonic() < self._next_probe: return False
      self.client.send(encode("ping"))
      self._inflight = ("ping", None, time.perf_counter(), self.session)
      return True
    if self._queue:
      kind, arg = self._queue.pop(0)
      area = {"area": self.area} if self.area is not None else {}
      frames = (encode("ping") if kind == "ping" else encode("reset_session", None, session=arg, **area) if kind == "reset"
                else encode("save_frame", {"frame": np.asarray(arg)}))
      self.client.send(frames)
      self._inflight = (kind, None, time.perf_counter(), self.session)
      return True
    if self._dirty_frame is not None and self.canvas is not None:
      minimap, origin = self.minimap()
      self.client.send_process(minimap, origin, self.session or "default", **({"area": self.area} if self.area is not None else {}))
      self._inflight, self._dirty_frame = ("minimap", self._dirty_frame, time.perf_counter(), self.session), None
      self.sent += 1
      return True
    return False

  def minimap(self) -> tuple[np.ndarray, np.ndarray]:
    """The ½-scale minimap and origin the server is sent next: the canvas shrunk as its UNet's input path wants, and
    with a send rule only the tiles the fog may have lifted on refreshed. A UNet made for the darkest views gets the
    canvas's darkest view of every pixel, whole (the send rule refreshes a tile once, where the fog lifts, so it would
    never pass on the later, darker views)."""
    assert self.canvas is not None
    c = self.canvas
    if self.input_path == DARKEST and c.dark is not None: return self.shrink(c.dark, c.origin)
    minimap, origin = self.shrink(c.image, c.origin)
    return (self.sender.minimap(minimap, origin) if self.sender is not None else minimap), origin

  def pump(self, timeout: float = 0.0) -> None:
    """Send what is waiting and collect replies for up to `timeout` seconds (returns early when idle
    after at least one poll). Never raises for a server problem: it becomes the result's status."""
    end = time.monotonic() + max(0.0, timeout)
    while True:
      if self._inflight is None and not self._send_next(): return
      assert self._inflight is not None  # _send_next() put one in flight
      kind, frame, t0, sid = self._inflight
      try:
        m = self.client.poll_reply(max(0.0, end - time.monotonic()) * 1000)
      except ServerUnreachable as e:
        self._inflight, self.reachable, self._next_probe = None, False, time.monotonic() + self.probe_every_s
        self.failures += 1
        # a server that comes back may have lost the session: it takes its statistics from the whole canvas, as without the rule
        if self.sender is not None: self.sender.forget()
        if kind == "reset" and sid == self.session: self._queue.insert(0, ("reset", self.session))
        elif kind == "minimap" and self._dirty_frame is None and sid == self.session: self._dirty_frame = frame  # resend the newest when it is back
        self._set(Result("unreachable", self.result.layout_id, self.result.probs, frame=frame, reason=str(e)))
        return
      except ProtocolError as e:
        self._inflight = None
        self._set(Result("error", self.result.layout_id, self.result.probs, frame=frame, reason=f"bad reply: {e}"))
        continue
      if m is None: return
      self._inflight, self.reachable = None, True
      lat = (time.perf_counter() - t0) * 1000
      if kind == "ping" and m.type == "pong" and m.get("input_path") != self.input_path:
        self.input_path, self.models, self.shrink = m.get("input_path"), m.get("models"), shrink_for(m.get("input_path"))
        if self.sender is not None: self.sender.forget()  # what was sent is another shrink's
        if self.input_path == DARKEST and self.canvas is not None: self.canvas.keep_darkest()
        if self.on_pong is not None: self.on_pong(m)
      if kind == "ping" and self.result.status == "unreachable":
        self._set(Result("pending", self.result.layout_id, self.result.probs, reason="server is back"))
      elif kind == "reset":
        self.resets_acked += m.type == "ack"
        # e.g. an area this server has no ViT for: say so now, not only with the first minimap
        if m.type == "error" and sid == self.session: self._set(Result("error", None, [], lat, reason=m.get("reason", "")))
      # the answer about a stream stopped or replaced meanwhile, or about a canvas that began again since
      elif kind == "minimap" and (sid != self.session or frame is None or frame < self._void_before): pass
      elif kind == "minimap":
        if m.type == "error": r = Result("error", None, [], lat, None, frame, m.get("reason", ""))
        else:
          lid = m.get("layout_id")
          r = Result(m["status"], int(lid) if lid is not None else None, [float(p) for p in m["probs"]], lat,
                     (m.get("timings") or {}).get("total"), frame, m.get("reason", ""))
        self._set(r)
      if time.monotonic() >= end and self._inflight is None: return

  def _set(self, r: Result) -> None:
    self.result = r
    if self.overlay is not None:
      # a canvas of one view may show no map of this walk (the passive tree opened on arrival, a frame of the area
      # left) until a frame placed elsewhere stitches to it: no guide is chosen from its answers yet
      one_view = r.status == "ok" and self.canvas is not None and self.canvas.views < 2
      if one_view: self.overlay.update("no_features")
      else: self.overlay.update(r.status, r.layout_id, r.probs)
      self.overlay.detail = f"frame {r.frame} | {r.latency_ms:.0f} ms" if r.latency_ms is not None else r.reason[:90]
    if self.on_result is not None: self.on_result(r)

  def locate(self) -> dict | None:
    """Place the player on the guide shown (once per stitched frame): guide px, registration status and quality."""
    ov, c = self.overlay, self.canvas
    if ov is None or c is None or ov.sel.shown is None: return None
    # before a frame shows the map (a loading screen after the log's arrival line) the player stands at the entrance
    if self._here_frame != (self.frames, ov.sel.shown) and (not self.last_skipped or c.waiting):
      self._here_frame = (self.frames, ov.sel.shown)
      minimap, origin = self.shrink(c.image, c.origin)
      self.here.update(ov.guides.path(ov.sel.shown), minimap, origin, np.asarray(origin) + (c.position - c.origin) / 2, not c.began_late)
      ov.dirty = True
    return self.here.record()

  def record(self) -> dict:
    """The per-frame JSON record (after feed and pump)."""
    guide_position = self.locate()
    r, c = self.result, self.canvas
    return {"frame": self.frames - 1, "area": self.area, "session": self.session, "layout_id": r.layout_id, "probs": [round(p, 5) for p in r.probs],
            "status": r.status,
            "latency_ms": None if r.latency_ms is None else round(r.latency_ms, 2),
            "server_ms": None if r.server_ms is None else round(float(r.server_ms), 2), "result_frame": r.frame,
            "canvas": list(c.image.shape[:2]) if c is not None else None, "skipped": self.last_skipped,
            "skipped_total": c.skipped if c is not None else 0,
            "began_late": c.began_late if c is not None else None,
            "position": [round(float(v), 1) for v in c.position - c.origin] if c is not None else None,
            "shown": self.overlay.sel.shown if self.overlay is not None else None, "reason": r.reason, "guide_position": guide_position,
            "sent_tiles": self.sender.refreshed if self.sender is not None else None}


class LogDriver:
  """The game's log drives the streamer. A "Generating level" line means loading started: the stream
  in progress stops (the loading screen is no minimap). The arrival line that follows ("You have
  entered NAME.") starts a stream when the area id is registered, the arrival point being the origin,
  or resumes the instance's old canvas when the same area id and seed were streamed before
  (Streamer.resume says what happens to the position); any other area leaves the overlay saying the
  client is not streaming. The arrival line is translated: when none we can read comes within
  `arrival_wait_s` of the Generating line, the client arrives then. An arrival line with no
  Generating line before it (following began in between) selects the area by its registered name."""

  def __init__(self, streamer: Streamer, follower: LogFollower, areas: Areas, arrival_wait_s: float = 10.0, log=print, poll_every_s: float = 0.25):
    self.streamer, self.follower, self.areas, self.log = streamer, follower, areas, log
    self.arrival_wait_s, self.poll_every_s, self._next = arrival_wait_s, poll_every_s, 0.0
    self.pending: tuple[Area | None, tuple, float] | None = None  # since a Generating line: (area, (area id, seed), when)
    self.current: tuple[Area, tuple | None] | None = None          # the registered area the log says the player is in
    self.streaming = False

  def poll(self, now: float | None = None, force: bool = False) -> list[str]:
    """Read the log (at most every poll_every_s unless forced) and act; returns the actions taken,
    oldest first: "stop", "start", "resume", "away"."""
    now = time.monotonic() if now is None else now
    acts: list[str] = []
    if force or now >= self._next:
      self._next = now + self.poll_every_s
      for ev in self.follower.poll():
        if ev.kind == "generating":
          acts += self._leave()
          self.pending = (self.areas.by_id(ev.area_id), (ev.area_id, ev.seed), now)
        else: acts += self._arrive(ev.name)
    if self.pending is not None and now - self.pending[2] >= self.arrival_wait_s: acts += self._arrive(None)
    return acts

  def _leave(self) -> list[str]:
    if not self.streaming: return []
    st, ov = self.streamer, self.streamer.overlay
    self.log(f"left {self.current[0].title if self.current else 'the area'}: stopped after {st.frames} frames")
    st.stop()
    self.streaming = False
    if ov is not None: ov.set_state("stopped", "loading the next area")
    return ["stop"]

  def _arrive(self, name: str | None) -> list[str]:
    p, self.pending = self.pending, None
    area, instance = (p[0], p[1]) if p is not None else (self.areas.by_name(name), None)
    st, ov = self.streamer, self.streamer.overlay
    if area is None:
      where = name or (p[1][0] if p is not None else "?")
      self.current = None
      self.log(f"entered {where}: not a registered area, not streaming")
      if ov is not None: ov.set_state("away", f"in {where}: not a registered area")
      return ["away"]
    acts = self._leave()  # an arrival with no Generating line before it may come while streaming
    self.current, self.streaming = (area, instance), True
    if instance is not None and st.resume(instance):
      self.log(f"back in {area.title} (seed {instance[1]}): continuing session {st.session} from frame {st.frames}")
      return acts + ["resume"]
    sid = st.start(area, instance)
    self.log(f"entered {area.title}" + (f" (area {instance[0]}, seed {instance[1]})" if instance else "") + f": streaming, session {sid}")
    return acts + ["start"]

  def manual(self, cmd: str) -> None:
    """A hotkey overrides the log: "start" restarts the stream here (in the area the log says, if any),
    "stop" stops it until the next arrival."""
    if cmd == "start":
      self.streaming = True
      if self.current is not None: self.streamer.start(*self.current)
      else: self.streamer.start()
    elif cmd == "stop":
      self.streaming = False
      self.streamer.stop()


def run_replay(streamer: Streamer, source, realtime: bool = False, fps: float = 1.0, emit=None, max_frames: int | None = None,
               wait_s: float = 120.0, driver: LogDriver | None = None, before_frame=None) -> list[dict]:
  """Stream a whole replay. Deterministic (default): every frame is stitched, sent and answered before
  the next. Real time: frames come at `fps` and the server gets the newest minimap when it is free.
  With a LogDriver the log decides: frames that come while it says the player is not in a registered
  area are dropped (the stream starts on the arrival line). `before_frame(k)` is called before the
  k-th frame is grabbed and once more at the end (the demo writes the game's log lines there)."""
  if driver is None: streamer.start()
  records: list[dict] = []
  tick, k = Ticker(fps), 0
  ov = streamer.overlay
  while max_frames is None or len(records) < max_frames:
    if realtime:
      while tick.remaining() > 0:
        streamer.pump(min(tick.remaining(), 0.05))
        if ov is not None: ov.pump(1)
      tick.tick()
    if before_frame is not None: before_frame(k)
    if driver is not None: driver.poll(force=True)
    frame = source.grab()
    k += 1
    if frame is None: break
    if driver is not None and not driver.streaming:
      streamer.pump(0)
      if ov is not None: ov.render(tag=f"away_{k - 1:04d}"); ov.pump(1)
      continue
    i, fails = streamer.frames, streamer.failures
    streamer.feed(frame)
    if realtime: streamer.pump(0)
    else:
      # until this frame is answered, or the server was found unreachable (then move on: never hang)
      end = time.monotonic() + wait_s
      while not streamer.idle and streamer.result.frame != i and streamer.failures == fails and time.monotonic() < end:
        streamer.pump(min(0.1, end - time.monotonic()))
    rec = streamer.record()
    if ov is not None:
      ov.render(tag=f"{rec['frame']:04d}")
      ov.pump(1)
    records.append(rec)
    if emit is not None: emit(rec)
  if driver is not None and before_frame is not None:
    before_frame(k)
    driver.poll(force=True)
    if ov is not None: ov.render(tag="end"); ov.pump(1)
  return records


def run_live(streamer: Streamer, source_factory, commands, fps: float, emit=None, log=print, driver: LogDriver | None = None) -> None:
  """The interactive loop: idle until start (a hotkey, or the log's arrival in a registered area),
  stream at fps until stop (a hotkey, or leaving the area), quit on quit."""
  ov, mode, source, tick = streamer.overlay, "idle", None, Ticker(fps)
  if ov is not None: ov.set_state("idle"); ov.render()
  try:
    while True:
      cmd = commands.get()
      if cmd == "quit": log("quit"); return
      if cmd == "hide" and ov is not None: ov.toggle()
      if cmd in ("start", "frames"):
        if source is None: source = source_factory()
        mode, tick = ("stream" if cmd == "start" else "frames"), Ticker(fps)
        if cmd == "start":
          if driver is not None: driver.manual("start")
          else: streamer.start()
          log(f"streaming {source.name} at {fps} fps, session {streamer.session}")
        else: log(f"streaming raw frames for background collection at {fps} fps")
      elif cmd == "stop" and mode != "idle":
        log(f"stopped after {streamer.frames} frames" if mode == "stream" else "stopped frame collection")
        if mode == "stream" and driver is not None: driver.manual("stop")
        mode = "idle"
        if ov is not None: ov.set_state("stopped")
      acts = driver.poll() if driver is not None and mode != "frames" else []
      if acts and acts[-1] in ("start", "resume"):
        if source is None: source = source_factory()
        if mode != "stream": log(f"streaming {source.name} at {fps} fps")
        mode, tick = "stream", Ticker(fps)
      elif acts and driver is not None and mode == "stream" and not driver.streaming: mode = "idle"
      if mode != "idle" and source is not None and tick.remaining() == 0:
        tick.tick()
        frame = source.grab()
        if frame is None: log(f"{source.name} ended"); return  # a replay played live (--replay with --client-log)
        if mode == "stream":
          streamer.feed(frame)
          rec = streamer.record()
          if emit is not None: emit(rec)
        else: streamer.queue_frame(frame)
      streamer.pump(min(0.05, tick.remaining()) if mode != "idle" else 0.05)
      if ov is not None: ov.render(); ov.pump(1)
  finally:
    if source is not None: source.close()


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(prog="python -m stream.client", description=__doc__.splitlines()[0])
  ap.add_argument("--server", help=f"server address (default: the settings', else {DEFAULT_ADDR})")
  ap.add_argument("--curve-keys", metavar="DIR", help="CurveZMQ client keys (`python -m stream.keys DIR`), for a server off loopback")
  ap.add_argument("--fps", type=float, help="capture rate (default: the settings', else 1)")
  ap.add_argument("--area", help="registry key of the area for streams started by hand (default coast; replays synthetic_coast); "
                  "a name not in the registry just picks the guides <data>/user/<area>/<id>.png and the server's default ViT")
  ap.add_argument("--areas", metavar="FILE", help="area registry (default <data>/user/areas.json, else the bundled data/user/areas.json)")
  ap.add_argument("--client-log", metavar="PATH", help="the game's Client.txt to follow (default: the settings', else the usual install "
                  "places; with --replay: none)")
  ap.add_argument("--no-client-log", action="store_true", help="don't follow the game's log: hotkeys only")
  ap.add_argument("--arrival-wait", type=float, default=10.0, help="seconds after a 'Generating level' line to start when no readable "
                  "'You have entered' line comes (a translated client; default 10)")
  ap.add_argument("--data", metavar="DIR", help="data root (default $POEMAP_DATA or <repo>/data)")
  ap.add_argument("--monitor", type=int, help="mss monitor number to capture (1 = primary; default: the settings', else 1)")
  ap.add_argument("--display", help="X display to capture (Linux; default $DISPLAY)")
  ap.add_argument("--replay", metavar="FILE", help="play a synthetic-Coast session .npz instead of the screen")
  ap.add_argument("--realtime", action="store_true", help="replay at --fps without waiting for replies (default: every frame answered)")
  ap.add_argument("--json", action="store_true", help="print one JSON line per frame on stdout")
  ap.add_argument("--no-overlay", action="store_true", help="no window and no PNGs")
  ap.add_argument("--overlay-dir", metavar="DIR", help="save the overlay as PNGs in DIR instead of a window")
  ap.add_argument("--mode", choices=MODES, help="the guide window: overlay (small, borderless, on top, translucent, over the game) or "
                  "windowed (a normal window, e.g. on a second monitor); m in the window switches (default: the settings', else overlay)")
  ap.add_argument("--opacity", type=float,
                  help="of the overlay-mode window, 0.2..1 (Windows; + / - in the window; default: the settings', else 0.85)")
  ap.add_argument("--save-settings", action="store_true", help=f"remember this run's --server, --fps, --monitor, --client-log, --mode and "
                  f"--opacity in the settings file ({settings_path()})")
  ap.add_argument("--start-now", action="store_true", help="start streaming at once (no hotkey)")
  ap.add_argument("--no-hotkeys", action="store_true", help="don't register global hotkeys (stdin commands only)")
  ap.add_argument("--timeout", type=float, help="seconds to wait for one reply before calling the server unreachable (default 15; replays 120)")
  ap.add_argument("--full-canvas", action="store_true", help="send the whole canvas with every minimap (the server recomputes every tile "
                  "whose pixels changed) instead of refreshing only the tiles where the fog can have lifted since the last send (poemap/tiles.py)")
  ap.add_argument("--fog-reach", type=float, default=FOG_REACH, help=f"how far from the player the fog lifts at most, ½-scale px along "
                  f"the fog's wide axis (default {FOG_REACH:g}: every simulated look's fog with a margin); lines beyond it reach the server "
                  "only when the player walks nearer")
  ap.add_argument("--fog-core", type=float, default=FOG_CORE, help=f"how far it lifts at least, the same way (default {FOG_CORE:g})")
  ap.add_argument("--fog-aspect", type=float, default=FOG_ASPECT, help=f"the fog ellipse's width over its height (default {FOG_ASPECT:.3g}; "
                  "1 for a disc)")
  ap.add_argument("--stable", type=int, default=3, help="switch guides after this many equal predictions in a row (default 3)")
  ap.add_argument("--confident", type=float, default=0.8, help="or at once when p >= this (default 0.8)")
  ap.add_argument("--stable-floor", type=float, default=STABLE_FLOOR, help="the equal predictions in a row count only at p >= this "
                  f"(default {STABLE_FLOOR:g}: a low-p answer repeated over a canvas that barely changed is no evidence)")
  args = ap.parse_args(argv)

  def run() -> None:
    if args.fps is not None and not args.fps > 0: raise UserError(f"--fps must be > 0, got {args.fps}")
    if args.opacity is not None and not 0.2 <= args.opacity <= 1: raise UserError(f"--opacity must be in 0.2..1, got {args.opacity}")
    try: rule = None if args.full_canvas else FogRule(args.fog_reach, args.fog_core, args.fog_aspect)
    except ValueError as e: raise UserError(f"--fog-reach/--fog-core/--fog-aspect: {e}") from None
    out = sys.stderr if args.json else sys.stdout
    log = lambda s: print(s, file=out, flush=True)
    # the settings file, then the flags over it for this run (only --save-settings writes flags into it)
    spath = settings_path()
    saved, notes = load_settings(spath)
    for n in notes: log(f"warning: {n}")
    cfg = override(saved, server=args.server, fps=args.fps, monitor=args.monitor, client_log=args.client_log, mode=args.mode, opacity=args.opacity)
    if args.save_settings:
      saved = cfg
      log(f"settings saved to {save_settings(saved, spath)}")
    def remember(changes: dict) -> None:  # what the player changed in the window, kept for the next start
      nonlocal saved
      saved = dataclasses.replace(saved, **changes)
      try: save_settings(saved, spath)
      except OSError as e: log(f"warning: could not save the settings to {spath}: {e}")
    emit = (lambda r: print(json.dumps(r), flush=True)) if args.json else None
    source = None
    if args.replay:
      try: source = ReplaySource(args.replay)
      except (OSError, ValueError) as e: raise UserError(f"cannot read replay: {e}") from None
    sink: PngSink | OverlayWindow | None = None
    if args.overlay_dir: sink = PngSink(args.overlay_dir)
    elif not args.no_overlay:
      if has_display():
        sink = OverlayWindow(mode=cfg.mode, rects={"overlay": cfg.overlay, "windowed": cfg.windowed}, opacity=cfg.opacity, on_change=remember,
                             log=log)
      else: log("no display: running without the overlay window (use --overlay-dir DIR to save it as PNGs)")
    areas = load_areas(args.areas, args.data)
    key = args.area or ("synthetic_coast" if args.replay else "coast")
    area = areas.areas.get(key)
    overlay = Overlay(area.guides if area is not None else key, sink, args.data, args.stable, args.confident, args.stable_floor)
    if not overlay.guides.available(): log(f"warning: no guide images in {overlay.guides.path(0).parent}; the overlay shows layout ids only")
    timeout = args.timeout if args.timeout is not None else (120.0 if args.replay and not args.realtime else 15.0)
    client = Client(cfg.server, timeout_ms=int(timeout * 1000), retries=0, curve_keys=args.curve_keys)
    streamer = Streamer(client, overlay, area=area.key if area is not None else None, send_rule=rule)
    log_arg = args.client_log or (None if args.replay else cfg.client_log)  # a replay follows no log unless told to
    log_path = None if args.no_client_log else Path(log_arg) if log_arg else None if args.replay else find_client_log()
    if log_path is None and not args.no_client_log and not args.replay:
      log(f"no Client.txt of the game found (looked in {len(candidate_logs())} places, e.g. {candidate_logs()[0]}): pass --client-log PATH "
          "to start and stop by the game's log; until then streams start by hotkey only")
    elif log_path is not None:
      log(f"following {log_path}" + ("" if log_path.is_file() else " (not there yet: streams start once the game writes it)"))
    driver = LogDriver(streamer, LogFollower(log_path), areas, args.arrival_wait, log) if log_path is not None else None
    def on_pong(m) -> None:  # say which models the server runs, and how the minimap reaches its UNet
      line = f"server: {m.get('unet')} + {m.get('vit')} ({m.get('models')}), input path {m.get('input_path')}"
      log(line)
      overlay.detail = line[:90]
    streamer.on_pong = on_pong
    try:
      if source is not None and driver is None:
        log(f"replaying {source.name}: {len(source)} frames to {cfg.server}")
        recs = run_replay(streamer, source, args.realtime, cfg.fps, emit, wait_s=timeout + 1)
        last = recs[-1] if recs else {}
        log(f"done: {len(recs)} frames, last status {last.get('status')}, layout {last.get('layout_id')}, shown {last.get('shown')}"
            + (f" (true layout {source.layout_id})" if source.layout_id is not None else ""))
        return
      commands = Commands(hotkeys=not args.no_hotkeys, combos=cfg.hotkeys)
      log(f"poemap client → {cfg.server} (settings: {spath})\n{commands.help()}")
      if args.start_now: commands.put("start")
      try:
        factory = (lambda: source) if source is not None else (lambda: ScreenSource(cfg.monitor, args.display))
        run_live(streamer, factory, commands, cfg.fps, emit, log, driver)
      except (RuntimeError, ValueError) as e: raise UserError(str(e)) from None
      finally:
        commands.close()
        if driver is not None: driver.follower.close()
    except KeyboardInterrupt: log("interrupted: bye")
    finally:
      overlay.close()
      client.close()

  run_main(run)


if __name__ == "__main__": main()

"""The demo: the whole product on the synthetic Coast, no game needed.

`python -m stream.demo` starts an inference server on a free loopback port, replays the bundled
synthetic-Coast sessions (data/replays/manifest.json; rendered once by poemap.sim and cached under
out/replays/) through the real client, shows the guide overlay (a window when there is a display,
PNG frames under out/demo/ otherwise) and ends with a summary: true vs predicted layout, the frame
from which the right guide was on screen for good, and the per-frame latency.

No hotkey is pressed: the demo plays the game's part in the log too. It appends the lines the game
writes to a Client.txt (out/demo/Client.txt, CRLF as on Windows) and the client follows that file
(stream/gamelog.py): arriving in the synthetic Coast starts each stream, a town portal trip in the
first replay stops it and coming back resumes the same canvas, and walking on into the next area
stops it. `--no-client-log` starts each replay by hand instead.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from models.checkpoint import save_checkpoint
from models.config import build_unet
from models.vit import ViT
from poemap import REPO_ROOT
from poemap.areas import BUNDLED, load_areas
from poemap.datadir import guide_path, model_path
from poemap.fileio import save_json, save_png
from poemap.sim.session import make_session, save_session
from poemap.usererror import UserError, run_main
from stream.capture import ReplaySource
from stream.client import LogDriver, Streamer, run_replay
from stream.comms import Client
from stream.gamelog import LogFollower
from stream.overlay import Overlay, OverlayWindow, PngSink, fit, has_display

AREA = "synthetic_coast"
SYNTH_MODELS = ("UNet_synth", "ViT_synth")
MANIFEST = REPO_ROOT / "data" / "replays" / "manifest.json"
OUT = REPO_ROOT / "out"


def banner(msg: str) -> str:
  bar = "!" * 78
  return f"{bar}\n!! " + msg.replace("\n", "\n!! ") + f"\n{bar}"


# ---- assets

def load_manifest(path: str | os.PathLike = MANIFEST) -> dict:
  p = Path(path)
  if not p.is_file(): raise UserError(f"no replay manifest at {p}")
  try: m = json.loads(p.read_text())
  except json.JSONDecodeError as e: raise UserError(f"{p} is not JSON: {e}") from None
  for r in m.get("replays", []):
    if not {"name", "layout_id", "seed", "frames"} <= set(r): raise UserError(f"{p}: replay entries need name, layout_id, seed, frames; got {r}")
  return m


def sim_version() -> str:
  """A hash of the simulator's source: cached replays are re-rendered when the simulator changes."""
  h = hashlib.sha256()
  for f in sorted((REPO_ROOT / "poemap" / "sim").glob("*.py")): h.update(f.name.encode() + f.read_bytes())
  return h.hexdigest()[:10]


def replay_file(entry: dict, resolution, cache: Path = OUT / "replays") -> Path:
  """The cached session of a manifest entry, rendered now if missing (deterministic in its seed)."""
  w, h = (int(v) for v in resolution)
  p = cache / sim_version() / f"{entry['name']}_l{entry['layout_id']}_s{entry['seed']}_f{entry['frames']}_{w}x{h}.npz"
  if p.is_file(): return p
  t = time.perf_counter()
  s = make_session(int(entry["layout_id"]), int(entry["seed"]), int(entry["frames"]), (w, h))
  p.parent.mkdir(parents=True, exist_ok=True)
  try: save_session(p, s)
  except FileExistsError: pass  # another demo rendered it meanwhile: same seed, same content
  print(f"  rendered {entry['name']} ({entry['frames']} frames at {w}x{h}) in {time.perf_counter() - t:.1f}s -> {p}", flush=True)
  return p


def random_models(directory: str | os.PathLike, unet: str = "small", seed: int = 0) -> tuple[Path, Path]:
  """Randomly initialised UNet and ViT checkpoints (for when no trained ones exist, and for tests)."""
  d = Path(directory)
  up, vp = d / f"UNet_random_{unet}_{seed}.safetensors", d / f"ViT_random_{seed}.safetensors"
  if not up.is_file(): save_checkpoint(build_unet(unet, seed=seed), up)
  if not vp.is_file(): save_checkpoint(ViT(seed=seed), vp)
  return up, vp


def pick_models(data: str | None, out: Path) -> tuple[Path, Path, bool]:
  """(unet, vit, trained): the bundled synthetic-Coast models, else random ones saved under out/."""
  u, v = (model_path(n, data) for n in SYNTH_MODELS)
  if u.is_file() and v.is_file(): return u, v, True
  up, vp = random_models(out / "models")
  return up, vp, False


class GameLog:
  """The game's part of the demo: appends area lines to a Client.txt as the game does (CRLF)."""

  def __init__(self, path: Path, echo=print):
    self.path, self.echo, self.n = path, echo, 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")

  def area(self, area_id: str, seed: int, name: str, level: int = 1) -> None:
    stamp = lambda: f"{time.strftime('%Y/%m/%d %H:%M:%S')} {int(time.monotonic() * 1000)} {self.n:08x}"
    lines = [f'{stamp()} [DEBUG Client {os.getpid()}] Generating level {level} area "{area_id}" with seed {seed}',
             f"{stamp()} [INFO Client {os.getpid()}] : You have entered {name}."]
    with open(self.path, "ab") as f: f.write("".join(l + "\r\n" for l in lines).encode("utf-8"))
    self.n += 1
    for l in lines: self.echo(f"  game log + {l}")


def demo_registry(areas_file: Path | None, vit: Path, out: Path, data: str | None = None) -> Path:
  """The registry the demo's server and client use: the bundled one, or (random models) a copy whose
  synthetic Coast points at the random ViT."""
  src = Path(areas_file) if areas_file is not None else BUNDLED
  obj = json.loads(src.read_text())
  if model_path(obj["areas"][AREA]["vit"], data).resolve() == vit.resolve(): return src
  obj["areas"][AREA]["vit"] = str(vit)
  p = out / "areas.json"
  p.parent.mkdir(parents=True, exist_ok=True)
  p.write_text(json.dumps(obj, indent=1))
  return p


def ensure_guides(data: str | None, n: int) -> list[int]:
  """Layout ids whose guide image is missing under data/user/synthetic_coast/."""
  return [i for i in range(n) if not guide_path(AREA, i, data).is_file()]


# ---- the server

class ServerProcess:
  """`python -m stream.server` on a free loopback port; its output is kept for error messages."""

  def __init__(self, unet: Path, vit: Path, data: str | None = None, ready_wait_s: float = 600.0, bind: str = "tcp://127.0.0.1:*",
               extra: list[str] | None = None):
    args = [sys.executable, "-m", "stream.server", "--bind", bind, "--unet", str(unet), "--vit", str(vit), *(extra or [])]
    if data: args += ["--data", data]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("COLLECT", None)
    self.p = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    self.lines: queue.Queue[str] = queue.Queue()
    self.log: list[str] = []
    threading.Thread(target=self._read, daemon=True).start()
    self.addr: str | None = None
    self.ready_wait_s, self.t0 = ready_wait_s, time.monotonic()

  def _read(self) -> None:
    assert self.p.stdout is not None  # Popen(stdout=PIPE)
    for line in self.p.stdout:
      self.log.append(line)
      self.lines.put(line)
    self.lines.put("")  # EOF

  def wait_ready(self) -> str:
    while self.addr is None:
      left = self.ready_wait_s - (time.monotonic() - self.t0)
      try: line = self.lines.get(timeout=max(0.1, left))
      except queue.Empty: line = None
      if line is None or left <= 0:
        self.stop()
        raise UserError(f"the server was not ready after {self.ready_wait_s:.0f}s:\n{''.join(self.log[-20:])}")
      if line == "":
        self.p.wait()
        raise UserError(f"the server exited with status {self.p.returncode}:\n{''.join(self.log[-20:])}")
      if line.startswith("ready on "): self.addr = line.split()[2]
    return self.addr

  def stop(self) -> None:
    if self.p.poll() is None:
      self.p.terminate()
      try: self.p.wait(10)
      except subprocess.TimeoutExpired: self.p.kill(); self.p.wait()


# ---- evaluation

def settled_frame(records: list[dict], true_id: int) -> int | None:
  """The first frame from which the guide shown was the true layout's until the end (None: never)."""
  f = None
  for r in records:
    if r["shown"] == true_id: f = r["frame"] if f is None else f
    else: f = None
  return f


def summarize(name: str, true_id: int, records: list[dict]) -> dict:
  lat = [r["latency_ms"] for r in records if r["latency_ms"] is not None and r["result_frame"] == r["frame"]]
  last = records[-1] if records else {}
  return {"replay": name, "true": true_id, "predicted": last.get("layout_id"), "shown": last.get("shown"),
          "settled": settled_frame(records, true_id), "frames": len(records),
          "skipped": last.get("skipped_total", 0), "statuses": sorted({r["status"] for r in records}),
          "lat_median": float(np.median(lat)) if lat else None, "lat_p95": float(np.percentile(lat, 95)) if lat else None}


def table(rows: list[dict]) -> str:
  head = f"{'replay':<10} {'true':>4} {'pred':>4} {'shown':>5} {'right from':>10} {'frames':>6} {'skipped':>7} {'lat med ms':>10} {'lat p95 ms':>10}"
  out = [head, "-" * len(head)]
  fmt = lambda v, spec: format("-" if v is None else format(v, spec.lstrip(">0123456789")), spec[:spec.index(".")] if "." in spec else spec)
  for r in rows:
    out.append(f"{r['replay']:<10} {r['true']:>4} {fmt(r['predicted'], '>4')} {fmt(r['shown'], '>5')} {fmt(r['settled'], '>10')} "
               f"{r['frames']:>6} {r['skipped']:>7} {fmt(r['lat_median'], '>10.0f')} {fmt(r['lat_p95'], '>10.0f')}")
  ok = sum(r["shown"] == r["true"] for r in rows)
  out.append(f"right guide at the end: {ok}/{len(rows)}")
  return "\n".join(out)


def composite(images: list[tuple[str, np.ndarray]], cols: int = 3, cell: tuple[int, int] = (420, 360)) -> np.ndarray:
  """The final overlay of every replay in a grid, each captioned."""
  rows = -(-len(images) // cols)
  ch, cw = cell[0] + 30, cell[1]
  out = np.full((rows * ch, cols * cw, 3), 8, np.uint8)
  for k, (caption, img) in enumerate(images):
    y, x = (k // cols) * ch, (k % cols) * cw
    f = fit(img, (cell[0] - 6, cw - 6))
    out[y + 30:y + 30 + f.shape[0], x + 3:x + 3 + f.shape[1]] = f
    cv2.putText(out, caption, (x + 6, y + 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1, cv2.LINE_AA)
  return out


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(prog="python -m stream.demo", description=__doc__.splitlines()[0])
  ap.add_argument("--layouts", help="comma-separated layout ids to replay (default: the manifest's default subset)")
  ap.add_argument("--all", action="store_true", help="replay every layout in the manifest (9; slower)")
  ap.add_argument("--frames", type=int, help="frames per replay (default: the manifest's)")
  ap.add_argument("--resolution", help="screen WxH the replays are rendered at (default: the manifest's, 3840x2160)")
  ap.add_argument("--out", default=str(OUT / "demo"), help="where overlay PNGs and the summary go (default out/demo)")
  ap.add_argument("--window", action="store_true", help="show the overlay window (default when there is a display)")
  ap.add_argument("--no-window", action="store_true", help="save PNGs only, even with a display")
  ap.add_argument("--realtime", action="store_true", help="replay at --fps without waiting for each reply")
  ap.add_argument("--fps", type=float, default=1.5, help="frame rate in --realtime mode (default 1.5, the replays' rate)")
  ap.add_argument("--server", help="use a running server at this address instead of starting one")
  ap.add_argument("--data", metavar="DIR", help="data root (default $POEMAP_DATA or <repo>/data)")
  ap.add_argument("--json", action="store_true", help="also print the per-frame JSON lines")
  ap.add_argument("--no-client-log", action="store_true", help="start each replay by hand instead of by the game's log")
  args = ap.parse_args(argv)

  def run() -> None:
    t_start = time.perf_counter()
    out = Path(args.out)
    man = load_manifest()
    entries = man["replays"]
    if not args.layouts and not args.all and man.get("default"): args.layouts = ",".join(str(i) for i in man["default"])
    if args.layouts:
      try: want = [int(v) for v in args.layouts.split(",") if v.strip()]
      except ValueError: raise UserError(f"--layouts wants comma-separated ids, got {args.layouts!r}") from None
      known = {int(e["layout_id"]) for e in entries}
      if bad := sorted(set(want) - known): raise UserError(f"no bundled replay for layouts {bad}; the manifest has {sorted(known)}")
      entries = [e for e in entries if int(e["layout_id"]) in want]
    if args.frames is not None:
      if args.frames < 1: raise UserError("--frames must be >= 1")
      entries = [{**e, "frames": args.frames} for e in entries]
    res = man.get("resolution", [3840, 2160])
    if args.resolution:
      try: res = [int(v) for v in args.resolution.lower().split("x")]; assert len(res) == 2 and min(res) >= 256
      except (ValueError, AssertionError): raise UserError(f"--resolution wants WxH like 1920x1080, got {args.resolution!r}") from None
    window = (args.window or has_display()) and not args.no_window

    warnings = []
    srv, reg = None, None
    if args.server: addr = args.server
    else:
      unet, vit, trained = pick_models(args.data, OUT)
      if not trained:
        warnings.append(f"NO TRAINED SYNTHETIC-COAST MODELS ({', '.join(str(model_path(n, args.data)) for n in SYNTH_MODELS)} missing).\n"
                        f"Using RANDOMLY INITIALISED models from {unet.parent}: the predictions below are MEANINGLESS.\n"
                        "Train them with train_unet.py / train_vit.py (see README) and run the demo again.")
        print(banner(warnings[-1]), flush=True)
      print(f"starting the server with {unet.name} and {vit.name} (it compiles its kernels first)", flush=True)
      reg = demo_registry(None, vit, out, args.data)
      srv = ServerProcess(unet, vit, args.data, extra=["--areas", str(reg)])
    try:
      missing = ensure_guides(args.data, 9)
      if missing:
        warnings.append(f"guide images missing for layouts {missing} in {guide_path(AREA, 0, args.data).parent}: the overlay shows ids only")
        print(banner(warnings[-1]), flush=True)
      print(f"replays ({len(entries)}): rendering any not cached yet under {OUT / 'replays'}", flush=True)
      files = [(e, replay_file(e, res)) for e in entries]  # overlaps with the server's warm-up
      if srv is not None:
        addr = srv.wait_ready()
        print(f"server ready on {addr} after {time.monotonic() - srv.t0:.0f}s", flush=True)
      client = Client(addr, timeout_ms=120_000, retries=0)
      areas = load_areas(reg)  # the bundled registry unless the models are random
      coast = areas[AREA]
      game = GameLog(out / "Client.txt")
      win = OverlayWindow("poemap demo") if window else None
      rows: list[dict] = []
      finals: list[tuple[str, np.ndarray]] = []
      try:
        for e, path in files:
          source = ReplaySource(path)
          sink = win if win is not None else PngSink(out / e["name"], prefix="frame_")
          ov = Overlay(AREA, sink, args.data)
          streamer = Streamer(client, ov)
          emit = (lambda r: print(json.dumps(r), flush=True)) if args.json else None
          t = time.perf_counter()
          final: np.ndarray | None = None
          if args.no_client_log: recs = run_replay(streamer, source, args.realtime, args.fps, emit, wait_s=121)
          else:
            driver = LogDriver(streamer, LogFollower(game.path), areas, log=lambda m: print(f"  client: {m}", flush=True))
            leaving: list[np.ndarray] = []
            trip = len(rows) == 0 and len(source) >= 6  # the first replay makes a town portal trip halfway
            def play(k: int, e=e, n=len(source), final=leaving, trip=trip, ov=ov) -> None:
              if k == 0: game.area(coast.area_ids[0], int(e["seed"]), coast.names[0])
              if trip and k == n // 2: game.area("1_1_town", 1, "Lioneye's Watch")
              if trip and k == n // 2 + 1: game.area(coast.area_ids[0], int(e["seed"]), coast.names[0])
              if k == n:
                final.append(ov.image())  # the guide as the player leaves, for the summary
                game.area("1_1_3", 2, "The Mud Flats", 3)
            recs = run_replay(streamer, source, args.realtime, args.fps, emit, wait_s=121, driver=driver, before_frame=play)
            driver.follower.close()
            final = leaving[0] if leaving else None
          row = summarize(e["name"], int(e["layout_id"]), recs)
          rows.append(row)
          finals.append((f"{e['name']}: true {row['true']}, shown {row['shown']}", final if final is not None else ov.image()))
          save_json(out / e["name"] / "records.json", recs, overwrite=True)
          print(f"  {e['name']}: {row['frames']} frames in {time.perf_counter() - t:.0f}s, true {row['true']}, predicted "
                f"{row['predicted']}, shown {row['shown']}, right from frame {row['settled']}", flush=True)
      finally:
        if win is not None: win.close()
        client.close()
    finally:
      if srv is not None: srv.stop()
    comp = save_png(out / "summary.png", composite(finals), overwrite=True)
    text = table(rows)
    if warnings: text = "\n".join(banner(w) for w in warnings) + "\n" + text
    text += f"\noverlay frames: {out}/<replay>/frame_*.png" if not window else ""
    text += f"\ncomposite: {comp}\ntotal time: {time.perf_counter() - t_start:.0f}s"
    (out / "summary.txt").write_text(text + "\n")
    print("\n" + text, flush=True)

  run_main(run)


if __name__ == "__main__": main()

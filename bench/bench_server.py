"""Server latency per frame, by stage, for the bundled and the published pipelines side by side.

Replays a synthetic session the way the client does (stitch with MinimapCanvas, shrink ×½: INTER_AREA for
the bundled path, INTER_CUBIC for the published one) and sends every minimap through a real loopback socket
to an in-process server. Prints median and p95 of each stage's server-side time, of the client's round trip
and of the tiles recomputed per frame, over the steady state (frames after --skip). Columns:

  bundled          --unet / --vit (default the bundled checkpoints UNet_synth + ViT_synth), bundled input path,
                   incremental; every frame
  published        the published architectures (AttentionUNet8_8600, ViT6_219_15) with random weights (same
                   cost) or the checkpoints when downloaded, on the published input path: per-request statistics,
                   exact, so nearly every revealed tile is recomputed on every frame: only every --published-every-th
                   frame is timed (tens of seconds each on two cores)
  published-fixed  the same networks with fixed statistics and tile reuse (the bundled path's trick): --fixed-frames
                   consecutive steady-state frames. Not exact for the published UNet (docs/MODELS.md measures
                   the drift: line F1 down to 0.886, 70/72 layouts agree)

`--unet published` / `--vit published` put the published architectures (random weights) in the first column.
Below the table, for the first column: per frame, the tiles recomputed, the tiles whose UNet mask changed, and
the tiles where the fog lifted (a pixel black in the last minimap is revealed now); and the same pipeline on
minimaps made by the canvas rule "a tile keeps its pixels until the fog lifts in it" (simulated here from the
same minimaps), with how far its replies and masks move.

  .venv/bin/python bench/bench_server.py [--session S.npz | --layout 0 --seed 0 --frames 120] [--columns bundled,published,published-fixed]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import zmq
from tinygrad import Device

from models.checkpoint import load_unet, load_vit
from models.config import DEFAULT_UNET as UNET_CONFIG
from models.config import build_unet
from models.vit import ViT
from poemap.contract import PUBLISHED_UNET, PUBLISHED_VIT, TILE
from poemap.fidelity import BUNDLED, PUBLISHED, shrink_cubic_with_origin
from poemap.sim.session import load_session, make_session
from poemap.stitch import MinimapCanvas, shrink_with_origin
from poemap.usererror import UserError
from stream.comms import Client
from stream.server import DEFAULT_UNET, DEFAULT_VIT, InferenceServer, bind, find_model
from stream.session import SessionState, alignment, grid, tile_any


def minimaps(session: dict, shrink=None) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
  """The client's minimaps (½ scale, origin) per frame, and the player's ½-scale position on each."""
  shrink = shrink or shrink_with_origin
  frames = session["frames"]
  canvas, out, pos = MinimapCanvas(frames[0]), [], []
  for i, f in enumerate(frames):
    if i: canvas.add(f)
    out.append(shrink(canvas.image, canvas.origin))
    pos.append(np.asarray(canvas.position, np.float64) / 2)
  return out, pos


def load_model(kind: str, name: str | None, default: str, published: str):
  """A checkpoint by name/path ("published": the published architecture, the downloaded file when present,
  else random weights of it; None: the default checkpoint, else a random default-config network)."""
  load = load_unet if kind == "UNet" else load_vit
  if name == "published":
    try: return load(p := find_model(None, (published,), kind)), p.stem
    except UserError: pass
    return (build_unet("published"), f"random-{published}") if kind == "UNet" else (ViT(),
                                                                                    f"random-{published}")
  try: return load(p := find_model(name, (default,), kind)), p.stem
  except UserError:
    if name is not None: raise
  print(f"no trained {kind} found: timing a random default one (same cost)")
  return (build_unet(UNET_CONFIG), f"random-{UNET_CONFIG}") if kind == "UNet" else (ViT(), "random-vit")


def run(maps, unet, vit, names, input_path: str, incremental: bool = True, unet_batch: int = 32, keep_masks: bool = False, beam: int = 0):
  """(stage -> per-frame ms, replies, per-frame [tiles whose mask changed or None, raw mask if keep_masks])."""
  with tempfile.TemporaryDirectory() as data:
    srv = InferenceServer(unet, vit, incremental=incremental, data=data, unet_batch=unet_batch, names=names, input_path=input_path, beam=beam)
    srv.warmup()
    ctx = zmq.Context()
    sock, _ = bind(ctx, "tcp://127.0.0.1:*")
    stop = threading.Event()
    th = threading.Thread(target=srv.serve, args=(sock, stop), daemon=True)
    th.start()
    stages: dict[str, list[float]] = {"roundtrip": []}
    replies, extra = [], []
    try:
      with Client(sock.getsockopt_string(zmq.LAST_ENDPOINT), timeout_ms=3_600_000, retries=0) as c:
        for img, origin in maps:
          t = time.perf_counter()
          r = c.process(img, origin, "bench")
          stages["roundtrip"].append((time.perf_counter() - t) * 1000)
          for k, v in r["timings"].items(): stages.setdefault(k, []).append(v)
          replies.append(r.fields)
          st = srv.sessions.get("bench")  # the server thread is idle between requests
          assert st is not None
          extra.append((None if st.changed is None else int(st.changed.sum()), st.mask.copy() if keep_masks else None))
    finally:
      stop.set(); th.join(10); sock.close(0); ctx.term()
  return stages, replies, extra


def _at(img: np.ndarray, origin) -> SessionState:
  """A state for alignment(), which reads only the previous minimap and its origin."""
  return SessionState(img, np.asarray(origin, np.int64), np.zeros(img.shape[:2], np.uint8), (np.zeros(3, np.float32), np.ones(3, np.float32)))


def fog_lifted(prev, cur) -> np.ndarray:
  """bool tile grid of cur: tiles with a pixel revealed now that was black (or off the canvas) in prev."""
  img, origin = cur
  was = np.zeros(img.shape[:2], bool)
  if prev is not None:
    shift = alignment(_at(prev[0], prev[1]), img, origin)
    if shift is not None: was[shift[0]:shift[0] + prev[0].shape[0], shift[1]:shift[1] + prev[0].shape[1]] = prev[0].any(-1)
  return tile_any(img.any(-1) & ~was) if img.size else np.zeros(grid(*img.shape[:2]), bool)


def canvas_rule(maps, pos, radius: float, paste_new: bool) -> list[tuple[np.ndarray, np.ndarray]]:
  """The minimaps a canvas would send that refreshes a tile only where map lines can appear: tiles within `radius`
  (½-scale px) of the player's path since the last frame (a straight segment), and with paste_new tiles with
  never-captured pixels (else those stay black, unrevealed, until the path comes near: one shared UNet pass);
  every other tile keeps its earlier pixels. A refreshed tile takes the whole new frame's tile, so a tile that
  does change is seen exactly as now; the first minimap (the bundled path's statistics) is today's."""
  out = [maps[0]]
  for i in range(1, len(maps)):
    img, origin = maps[i]
    kept, ko = out[-1]
    shift = alignment(_at(kept, ko), img, origin)
    if shift is None: out.append(maps[i]); continue
    R, C = grid(*img.shape[:2])
    cy, cx = (np.mgrid[:R, :C] + 0.5) * TILE  # tile centres; a tile is near when its centre is within radius + half a diagonal
    a, b = pos[i - 1] + np.asarray(shift), pos[i]  # positions are in the current canvas's pixels (the canvas only grows)
    d = b - a
    t = np.clip(((cy - a[0]) * d[0] + (cx - a[1]) * d[1]) / max(1e-9, d @ d), 0, 1)
    near = np.hypot(cy - a[0] - t * d[0], cx - a[1] - t * d[1]) <= radius + TILE / np.sqrt(2)
    refresh = near | fog_lifted(maps[i - 1], maps[i]) if paste_new else near
    new = np.zeros_like(img)
    new[shift[0]:shift[0] + kept.shape[0], shift[1]:shift[1] + kept.shape[1]] = kept
    take = np.repeat(np.repeat(refresh, TILE, 0), TILE, 1)[:img.shape[0], :img.shape[1]]
    new[take] = img[take]
    out.append((new, origin))
  return out


def f1(a: np.ndarray, b: np.ndarray) -> float:
  tp = int((a & b).sum())
  return 2 * tp / max(1, int(a.sum()) + int(b.sum()))


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--session", help="a replay .npz from poemap.sim (default: render one)")
  ap.add_argument("--layout", type=int, default=0)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--frames", type=int, default=120)
  ap.add_argument("--skip", type=int, default=10, help="frames left out of the steady-state figures")
  ap.add_argument("--unet", help="first column's UNet: name or path, or 'published' (default the bundled one)")
  ap.add_argument("--vit", help="first column's ViT: name or path, or 'published' (default the bundled one)")
  ap.add_argument("--unet-batch", type=int, default=32)
  ap.add_argument("--beam", type=int, default=0, help="tinygrad BEAM search at the server's warm-up (stream.server --beam)")
  ap.add_argument("--columns", default="bundled,published,published-fixed")
  ap.add_argument("--published-every", type=int, default=40, help="published column: time frame 0 and every k-th steady-state frame")
  ap.add_argument("--fixed-frames", type=int, default=20, help="published-fixed column: consecutive frames timed after --skip")
  ap.add_argument("--rules", default="70:paste,70:black,100:black", help="canvas-rule runs, comma-separated RADIUS:paste|black: refresh radius "
                  "around the path (½-scale px) and whether never-captured pixels are pasted at once or stay black ('' for none)")
  args = ap.parse_args()

  t = time.perf_counter()
  session = load_session(args.session) if args.session else make_session(args.layout, args.seed, n_frames=args.frames)
  cols = args.columns.split(",")
  maps, pos = minimaps(session)
  # the published input path's minimaps: for the published columns, and for the first one with --unet published
  cubic = minimaps(session, shrink_cubic_with_origin)[0] if any(c.startswith("published") for c in cols) or args.unet == "published" else []
  n = len(maps)
  print(f"{n} frames, final minimap {maps[-1][0].shape[:2]}, prepared in {time.perf_counter() - t:.1f}s")
  results, frames = {}, {}
  for col in cols:
    t = time.perf_counter()
    if col == "bundled":
      (u, un), (v, vn) = load_model("UNet", args.unet, DEFAULT_UNET, PUBLISHED_UNET), load_model("ViT", args.vit, DEFAULT_VIT, PUBLISHED_VIT)
      path = PUBLISHED if args.unet == "published" else BUNDLED
      idx, sel = list(range(n)), maps if path == BUNDLED else cubic
    else:
      (u, un), (v, vn) = load_model("UNet", "published", DEFAULT_UNET, PUBLISHED_UNET), load_model("ViT", "published", DEFAULT_VIT, PUBLISHED_VIT)
      if col == "published": path, idx = PUBLISHED, [0] + list(range(args.skip, n, args.published_every))
      elif col == "published-fixed": path, idx = BUNDLED, list(range(args.skip + args.fixed_frames))  # frames before skip give it its steady state
      else: raise SystemExit(f"unknown column {col!r}")
      sel = cubic
    stages, replies, extra = run([sel[i] for i in idx], u, v, (un, vn), path, unet_batch=args.unet_batch, keep_masks=col == "bundled", beam=args.beam)
    keep = [k for k, i in enumerate(idx) if i >= args.skip]
    results[col] = {k: [s[j] for j in keep] for k, s in stages.items()}, [replies[j] for j in keep], [extra[j] for j in keep], (un, vn, path)
    frames[col] = (idx, replies, extra)
    print(f"{col}: {un} + {vn}, {path} input path, {len(idx)} frames ({len(keep)} in the steady state) in {time.perf_counter() - t:.1f}s")

  print(f"\nper-frame ms over the steady-state frames (after {args.skip}); UNet batch {args.unet_batch}; device {Device.DEFAULT}, BEAM={args.beam}")
  print(f"{'':<12}" + "".join(f"{c:>24}" for c in results))
  print(f"{'stage':<12}" + "".join(f"{'median':>12}{'p95':>12}" for _ in results))
  for k in ("decode", "unet", "clean", "tokenize", "vit", "total", "roundtrip"):
    print(f"{k:<12}" + "".join(f"{np.median(r[0][k]):12.1f}{np.percentile(r[0][k], 95):12.1f}" if k in r[0] else f"{'':>24}"
                               for r in results.values()))
  row = lambda name, f: print(f"{name:<12}" + "".join(f"{np.median(v):12.0f}{np.percentile(v, 95):12.0f}" for v in (f(r) for r in results.values())))
  row("tiles", lambda r: [x["tiles_computed"] for x in r[1]])
  row("of total", lambda r: [x["tiles_total"] for x in r[1]])
  row("frames", lambda r: [len(r[1])] * 2)

  if "bundled" in frames:
    idx, replies, extra = frames["bundled"]
    lifted = [int(fog_lifted(maps[i - 1] if i else None, maps[i]).sum()) for i in idx]
    s = slice(args.skip, None)
    comp, chg = [r["tiles_computed"] for r in replies[s]], [e[0] for e in extra[s] if e[0] is not None]
    print(f"\ntiles per frame (bundled column, frames {args.skip}..{n - 1}): median / p95 / mean")
    for name, v in (("recomputed (pixels changed)", comp), ("UNet mask changed", chg), ("fog lifted (new pixels)", lifted[s])):
      print(f"  {name:<28}{np.median(v):8.0f}{np.percentile(v, 95):8.0f}{np.mean(v):8.1f}")
    for rule in [r.split(":") for r in args.rules.split(",") if r]:
      t, radius = time.perf_counter(), float(rule[0])
      rmaps = canvas_rule(maps, pos, radius, rule[1] == "paste")
      (u, un), (v, vn) = load_model("UNet", args.unet, DEFAULT_UNET, PUBLISHED_UNET), load_model("ViT", args.vit, DEFAULT_VIT, PUBLISHED_VIT)
      st2, rep2, ex2 = run(rmaps, u, v, (un, vn), BUNDLED, unet_batch=args.unet_batch, keep_masks=True, beam=args.beam)
      same = sum(a["layout_id"] == b["layout_id"] for a, b in zip(replies[s], rep2[s]))
      f1s = [f1(a[1] > 0, b[1] > 0) for a, b in zip(extra, ex2)][s]
      tiles = [r["tiles_computed"] for r in rep2[s]]
      print(f"canvas rule: refresh tiles within {radius:.0f} px (½ scale) of the path since the last frame, never-captured pixels "
            f"{'pasted' if rule[1] == 'paste' else 'black until near'} "
            f"({time.perf_counter() - t:.0f}s): tiles recomputed median {np.median(tiles):.0f} / p95 {np.percentile(tiles, 95):.0f}; "
            f"UNet ms median {np.median(st2['unet'][s]):.1f} / p95 {np.percentile(st2['unet'][s], 95):.1f}; "
            f"total median {np.median(st2['total'][s]):.1f} / p95 {np.percentile(st2['total'][s], 95):.1f}; "
            f"layout as today on {same}/{len(rep2[s])} frames; "
            f"raw mask F1 against today's min {min(f1s):.3f} / median {np.median(f1s):.3f} / last {f1s[-1]:.3f}")


if __name__ == "__main__": main()

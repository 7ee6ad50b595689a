"""Server latency per frame, by stage, incremental UNet on vs off.

Replays a synthetic session the way the client does (stitch with MinimapCanvas, shrink ×½) and
sends every minimap through a real loopback socket to an in-process server. Prints median and p95
of each stage's server-side time and of the client's round trip, over the steady state (frames
after --skip). Without trained weights it times a randomly initialised UNet of the default config,
which costs the same.

  .venv/bin/python bench/bench_server.py [--session S.npz | --layout 0 --seed 0 --frames 120]
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


def minimaps(session: dict) -> list[tuple[np.ndarray, np.ndarray]]:
  from poemap.stitch import MinimapCanvas, shrink_with_origin
  frames = session["frames"]
  canvas, out = MinimapCanvas(frames[0]), []
  for i, f in enumerate(frames):
    if i: canvas.add(f)
    out.append(shrink_with_origin(canvas.image, canvas.origin))
  return out


def load_models(unet: str | None, vit: str | None):
  from models.checkpoint import load_unet, load_vit
  from models.config import DEFAULT_UNET as UNET_CFG, build_unet
  from models.vit import ViT
  from poemap.usererror import UserError
  from stream.server import DEFAULT_UNET, DEFAULT_VIT, PUBLISHED_UNET, PUBLISHED_VIT, find_model
  try: u, un = load_unet(p := find_model(unet, (DEFAULT_UNET, PUBLISHED_UNET), "UNet")), p.stem
  except UserError:
    if unet is not None: raise
    print(f"no trained UNet found: timing a random {UNET_CFG!r} UNet (same cost)")
    u, un = build_unet(UNET_CFG), f"random-{UNET_CFG}"
  try: v, vn = load_vit(p := find_model(vit, (DEFAULT_VIT, PUBLISHED_VIT), "ViT")), p.stem
  except UserError:
    if vit is not None: raise
    print("no trained ViT found: timing a random default ViT (same cost)")
    v, vn = ViT(), "random-vit"
  return u, v, (un, vn)


def run(maps, unet, vit, names, incremental: bool, unet_batch: int) -> tuple[dict[str, list[float]], list[dict]]:
  from stream.comms import Client
  from stream.server import InferenceServer, bind
  with tempfile.TemporaryDirectory() as data:
    srv = InferenceServer(unet, vit, incremental=incremental, data=data, unet_batch=unet_batch, names=names)
    srv.warmup()
    ctx = zmq.Context()
    sock, _ = bind(ctx, "tcp://127.0.0.1:*")
    stop = threading.Event()
    th = threading.Thread(target=srv.serve, args=(sock, stop), daemon=True)
    th.start()
    stages: dict[str, list[float]] = {"roundtrip": []}
    replies = []
    try:
      with Client(sock.getsockopt(zmq.LAST_ENDPOINT).decode(), timeout_ms=600_000, retries=0) as c:
        for img, origin in maps:
          t = time.perf_counter()
          r = c.process(img, origin, "bench")
          stages["roundtrip"].append((time.perf_counter() - t) * 1000)
          for k, v in r["timings"].items(): stages.setdefault(k, []).append(v)
          replies.append(r.fields)
    finally:
      stop.set(); th.join(10); sock.close(0); ctx.term()
  return stages, replies


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--session", help="a replay .npz from poemap.sim (default: render one)")
  ap.add_argument("--layout", type=int, default=0)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--frames", type=int, default=120)
  ap.add_argument("--skip", type=int, default=10, help="frames left out of the steady-state figures")
  ap.add_argument("--unet")
  ap.add_argument("--vit")
  ap.add_argument("--unet-batch", type=int, default=32)
  ap.add_argument("--modes", default="on,off", help="incremental modes to time: on, off or on,off")
  ap.add_argument("--off-every", type=int, default=10, help="incremental off recomputes every tile, so it times frame 0 "
                  "(the session's statistics) and every k-th steady-state frame only")
  args = ap.parse_args()

  from poemap.sim.session import load_session, make_session
  t = time.perf_counter()
  session = load_session(args.session) if args.session else make_session(args.layout, args.seed, n_frames=args.frames)
  maps = minimaps(session)
  print(f"{len(maps)} frames, final minimap {maps[-1][0].shape[:2]}, prepared in {time.perf_counter() - t:.1f}s")
  unet, vit, names = load_models(args.unet, args.vit)
  results = {}
  for mode in args.modes.split(","):
    t = time.perf_counter()
    sel = maps if mode == "on" else maps[:1] + [None] * (args.skip - 1) + maps[args.skip::args.off_every]
    stages, replies = run([m for m in sel if m is not None], unet, vit, names, mode == "on", args.unet_batch)
    if mode != "on":  # line the sampled frames up with the steady-state slice
      stages = {k: v[:1] * args.skip + v[1:] for k, v in stages.items()}
      replies = replies[:1] * args.skip + replies[1:]
    results[mode] = stages, replies
    print(f"incremental {mode}: {len(sel) - sel.count(None)} frames in {time.perf_counter() - t:.1f}s")
  keys = [k for k in ("decode", "unet", "clean", "tokenize", "vit", "total", "roundtrip") if all(k in r[0] for r in results.values())]
  print(f"\nper-frame ms over frames {args.skip}..{len(maps) - 1} (UNet {names[0]}, batch {args.unet_batch}, ViT {names[1]})")
  print(f"{'stage':<10}" + "".join(f"{f'{m} median':>13}{f'{m} p95':>10}" for m in results))
  for k in keys:
    print(f"{k:<10}" + "".join(f"{np.median(r[0][k][args.skip:]):13.1f}{np.percentile(r[0][k][args.skip:], 95):10.1f}" for r in results.values()))
  for m, (_, replies) in results.items():
    tiles = [r["tiles_computed"] for r in replies[args.skip:]]
    print(f"{m}: tiles computed per frame median {np.median(tiles):.0f} (of {replies[-1]['tiles_total']} at the end), "
          f"statuses {sorted(set(r['status'] for r in replies))}")
  if len(results) == 2:
    on, off = results["on"][1], results["off"][1]
    same = [on[i]["probs"] == off[args.skip + j]["probs"] for j, i in enumerate(range(args.skip, len(maps), args.off_every))]
    print(f"incremental on/off replies identical on the {len(same)} compared frames:", all(same))


if __name__ == "__main__": main()

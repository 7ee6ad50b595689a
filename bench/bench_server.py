"""Server latency per frame, by stage, for the bundled and the published pipelines side by side.

Replays a synthetic session the way the client does (stitch with MinimapCanvas, shrink ×½: INTER_AREA for
the bundled path, INTER_CUBIC for the published one, and by default the client's send rule, poemap/tiles.py: the
last minimap sent with only the tiles refreshed where the fog can have lifted; --full-canvas sends the whole canvas
as the client did before) and sends every minimap through a real loopback socket to an in-process server. Prints
median and p95 of each stage's server-side time, of the client's round trip and of the tiles recomputed per frame,
over the steady state (frames after --skip). Columns:

  bundled          --unet / --vit (default the bundled checkpoints UNet_synth + ViT_synth), bundled input path,
                   incremental; every frame
  published        the published architectures (AttentionUNet8_8600, ViT6_219_15) with random weights (same
                   cost) or the checkpoints when downloaded, on the published input path: per-request statistics,
                   exact, so nearly every revealed tile is recomputed on every frame: only every --published-every-th
                   frame is timed (tens of seconds each on two cores)
  published-fixed  the same networks with fixed statistics and tile reuse (the bundled path's trick): every frame
                   (or --fixed-frames after --skip). Not exact for the published UNet (docs/MODELS.md measures
                   the drift: line F1 down to 0.886, 70/72 layouts agree)

`--unet published` / `--vit published` put the published architectures (random weights) in the first column.
Below the table, for the first column: per frame, the tiles recomputed, the tiles whose UNet mask changed, and
the tiles where the fog lifted (a pixel black in the last minimap is revealed now); then the same pipeline on the
other send mode (rule vs whole canvas): tiles, UNet and total ms, the raw mask's F1 against the sim's ground truth
(the lines the fog has revealed, poemap.sim) for both, and how often the two name the same layout.

  .venv/bin/python bench/bench_server.py [--session S.npz | --layout 0 --seed 0 --frames 120] [--columns bundled,published,published-fixed]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from tinygrad import Device

from models.checkpoint import load_unet, load_vit
from models.config import DEFAULT_UNET as UNET_CONFIG
from models.config import build_unet
from models.vit import ViT
from poemap.colorfilter import confusion, scores
from poemap.contract import PUBLISHED_UNET, PUBLISHED_VIT
from poemap.fidelity import BUNDLED, DARKEST, PUBLISHED, shrink_cubic_with_origin
from poemap.sim import interrupt
from poemap.sim.layout import half_scale, make_layout
from poemap.sim.look import Look
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, make_world
from poemap.sim.session import load_session, make_session
from poemap.stitch import MinimapCanvas, crop, shrink_with_origin
from poemap.tiles import FOG_CORE, FOG_REACH, FogRule, TileSender, grid, placement, tile_any
from poemap.usererror import UserError
from stream.comms import Client
from stream.server import DEFAULT_UNET, DEFAULT_VIT, InferenceServer, find_model, serving


def minimaps(session: dict, shrink=None, rule: FogRule | None = FogRule(),
             darkest: bool = False) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int | None]]:
  """The client's minimaps (½ scale, origin) per frame, as stream.client.Streamer sends them: with `rule` the last one
  sent with only the tiles refreshed where the fog can have lifted (poemap.tiles), None the whole canvas (`darkest`:
  the canvas's darkest views, whole, as the client sends a server whose UNet was made for them); and per frame how many
  tiles the rule took from the canvas (None: the minimap went whole)."""
  shrink = shrink or shrink_with_origin
  frames = session["frames"]
  canvas, out, refreshed = MinimapCanvas(frames[0], darkest=darkest), [], []
  sender = TileSender(rule) if rule is not None and not darkest else None
  for i, f in enumerate(frames):
    ok = not i or canvas.add(f)
    if ok and sender is not None: sender.moved(canvas.position - canvas.origin, canvas.merges)
    img, origin = shrink(canvas.dark if darkest else canvas.image, canvas.origin)
    out.append((sender.minimap(img, origin) if sender is not None else img, origin))
    refreshed.append(sender.refreshed if sender is not None else None)
  return out, refreshed


def truth(session: dict, maps: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
  """The sim's ground truth per frame, on each minimap's pixels: the map lines the fog has revealed by then, at ½ scale
  (poemap.sim.layout.half_scale, as the UNet's training masks). The canvas is placed by the walk's first position,
  which is the origin (the stitcher's sub-pixel error is left in: it costs both send modes alike)."""
  look = Look.from_dict(json.loads(str(session.get("look", "{}"))))
  lid, seed, n = int(session["layout_id"]), int(session["seed"]), len(session["frames"])
  layout = make_layout(lid, seed)
  walk, world = walk_full(layout, seed, n), make_world(layout, seed, look)
  kinds = [str(k) for k in session["kinds"]] if "kinds" in session else [""] * n
  idx = np.cumsum([0] + [k not in interrupt.STILL for k in kinds[1:]])  # as make_session: the walk's step each frame shows
  reveal, out = Reveal(layout.shape, world.fog_axes), []
  for t, (img, origin) in enumerate(maps):
    if t == 0 or idx[t] != idx[t - 1]: reveal.visit(walk.trails[idx[t]])
    y0, x0 = (np.asarray(session["layout_positions"][0]) - 2 * np.asarray(origin)).tolist()
    h, w = 2 * img.shape[0], 2 * img.shape[1]
    out.append(half_scale(crop(world.map_lines, y0, x0, h, w) & (crop(reveal.mask, y0, x0, h, w) > 0)).astype(bool))
  return out


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
    stages: dict[str, list[float]] = {"roundtrip": []}
    replies, extra = [], []
    with serving(srv) as endpoint, Client(endpoint, timeout_ms=3_600_000, retries=0) as c:
      for img, origin in maps:
        t = time.perf_counter()
        r = c.process(img, origin, "bench")
        stages["roundtrip"].append((time.perf_counter() - t) * 1000)
        for k, v in r["timings"].items(): stages.setdefault(k, []).append(v)
        replies.append(r.fields)
        st = srv.sessions.get("bench")  # the server thread is idle between requests
        assert st is not None
        extra.append((None if st.changed is None else int(st.changed.sum()), st.mask.copy() if keep_masks else None))
  return stages, replies, extra


def fog_lifted(prev, cur) -> np.ndarray:
  """bool tile grid of cur: tiles with a pixel revealed now that was black (or off the canvas) in prev."""
  img, origin = cur
  was = np.zeros(img.shape[:2], bool)
  if prev is not None:
    shift = placement(prev[0].shape, prev[1], img.shape, origin)
    if shift is not None: was[shift[0]:shift[0] + prev[0].shape[0], shift[1]:shift[1] + prev[0].shape[1]] = prev[0].any(-1)
  return tile_any(img.any(-1) & ~was) if img.size else np.zeros(grid(*img.shape[:2]), bool)


def f1(a: np.ndarray, b: np.ndarray) -> float:
  return scores(*confusion(a, b))["f1"]


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
  ap.add_argument("--fixed-frames", type=int, default=0, help="published-fixed column: consecutive frames timed after --skip (0: to the end)")
  ap.add_argument("--full-canvas", action="store_true", help="the table's minimaps are the whole canvas every frame (stream.client "
                  "--full-canvas, the client before the send rule) instead of the client's default send rule")
  ap.add_argument("--darkest", action="store_true", help="the bundled column's client keeps the canvas's darkest views and sends them "
                  "whole (what it does for a UNet trained with train_unet.py --darkest; the other send mode is then the plain "
                  "whole canvas)")
  ap.add_argument("--fog-reach", type=float, default=FOG_REACH, help="the send rule's reach (stream.client --fog-reach)")
  ap.add_argument("--fog-core", type=float, default=FOG_CORE, help="the send rule's core (stream.client --fog-core)")
  ap.add_argument("--no-compare", action="store_true", help="skip the first column's run on the other send mode (rule vs whole canvas)")
  args = ap.parse_args()

  t = time.perf_counter()
  session = load_session(args.session) if args.session else make_session(args.layout, args.seed, n_frames=args.frames)
  cols = args.columns.split(",")
  if args.darkest and args.full_canvas: raise SystemExit("--darkest sends the darkest views whole: leave out --full-canvas")
  rule = FogRule(args.fog_reach, args.fog_core)
  sent = "darkest whole" if args.darkest else "send rule"  # the table's name for the send mode that is not the whole canvas
  mode = ("whole canvas" if args.full_canvas else "the canvas's darkest views, whole" if args.darkest
          else f"send rule (reach {rule.reach:g}, core {rule.core:g} ½-scale px)")
  # with --darkest the bundled non-whole minimaps are the darkest views (minimaps() leaves the rule out for them)
  shrinks = {(BUNDLED, True): None, (BUNDLED, False): None, (PUBLISHED, True): shrink_cubic_with_origin,
             (PUBLISHED, False): shrink_cubic_with_origin}
  send = {k: minimaps(session, sh, None if k[1] else rule, darkest=args.darkest and k == (BUNDLED, False)) for k, sh in shrinks.items()
          if k[0] == BUNDLED or any(c.startswith("published") for c in cols) or args.unet == "published"}
  maps, cubic = send[(BUNDLED, args.full_canvas)][0], send.get((PUBLISHED, args.full_canvas), ([], []))[0]
  n = len(maps)
  print(f"{n} frames, final minimap {maps[-1][0].shape[:2]}, prepared in {time.perf_counter() - t:.1f}s; the client sends: {mode}")
  results, frames = {}, {}
  for col in cols:
    t = time.perf_counter()
    if col == "bundled":
      (u, un), (v, vn) = load_model("UNet", args.unet, DEFAULT_UNET, PUBLISHED_UNET), load_model("ViT", args.vit, DEFAULT_VIT, PUBLISHED_VIT)
      path = PUBLISHED if args.unet == "published" else DARKEST if args.darkest else BUNDLED
      idx, sel = list(range(n)), cubic if path == PUBLISHED else maps
    else:
      (u, un), (v, vn) = load_model("UNet", "published", DEFAULT_UNET, PUBLISHED_UNET), load_model("ViT", "published", DEFAULT_VIT, PUBLISHED_VIT)
      if col == "published": path, idx = PUBLISHED, [0] + list(range(args.skip, n, args.published_every))
      elif col == "published-fixed":  # frames before skip give it its steady state
        path, idx = BUNDLED, list(range(min(n, args.skip + args.fixed_frames) if args.fixed_frames else n))
      else: raise SystemExit(f"unknown column {col!r}")
      sel = cubic
    stages, replies, extra = run([sel[i] for i in idx], u, v, (un, vn), path, unet_batch=args.unet_batch, keep_masks=col == "bundled", beam=args.beam)
    keep = [k for k, i in enumerate(idx) if i >= args.skip]
    results[col] = {k: [s[j] for j in keep] for k, s in stages.items()}, [replies[j] for j in keep], [extra[j] for j in keep], (un, vn, path)
    frames[col] = (idx, replies, extra, (u, un), (v, vn), path)
    print(f"{col}: {un} + {vn}, {path} input path, {len(idx)} frames ({len(keep)} in the steady state) in {time.perf_counter() - t:.1f}s")

  print(f"\nper-frame ms over the steady-state frames (after {args.skip}); the client sends: {mode}; UNet batch {args.unet_batch}; "
        f"device {Device.DEFAULT}, BEAM={args.beam}")
  print(f"{'':<12}" + "".join(f"{c:>24}" for c in results))
  print(f"{'stage':<12}" + "".join(f"{'median':>12}{'p95':>12}" for _ in results))
  for k in ("decode", "unet", "clean", "tokenize", "vit", "total", "roundtrip"):
    print(f"{k:<12}" + "".join(f"{np.median(r[0][k]):12.1f}{np.percentile(r[0][k], 95):12.1f}" if k in r[0] else f"{'':>24}"
                               for r in results.values()))
  row = lambda name, f: print(f"{name:<12}" + "".join(f"{np.median(v):12.0f}{np.percentile(v, 95):12.0f}" for v in (f(r) for r in results.values())))
  row("tiles", lambda r: [x["tiles_computed"] for x in r[1]])
  row("of total", lambda r: [x["tiles_total"] for x in r[1]])
  row("frames", lambda r: [len(r[1])] * 2)

  if "bundled" not in frames: return
  s = slice(args.skip, None)
  idx, replies, extra, (u, un), (v, vn), path = frames["bundled"]
  lifted = [int(fog_lifted(maps[i - 1] if i else None, maps[i]).sum()) for i in idx]
  comp, chg = [r["tiles_computed"] for r in replies[s]], [e[0] for e in extra[s] if e[0] is not None]
  print(f"\ntiles per frame (bundled column, {mode}, frames {args.skip}..{n - 1}): median / p95 / mean")
  for name, vals in (("recomputed (pixels changed)", comp), ("UNet mask changed", chg), ("fog lifted (new pixels)", lifted[s])):
    print(f"  {name:<28}{np.median(vals):8.0f}{np.percentile(vals, 95):8.0f}{np.mean(vals):8.1f}")
  runs = {args.full_canvas: (results["bundled"][0], replies, extra)}
  key = PUBLISHED if path == PUBLISHED else BUNDLED  # which replay of the client the bundled column's path reads
  if not args.no_compare:
    t = time.perf_counter()
    other = send[(key, not args.full_canvas)][0]
    runs[not args.full_canvas] = run(other, u, v, (un, vn), path, unet_batch=args.unet_batch, keep_masks=True, beam=args.beam)
    st = runs[not args.full_canvas][0]
    runs[not args.full_canvas] = ({k: x[s] for k, x in st.items()},) + runs[not args.full_canvas][1:]
    print(f"(the bundled column on the {sent if args.full_canvas else 'whole canvas'} too: {time.perf_counter() - t:.0f}s)")
  gt = truth(session, send[(key, True)][0])  # the same canvas grid either way
  print(f"\nsend modes, bundled column (frames {args.skip}..{n - 1}); mask F1 against the sim's ground-truth revealed lines, pooled over "
        "frames (per-frame min / median) and on the last frame")
  print(f"{'sends':<14}{'tiles med':>10}{'p95':>6}{'unet ms':>9}{'p95':>8}{'total ms':>10}{'p95':>8}{'F1 pooled':>11}{'min':>7}{'med':>7}"
        f"{'last':>7}{'layout right':>14}")
  for full in sorted(runs, reverse=True):
    st, rep, ex = runs[full]
    masks = [e[1] > 0 for e in ex]
    conf = np.sum([confusion(m, g) for m, g in zip(masks[s], gt[s])], 0)
    per = [f1(m, g) for m, g in zip(masks[s], gt[s])]
    tiles = [r["tiles_computed"] for r in rep[s]]
    right = sum(r["layout_id"] == int(session["layout_id"]) for r in rep[s])
    print(f"{'whole canvas' if full else sent:<14}{np.median(tiles):10.0f}{np.percentile(tiles, 95):6.0f}{np.median(st['unet']):9.1f}"
          f"{np.percentile(st['unet'], 95):8.1f}{np.median(st['total']):10.1f}{np.percentile(st['total'], 95):8.1f}{scores(*conf)['f1']:11.4f}"
          f"{min(per):7.3f}{np.median(per):7.3f}{per[-1]:7.3f}{f'{right}/{len(rep[s])}':>14}")
  if len(runs) == 2:
    (_, ra, ea), (_, rb, eb) = runs[True], runs[False]
    same = sum(a["layout_id"] == b["layout_id"] for a, b in zip(ra[s], rb[s]))
    f1s = [f1(a[1] > 0, b[1] > 0) for a, b in zip(ea[s], eb[s])]
    refreshed = [r for r in send[(key, False)][1][s] if r is not None]
    took = f"; tiles the rule took from the canvas median {np.median(refreshed):.0f} / p95 {np.percentile(refreshed, 95):.0f}" if refreshed else ""
    print(f"{sent} vs whole canvas: layout the same on {same}/{len(ra[s])} frames, raw mask F1 "
          f"between them min {min(f1s):.3f} / median {np.median(f1s):.3f} / last {f1s[-1]:.3f}{took}")


if __name__ == "__main__": main()

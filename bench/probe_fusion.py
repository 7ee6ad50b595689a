"""End-to-end probe: what limits the server's raw UNet mask F1 on a sim session, and what a per-pixel vote over views gains.

Replays sim sessions as the client does (MinimapCanvas, ½ scale, TileSender) through the server's own incremental
update_mask (stream/session.py), keeps each frame's raw mask and which minimap pixels changed, and scores the raw mask
against the sim's truth (bench_server.truth) at frames 9, 19, 29 and the last. Minimap streams per session (--streams):

  rule     the product: the canvas as the client sends it (poemap/tiles.py, only tiles where the fog can have lifted)
  rule+k   not the product: the same, but every tile the rule took is taken from the canvas again at the next k sends
           (a second view of what the fog just lifted, for a vote)
  canvas   the whole canvas every frame (--full-canvas in bench_server)
  repaint  not the product: every accepted frame pasted whole where the canvas placed it (what the server would see if
           the canvas repainted everything it captures): the most views a canvas could give

Per session it prints the stitcher's accepted / skipped frames and its worst placement error, the UNet's F1 on the last
frame by itself (no canvas), and per stream the single (raw) F1 and the fused F1 of each vote rule; a table per family
and stream at the end ("kept": sessions the stitcher placed at least half the frames of). Views: a pixel gets a new view
when its minimap value changed (or it is new); son2 is the server's --fuse (stream/session.py update_fused). Records are
cached under --cache (a session is replayed once per set of streams). docs/PERFORMANCE.md has the figures of:

  PYTHONPATH=. .venv/bin/python bench/probe_fusion.py --streams rule,canvas --families spells,multicolour --seeds 13000-13015
  PYTHONPATH=. .venv/bin/python bench/probe_fusion.py --streams rule,canvas --families coast --seeds 13000-13007
  PYTHONPATH=. .venv/bin/python bench/probe_fusion.py --streams rule,canvas --families cave,bright,sea,fires --seeds 13000-13001
  PYTHONPATH=. .venv/bin/python bench/probe_fusion.py --streams rule,canvas,rule+2 --families spells,multicolour --seeds 13050-13057
  PYTHONPATH=. .venv/bin/python bench/probe_fusion.py --streams rule,canvas,rule+2 --families coast --seeds 13050-13052
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import pickle
import sys
from typing import Any
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from bench_server import truth
from models.checkpoint import load_tiled_unet
from poemap.colorfilter import confusion, scores
from poemap.fidelity import channel_stats
from poemap.sim.layout import half_scale
from poemap.sim.look import Look, named_look
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, make_world
from poemap.sim.layout import make_layout
from poemap.sim.session import make_session
from poemap.stitch import MinimapCanvas, crop, shrink_with_origin
from poemap.contract import TILE
from poemap.tiles import FogRule, TileSender, paste_tiles, placement
from stream.session import update_mask

STREAMS = ("rule", "canvas", "repaint")  # the streams a cached record may hold, with RESEND's
RESEND = {"rule+1": 1, "rule+2": 2}  # not the product: the send rule, each tile it took from the canvas taken again the next k sends


def streams(session: dict) -> tuple[dict[str, list], dict]:
  """Per stream the (minimap, origin) per frame, and the stitcher's figures."""
  frames = session["frames"]
  canvas, sender = MinimapCanvas(frames[0]), TileSender(FogRule())
  mine, mine_cov, mine_org = canvas.image.copy(), canvas.covered.copy(), canvas.origin.copy()
  out: dict[str, list] = {k: [] for k in STREAMS + tuple(RESEND)}
  resent: dict[str, tuple] = {k: (None, []) for k in RESEND}  # (last minimap sent, origin), and the recent (tiles, origin) taken
  err, acc = [], []
  for i, f in enumerate(frames):
    ok = not i or canvas.add(f)
    acc.append(bool(ok))
    if ok: sender.moved(canvas.position - canvas.origin, canvas.merges)
    # the repaint stream: follow the canvas's growth, paste the accepted frame whole
    if mine.shape != canvas.image.shape or not np.array_equal(mine_org, canvas.origin):
      dy, dx = (canvas.origin - mine_org).tolist()
      img, cov = np.zeros_like(canvas.image), np.zeros(canvas.image.shape[:2], bool)
      h, w = mine.shape[:2]
      img[dy:dy + h, dx:dx + w], cov[dy:dy + h, dx:dx + w] = mine, mine_cov
      mine, mine_cov, mine_org = img, cov, canvas.origin.copy()
    if ok:
      y0, x0 = canvas._rounded().tolist()
      fh, fw = f.shape[:2]
      mine[y0:y0 + fh, x0:x0 + fw], mine_cov[y0:y0 + fh, x0:x0 + fw] = f, True
      err.append(float(np.abs(canvas.position - canvas.origin - np.asarray(session["positions"][i])).max()))
    img, origin = shrink_with_origin(canvas.image, canvas.origin)
    out["canvas"].append((img, origin))
    out["rule"].append((sender.minimap(img, origin), origin))
    for k, n in RESEND.items():
      last, recent = resent[k]
      recent = [(sender.tiles, origin)] + recent[:n] if sender.tiles is not None else []  # a whole send starts afresh
      take = None
      if last is not None and recent:
        take = np.zeros_like(sender.tiles)
        for tl, org in recent:
          d = placement((tl.shape[0] * TILE, tl.shape[1] * TILE), org, (take.shape[0] * TILE, take.shape[1] * TILE), origin)
          if d is not None: take[d[0] // TILE:d[0] // TILE + tl.shape[0], d[1] // TILE:d[1] // TILE + tl.shape[1]] |= tl
      sent = paste_tiles(last[0], last[1], img, origin, take) if take is not None and last is not None else None
      sent = np.ascontiguousarray(img).copy() if sent is None else sent
      resent[k] = ((sent, origin.copy()), recent)
      out[k].append((sent, origin))
    out["repaint"].append((shrink_with_origin(np.where(mine_cov[..., None], mine, canvas.image), canvas.origin)[0], origin))
  return out, {"accepted": int(sum(acc)), "frames": len(frames), "max_err": max(err) if err else 0.0, "acc": acc}


def frame_truth(session: dict, t: int) -> np.ndarray:
  """The sim's truth on frame t itself at ½ scale (4K looks only: frame px = 4K minimap px)."""
  layout = make_layout(int(session["layout_id"]), int(session["seed"]))
  look = Look.from_dict(json.loads(str(session["look"])))
  walk, world = walk_full(layout, int(session["seed"]), len(session["frames"])), make_world(layout, int(session["seed"]), look)
  reveal = Reveal(layout.shape, world.fog_axes)
  for k in range(t + 1): reveal.visit(walk.trails[k])
  h, w = session["frames"].shape[1:3]
  y0, x0 = (np.asarray(session["layout_positions"][t]) - np.asarray(session["center"])).tolist()
  return half_scale(crop(world.map_lines, y0, x0, h, w) & (crop(reveal.mask, y0, x0, h, w) > 0)).astype(bool)


def replay(unet, maps: list) -> list:
  """The server's raw masks (update_mask, incremental) per frame, with per frame (mask, changed pixels, shift)."""
  prev, out = None, []
  for img, origin in maps:
    state, _ = update_mask(unet, prev, img, origin, True)
    changed = np.ones(img.shape[:2], bool)
    if prev is not None and state.shift is not None:
      (dy, dx), (ph, pw) = state.shift, prev.minimap.shape[:2]
      changed[dy:dy + ph, dx:dx + pw] = (img[dy:dy + ph, dx:dx + pw] != prev.minimap).any(2)
    out.append((np.packbits(state.mask.astype(bool)), np.packbits(changed), img.shape[:2], state.shift, bool(img.any(2).any())))
    prev = state
  return out


def unpack(a, shape): return np.unpackbits(a, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def cached(path: Path, fn):
  if path.exists():
    with gzip.open(path, "rb") as f: return pickle.load(f)
  v = fn()
  path.parent.mkdir(parents=True, exist_ok=True)
  with gzip.open(path, "wb") as f: pickle.dump(v, f)
  return v


def record(unet, name: str, fam: str, seed: int, frames: int, evals: list[int], cache: Path, which: tuple[str, ...] = STREAMS) -> dict:
  def make():
    s = make_session(seed % 8, seed, frames, look=named_look(fam, seed))
    maps, stitch = streams(s)
    gts = truth(s, maps["canvas"])
    last = s["frames"][-1]
    fimg, _ = shrink_with_origin(last, np.zeros(2))
    fmask = unet.mask(fimg, channel_stats(maps["canvas"][0][0]))
    rec = {"stitch": stitch, "truth": {t: np.packbits(gts[t]) for t in evals}, "frame": confusion(fmask, frame_truth(s, frames - 1)),
           "streams": {k: replay(unet, v) for k, v in maps.items() if k in which}}
    return rec
  full = cache / f"{name}_{fam}_{seed}_{frames}.pkl.gz"  # a record of the first three streams serves a subset of them
  return cached(full if full.exists() and set(which) <= set(STREAMS) else cache / f"{name}_{fam}_{seed}_{frames}_{'_'.join(which)}.pkl.gz", make)


def fuse(rec: list, evals: list[int], rules: dict) -> dict[str, dict[int, np.ndarray]]:
  """Replay the per-pixel view history; per rule the fused mask at each eval frame. H: nv views, on line votes among them,
  since views since (and including) the first line vote, son line votes among those, run line votes in a row up to the
  latest view, last the latest view's vote. An unchanged pixel keeps its view, whose vote may still change (its tile was
  recomputed for a neighbour's sake): the vote is replaced, not added."""
  out: dict[str, dict[int, np.ndarray]] = {r: {} for r in rules}
  keys = ("nv", "on", "since", "son", "run", "last")
  H: dict[str, np.ndarray] = {}
  for t, (mp, cp, shape, shift, _) in enumerate(rec):
    m, ch = unpack(mp, shape), unpack(cp, shape)
    if not H or shift is None: H = {k: np.zeros(shape, np.int16) for k in keys}
    elif H["nv"].shape != tuple(shape) or shift != (0, 0):
      dy, dx = shift
      new = {k: np.zeros(shape, np.int16) for k in keys}
      for k, v in H.items(): new[k][dy:dy + v.shape[0], dx:dx + v.shape[1]] = v
      H = new
    mi, last = m.astype(np.int16), H["last"]
    H["nv"] += ch
    H["on"] += np.where(ch, mi, mi - last)
    started = H["since"] > 0
    start = ~started & m  # the first line vote
    H["since"] += (ch & started) | start
    H["son"] += np.where(start, 1, np.where(started, np.where(ch, mi, mi - last), 0)).astype(np.int16)
    H["run"] = np.where(ch, np.where(m, H["run"] + 1, 0), np.where(m, np.maximum(H["run"], 1), 0)).astype(np.int16)
    H["last"] = mi
    if t in evals:
      for r, fn in rules.items(): out[r][t] = np.asarray(fn(m, H))
  return out


RULES = {
  "single": lambda m, H: m,
  "maj_all": lambda m, H: 2 * H["on"] > H["nv"],                                         # strict majority over every view
  "maj_since_k3": lambda m, H: np.where(H["since"] >= 3, 2 * H["son"] > H["since"], m),  # judge only pixels with 3+ views since
  "confirm2": lambda m, H: (H["son"] >= 2) & (2 * H["son"] > H["since"]),                 # two line views, most since the first
  "confirm2h": lambda m, H: (H["son"] >= 2) & (2 * H["son"] >= H["since"]),
  "son2": lambda m, H: H["son"] >= 2,  # any two line views: stream/session.py update_fused (the server's --fuse)
  "run2": lambda m, H: H["run"] >= 2,                                                     # the latest two views both line
}


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--families", default="spells,multicolour,coast")
  ap.add_argument("--seeds", default="13000-13011", help="a-b (inclusive) or a,b,c")
  ap.add_argument("--unet", default="UNet_synth_looks")
  ap.add_argument("--frames", type=int, default=40)
  ap.add_argument("--cache", default="/tmp/probe_fusion")
  ap.add_argument("--streams", default=",".join(STREAMS), help="which streams to replay through the UNet")
  args = ap.parse_args()
  a, _, b = args.seeds.partition("-")
  seeds = list(range(int(a), int(b) + 1)) if b else [int(s) for s in args.seeds.split(",")]
  unet = load_tiled_unet(args.unet)
  evals = [t for t in (9, 19, 29, args.frames - 1) if t < args.frames]
  tot: collections.defaultdict[Any, np.ndarray] = collections.defaultdict(lambda: np.zeros(3, np.int64))
  for fam in args.families.split(","):
    for seed in seeds:
      rec = record(unet, args.unet, fam, seed, args.frames, evals, Path(args.cache), tuple(args.streams.split(",")))
      st = rec["stitch"]
      line = [f"{fam} {seed} stitch {st['accepted']}/{st['frames']} err {st['max_err']:.1f} frame F1 {scores(*rec['frame'])['f1']:.3f}"]
      tot[(fam, "-", "frame")] += np.asarray(rec["frame"])
      for k in [k for k in rec["streams"] if k in args.streams.split(",")]:
        fused = fuse(rec["streams"][k], evals, RULES)
        for r in RULES:
          c = np.sum([confusion(fused[r][t].astype(bool), unpack(rec["truth"][t], rec["streams"][k][t][2])) for t in evals], 0)
          tot[(fam, k, r)] += c
          if st["accepted"] < st["frames"] // 2: tot[(fam, k + "/lost", r)] += c
          else: tot[(fam, k + "/kept", r)] += c
          if r in ("single", "son2"): line.append(f"{k}:{r} {scores(*c)['f1']:.3f}")
      print(" ".join(line), flush=True)
  rules = list(RULES)
  print("family".ljust(12), "stream".ljust(13), *[r.rjust(13) for r in rules])
  for key in sorted({k[:2] for k in tot}):
    print(key[0].ljust(12), key[1].ljust(13), *[f"{scores(*tot[key + (r,)])['f1']:13.3f}" for r in (rules if key[1] != "-" else ["frame"])])


if __name__ == "__main__":
  main()

"""Stitching accuracy on synthetic Coast sessions, against ground truth.

  --suite coast (default): MinimapCanvas over seeded 60-frame 4K replays of every class in the
    coast's look; final position error per session and the share within 2 px.
  --suite stress: one session per seed, each in a look drawn from the seed (poemap.sim.look: every
    family, parallax 1.1-10, line colour, alpha, width, fog, resolution) with interruptions
    (poemap.sim.interrupt). Scores every consecutive frame pair with find_translation (right: within
    1 px; wrong: a translation more than 2 px off, interruption pairs included, except a screen that is
    not the map shown twice alike, e.g. a passive tree left open, whose shift is the screen's; None) and every
    whole session with MinimapCanvas (interruptions pasted, frames placed more than 2 px off, final
    error, and whether the canvas says it is lost). Prints a scoreboard per look family and per
    interruption kind. With --looks named, each seed's session is in a family's preset instead
    (family = FAMILIES[seed % 7]: parallax 3, mid alpha, 3 px lines), e.g. long sessions without
    interruptions, where small moves over a world three times faster are common.

  .venv/bin/python bench/eval_stitch.py --suite stress --seeds 1000-1041 [--frames 30] [--jobs 2]
  .venv/bin/python bench/eval_stitch.py --suite stress --looks named --frames 40 --interruptions 0 --seeds 9000-9041
"""
import argparse
import sys
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poemap.sim import interrupt  # noqa: E402
from poemap.sim.look import FAMILIES, Look, named_look, random_look  # noqa: E402
from poemap.sim.session import load_session, make_session, parse_seeds, save_session  # noqa: E402
from poemap.stitch import MIN_LONG, RELOCATE_NEED, MinimapCanvas, find_translation, long_line_pixels  # noqa: E402
from poemap.contract import CAPTURE_SIDE  # noqa: E402
from stream.capture import to_pipeline_scale  # noqa: E402

RIGHT, WRONG = 1.0, 2.0   # px: a pair within RIGHT is right, beyond WRONG is wrong
MIN_OVERLAP = 200         # px of map-line length (4K) both frames show: pairs that must be found


def session_look(seed: int, looks: str = "random") -> Look:
  """The stress suite's look for a seed: drawn from it, or (`named`) the preset of family seed % 7."""
  return random_look(seed) if looks == "random" else named_look(FAMILIES[seed % len(FAMILIES)], seed)


def stress_session(seed: int, frames: int, interruptions: int, cache: str | None = None, looks: str = "random", lead_in: int = 0,
                   lead_in_kind: str = "loading") -> dict:
  look = session_look(seed, looks)
  lead = f"_lead{lead_in}{'' if lead_in_kind == 'loading' else lead_in_kind}" if lead_in else ''
  name = f"stress_{seed}_{frames}_{interruptions}{'' if looks == 'random' else '_' + looks}{lead}.npz"
  path = Path(cache) / name if cache else None
  if path is not None and path.is_file(): s = load_session(path)
  else:
    s = make_session(seed % 9, seed, frames, look=look, interruptions=interruptions, lead_in=lead_in, lead_in_kind=lead_in_kind)
    if path is not None: save_session(path, s, overwrite=True)
  # what the client hands the canvas: every screen's capture square at the 4K geometry
  k = CAPTURE_SIDE / s["frames"].shape[1]
  f = np.stack([to_pipeline_scale(x) for x in s["frames"]])
  pos, kinds, overlap = s["positions"] * k, [str(k) for k in s["kinds"]], s["overlap"]
  pairs = []
  for t in range(1, len(f)):
    t0 = time.perf_counter()
    r = find_translation(f[t - 1], f[t])
    dt = time.perf_counter() - t0
    kind = kinds[t - 1] or kinds[t]
    err = None if r is None else float(np.abs(np.array(r[:2]) - (pos[t] - pos[t - 1])).max())
    # one screen that is not the map shown twice alike (a passive tree left open): whatever shift is found is the
    # screen's, not the map's, so it is neither right nor wrong about the map (the canvas must still refuse it)
    static = bool(kinds[t]) and kinds[t - 1] == kinds[t] and np.array_equal(f[t - 1], f[t])
    pairs.append({"t": t, "kind": kind, "err": err, "conf": None if r is None else r[2], "overlap": int(overlap[t]), "ms": 1000 * dt,
                  "move": float(np.abs(pos[t] - pos[t - 1]).max()), "static": static})
  c = MinimapCanvas(f[0])
  pasted, misplaced, worst, ms, last_ok, placed = [], 0, 0.0, [], 0, []
  for t in range(1, len(f)):
    t0 = time.perf_counter()
    ok = c.add(f[t])
    ms.append(1000 * (time.perf_counter() - t0))
    if ok and kinds[t]: pasted.append(t)
    if ok:
      last_ok = t
      placed.append((t, c.position - c.origin, c.began_after))
  # a canvas that began late (MinimapCanvas.began_late) places frames from where it began: that is what its frames
  # claim and are scored on, and its final error too (final_began; `final` is from the entrance, which it can't know)
  start = pos[c.began_after]
  # a frame taken before the canvas began (a passive tree left open on arrival, placed on itself) is not in it
  pasted = [t for t in pasted if t >= c.began_after]
  for t, est, began in placed:  # each claim from where the canvas that made it began
    e = float(np.abs(est - (pos[t] - pos[began])).max())
    worst = max(worst, e)
    misplaced += e > WRONG
  final = float(np.abs((c.position - c.origin) - pos[-1]).max())
  final_began = float(np.abs((c.position - c.origin) - (pos[-1] - start)).max())  # the truth counted from where it began
  # for a session that ends lost: the most canvas lines any later map frame shares at its true place;
  # below relocation's minimum no stitcher that places frames against the canvas could find it again
  corner = c.origin - np.array(f.shape[1:3]) // 2 - start  # where the first frame's top-left would lie
  reach = max((c.shared_line_pixels(f[t], corner + pos[t]) for t in range(last_ok + 1, len(f)) if not kinds[t]), default=0) if c.lost else 0
  # what the canvas claims: the player where the last accepted frame showed them
  claim = float(np.abs((c.position - c.origin) - (pos[last_ok] - start)).max())
  return {"lost": c.lost, "seed": seed, "layout": seed % 9, "look": look, "pairs": pairs, "pasted": len(pasted), "misplaced": misplaced,
          "worst": worst,
          "final": final, "final_began": final_began, "skipped": c.skipped, "kinds": [k for k in kinds if k], "add_ms": float(np.median(ms)),
          "entrance": long_line_pixels(f[kinds.index("")]),
          "late": c.began_after if c.began_late else None, "claim": claim, "reach": reach, "stale": len(f) - 1 - last_ok}


def _run_stress(args) -> dict: return stress_session(*args)


def stress(a) -> int:
  seeds = parse_seeds(a.seeds)
  jobs = [(s, a.frames, a.interruptions, a.cache, a.looks, a.lead_in, a.lead_in_kind) for s in seeds]
  if a.jobs > 1:
    with Pool(a.jobs) as p: res = list(tqdm(p.imap(_run_stress, jobs), total=len(jobs), desc="sessions"))
  else:
    res = [stress_session(*j) for j in tqdm(jobs, desc="sessions")]
  print("\nper session (seed, layout, look): final error, frames placed > 2 px off, interruptions pasted, skipped")
  for r in res:
    print(f"  {r['seed']:5d} L{r['layout']} {r['look'].describe():88s} final {r['final']:7.2f} px{' (lost)' if r['lost'] else '       '}  "
          f"misplaced {r['misplaced']:2d}  pasted {r['pasted']}  skipped {r['skipped']:2d}  entrance {r['entrance']:4d} long px  "
          f"[{','.join(sorted(set(r['kinds'])))}]"
          f"{'' if r['late'] is None else '  began late, frame %d: final %.2f px from there' % (r['late'], r['final_began'])}")
  def board(title: str, key):
    rows = defaultdict(list)
    for r in res:
      for p in r["pairs"]: rows[key(r, p)].append(p)
    print(f"\n{title:14s} {'pairs':>6s} {'right':>6s} {'wrong':>6s} {'None':>6s} {'must':>6s} {'found':>7s} {'ms med':>7s}")
    tot: defaultdict[str, int] = defaultdict(int)
    for name in sorted(rows, key=lambda n: (n not in FAMILIES, FAMILIES.index(n) if n in FAMILIES else 0, n)):
      ps = rows[name]
      right = sum(p["err"] is not None and not p["kind"] and p["err"] <= RIGHT for p in ps)
      wrong = sum(p["err"] is not None and p["err"] > WRONG and not p["static"] for p in ps)
      none = sum(p["err"] is None for p in ps)
      must = [p for p in ps if not p["kind"] and p["overlap"] >= MIN_OVERLAP]
      found = sum(p["err"] is not None and p["err"] <= RIGHT for p in must)
      print(f"{name:14s} {len(ps):6d} {right:6d} {wrong:6d} {none:6d} {len(must):6d} {100 * found / max(1, len(must)):6.1f}% "
            f"{np.median([p['ms'] for p in ps]):7.1f}")
      for k, v in (("pairs", len(ps)), ("right", right), ("wrong", wrong), ("none", none), ("must", len(must)), ("found", found)): tot[k] += v
    print(f"{'all':14s} {tot['pairs']:6d} {tot['right']:6d} {tot['wrong']:6d} {tot['none']:6d} {tot['must']:6d} "
          f"{100 * tot['found'] / max(1, tot['must']):6.1f}%")
    return tot
  if a.show_wrong:
    print("\nwrong pairs (seed, frame, kind, error px, confidence, move px, overlap px):")
    for r in res:
      for p in r["pairs"]:
        if p["err"] is not None and p["err"] > WRONG and not p["static"]:
          print(f"  {r['seed']} t={p['t']} {p['kind'] or 'game'} err {p['err']:.1f} conf {p['conf']:.2f} move {p['move']:.0f} overlap {p['overlap']}")
  tot = board("look family", lambda r, p: r["look"].family)
  board("pair kind", lambda r, p: p["kind"] or "game")
  # a canvas begun late can't know where the entrance lay: it ends right when it is right from where it began (for any
  # other canvas that is the entrance: the player stands there while no frame shows the game)
  finals = np.array([r["final_began"] for r in res])
  ok = int((finals <= WRONG).sum())
  lost = [r for r in res if r["lost"] and r["final_began"] > WRONG]
  # not lost yet (fewer than LOST_AFTER frames refused at the end): right for the frame it last took, or wrong
  stale = [r for r in res if not r["lost"] and r["final_began"] > WRONG and r["claim"] <= WRONG]
  wrong_end = [r for r in res if not r["lost"] and r["final_began"] > WRONG and r["claim"] > WRONG]
  pasted, misplaced = sum(r["pasted"] for r in res), sum(r["misplaced"] for r in res)
  print(f"\nsessions: {ok}/{len(res)} end within {WRONG} px (median {np.median(finals):.2f} px; a late canvas from where it began); "
        f"{len(lost)} end lost "
        f"(the canvas says so: {', '.join(str(r['seed']) for r in lost) or '-'}); {len(stale)} end on their last frames refused, "
        f"placed right where they last stitched ({', '.join('%d (%d refused)' % (r['seed'], r['stale']) for r in stale) or '-'}); "
        f"{len(wrong_end)} end placed more than {WRONG} px off ({', '.join(str(r['seed']) for r in wrong_end) or '-'})")
  late = [r for r in res if r["late"] is not None]
  print(f"  {len(late)} began late (no shift could be pinned to the entrance, or nothing after it placed it; frames scored "
        f"from where the canvas began): {', '.join('%d (frame %d)' % (r['seed'], r['late']) for r in late) or '-'}")
  # nothing can place a frame against an entrance frame without long line runs (the ground and the world offer only
  # fragments): such a canvas begins late, and the lost among them may have been lost from where it began
  sparse = [r for r in lost if r["entrance"] < MIN_LONG]
  print(f"  of the lost, {len(sparse)} start from an entrance frame with fewer than {MIN_LONG} ½-scale px of long line runs "
        f"({', '.join(str(r['seed']) for r in sparse) or '-'})")
  apart = [r for r in lost if r["entrance"] >= MIN_LONG and r["reach"] < RELOCATE_NEED]
  print(f"  of the others, {len(apart)} never again show {RELOCATE_NEED} ½-scale px of the canvas's lines (the player walked on into "
        f"new ground; the most any later frame shares, px: {', '.join('%d (%d)' % (r['seed'], r['reach']) for r in apart) or '-'})")
  print(f"frames: interruptions pasted {pasted}; frames placed > {WRONG} px off {misplaced} of {sum(len(r['pairs']) for r in res)}; "
        f"median canvas add {np.median([r['add_ms'] for r in res]):.0f} ms")
  static = [p for r in res for p in r["pairs"] if p["static"]]
  print(f"pairs: {tot['wrong']} wrong of {tot['pairs']} ({len(static)} pairs of one screen shown twice alike, not the map, not "
        f"counted: {sum(p['err'] is not None for p in static)} found a shift); {tot['found']}/{tot['must']} "
        f"({100 * tot['found'] / max(1, tot['must']):.1f} %) right where both frames show >= {MIN_OVERLAP} px of map lines")
  return 0 if tot["wrong"] == 0 and ok == len(res) and pasted == 0 and misplaced == 0 else 1


def coast(a) -> int:
  errs, t_make, t_stitch = [], [], []
  for i in range(a.sessions):
    layout_id, seed = i % 9, a.seed + i // 9
    t0 = time.perf_counter()
    s = make_session(layout_id, seed, a.frames)
    t1 = time.perf_counter()
    c = MinimapCanvas(s["frames"][0])
    for f in s["frames"][1:]: c.add(f)
    t2 = time.perf_counter()
    err = float(np.abs((c.position - c.origin) - s["positions"][-1]).max())
    errs.append(err); t_make.append(t1 - t0); t_stitch.append((t2 - t1) / max(1, a.frames - 1))
    print(f"session {i:2d} layout {layout_id} seed {seed}: final error {err:8.2f} px, skipped {c.skipped:2d}, "
          f"farthest {np.abs(s['positions']).max():6.0f} px, render {t1 - t0:5.1f} s", flush=True)
  ok = sum(e <= a.tolerance for e in errs)
  print(f"\n{ok}/{len(errs)} sessions ({100 * ok / len(errs):.0f} %) within {a.tolerance} px; median error {np.median(errs):.2f} px")
  print(f"median session render {np.median(t_make):.1f} s for {a.frames} frames; median stitch {1000 * np.median(t_stitch):.0f} ms/frame")
  return 0


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--suite", choices=("coast", "stress"), default="coast")
  ap.add_argument("--sessions", type=int, default=20, help="coast: number of sessions")
  ap.add_argument("--frames", type=int, default=None, help="frames per session (coast 60, stress 30)")
  ap.add_argument("--seed", type=int, default=0, help="coast: first seed")
  ap.add_argument("--seeds", default="1000-1041", help="stress: seeds, e.g. 1000-1041 or 5,7,9-12 (one session each)")
  ap.add_argument("--interruptions", type=int, default=3, help="stress: interruption events per session")
  ap.add_argument("--lead-in", type=int, default=0, help="stress: loading screens before each session's entrance")
  ap.add_argument("--lead-in-kind", choices=interrupt.KINDS, default="loading", help="stress: what the --lead-in frames show")
  ap.add_argument("--looks", choices=("random", "named"), default="random", help="stress: each seed's look drawn from it, or a family's preset")
  ap.add_argument("--jobs", type=int, default=1, help="stress: sessions in parallel (timings are then shared-CPU timings)")
  ap.add_argument("--tolerance", type=float, default=2.0)
  ap.add_argument("--cache", default=None, help="stress: keep rendered sessions in this directory and reuse them")
  ap.add_argument("--show-wrong", action="store_true", help="stress: list every wrong pair")
  a = ap.parse_args()
  if a.suite == "coast":
    a.frames = a.frames or 60
    return coast(a)
  a.frames = a.frames or 30
  return stress(a)


if __name__ == "__main__":
  sys.exit(main())

"""'You are here' accuracy: the player's marker on the guide (poemap.guidepos.register) against the truth.

For every seed and class: an instance of the class (poemap.sim.layout, that seed), a simulated walk
(poemap.sim.player) and its fog of war; at every `--every`-th frame the revealed map lines at 1/2
scale (what a perfect UNet gives: layout lines where fog lifted, poemap.sim.layout.half_scale) are
registered with the class's guide (poemap.sim.guides: instance GUIDE_SEED, with its metadata), the
placement of one frame being the prior of the next as in the client. The truth is
poemap.sim.guides.guide_truth: the corridors' centre lines correspond at equal arc-length fractions
(node to node), any point is carried by the moving-least-squares similarity of the correspondences
around it (continuous), onto the guide's ground.

Columns: the marker shown (the filter's when confident, else entrance + scale, as the overlay draws
it), the confident markers alone and the share refused, and entrance + scale alone (the metadata's
scale). The calibration lines say how often the marker shown is within 15 px per quality band (the
quality claims that chance) and for quality >= q.
"Predicted" is the true layout here: this measures registration given the right guide, not the ViT.
The last line covers the frames where the layout is predictable, i.e. an expert who knows the guides
could tell it (poemap.sim.dataset.rival_classes names no other class), the same rule that curates the
ViT's test samples. Errors are in guide px divided by the guide's scale, i.e. px at 1/2 scale (guide
px are about 0.4 of those on the synthetic guides; both are printed).

  .venv/bin/python bench/eval_guide_position.py --seeds 300-304 [--frames 60] [--every 3] [--jobs 2]
"""
import argparse
import sys
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poemap import guidepos  # noqa: E402
from poemap.guidepos import GuideRef, register  # noqa: E402
from poemap.sim.classes import N_CLASSES  # noqa: E402
from poemap.sim.dataset import rival_classes  # noqa: E402
from poemap.sim.guides import GUIDE_SEED, guide_image, guide_meta, guide_truth  # noqa: E402
from poemap.sim.layout import half_scale, make_layout  # noqa: E402
from poemap.sim.player import walk_full  # noqa: E402
from poemap.sim.render import Reveal  # noqa: E402
from poemap.sim.session import parse_seeds  # noqa: E402

STAGES = ("early", "middle", "late")  # thirds of the walk


_refs: dict[int, tuple] = {}


def _knobs(knobs: dict) -> None:
  for k, v in knobs.items(): setattr(guidepos, k, type(getattr(guidepos, k))(v))


def guide(l: int):
  if l not in _refs: _refs[l] = (GuideRef(guide_image(l), guide_meta(l)), make_layout(l, GUIDE_SEED))
  return _refs[l]


def run_one(job: tuple[int, int, int, int]) -> list[dict]:
  l, seed, n_frames, every = job
  ref, glay = guide(l)
  lay = make_layout(l, seed)
  w = walk_full(lay, seed, n_frames)
  rev = Reveal(lay.shape)
  origin = lay.entrance / 2
  truth = guide_truth(lay, glay, w.positions)
  out, prior = [], None
  for t in range(n_frames):
    rev.visit(w.trails[t])
    if t % every: continue
    # only the revealed box (whole 2x2 blocks) is half-scaled: the rest of the mask is empty anyway
    ys, xs = np.nonzero(rev.mask[::8, ::8])
    y0, x0 = max(0, ys.min() * 8 - 16) // 2 * 2, max(0, xs.min() * 8 - 16) // 2 * 2
    mask = half_scale(lay.lines[y0:ys.max() * 8 + 16, x0:xs.max() * 8 + 16] & (rev.mask[y0:ys.max() * 8 + 16, x0:xs.max() * 8 + 16] > 0))
    top = np.array([y0, x0]) / 2
    p = prior = register(mask, origin - top, w.positions[t] / 2 - top, ref, prior)
    anchored = np.asarray(ref.meta.entrance) + ref.meta.scale * (w.positions[t] / 2 - origin)
    err = lambda yx: float(np.hypot(*(np.asarray(yx) - truth[t]))) / ref.meta.scale
    # the filter's own estimate, also where the placement refused it (what refusing gives up)
    est = np.asarray(ref.meta.entrance) + p.scale * (w.positions[t] / 2 - origin) + np.asarray(p.offset) if p.offset is not None else p.yx
    out.append({"layout": l, "seed": seed, "t": t, "stage": STAGES[min(2, 3 * t // n_frames)], "status": p.status, "quality": p.quality,
                "reason": p.reason.split(" (")[0].split(":")[0], "err": err(p.yx) if p.yx is not None else np.inf,
                "err_est": err(est) if est is not None else np.inf, "err_entrance": err(anchored), "scale": ref.meta.scale,
                "predictable": t > 0 and not rival_classes(lay, rev.mask)})
  return out


def stats(e: np.ndarray) -> str:
  return f"median {np.median(e):6.1f}  p95 {np.percentile(e, 95):6.1f}" if len(e) else "   (none)"


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("300-304"), help="instance seeds, e.g. 300-304,310 (the guides are instance 0)")
  ap.add_argument("--frames", type=int, default=60)
  ap.add_argument("--every", type=int, default=3, help="register every n-th frame")
  ap.add_argument("--jobs", type=int, default=2)
  ap.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE", help="override a poemap.guidepos knob (tuning), e.g. PRIOR_LOCAL=3")
  a = ap.parse_args()
  knobs = {k: float(v) for k, v in (kv.split("=", 1) for kv in a.set)}
  for k in knobs:
    if not hasattr(guidepos, k): ap.error(f"--set: poemap.guidepos has no knob {k}")
  t0 = time.time()
  jobs = [(l, s, a.frames, a.every) for s in a.seeds for l in range(N_CLASSES)]
  with Pool(a.jobs, _knobs, (knobs,)) as pool: rows = [r for rs in pool.imap(run_one, jobs) for r in rs]
  if knobs: print("knobs: " + ", ".join(f"{k}={v:g}" for k, v in knobs.items()))
  print(f"{len(jobs)} walks ({len(a.seeds)} seeds x {N_CLASSES} classes), {len(rows)} placements, {time.time() - t0:.0f} s; error in px at 1/2 scale")
  E = lambda rs, k="err": np.array([r[k] for r in rs])
  pred = [r for r in rows if r["predictable"]]
  sure = lambda rs: [r for r in rs if r["status"] == "registered"]
  refused = lambda rs: f"{1 - len(sure(rs)) / len(rs):4.0%}" if rs else "   -"
  print(f"{'':30s} {'marker shown':>22s}   {'confident markers':>22s} refused   {'entrance + scale only':>22s}")
  for l in range(N_CLASSES):
    rs = [r for r in pred if r["layout"] == l]
    print(f"class {l} (n={len(rs):3d}) predictable  {stats(E(rs))}   {stats(E(sure(rs)))}  {refused(rs)}     {stats(E(rs, 'err_entrance'))}")
  for st in STAGES:
    rs = [r for r in pred if r["stage"] == st]
    print(f"stage {st:6s} (n={len(rs):3d}) predictable {stats(E(rs))}   {stats(E(sure(rs)))}  {refused(rs)}     {stats(E(rs, 'err_entrance'))}")
  by: defaultdict[str, int] = defaultdict(int)
  for r in pred: by[r["status"] + (f" ({r['reason']})" if r["reason"] else "")] += 1
  print("status (predictable): " + "; ".join(f"{k}: {v}" for k, v in sorted(by.items(), key=lambda kv: -kv[1])))
  # is the quality honest? it claims the chance the marker shown is within 15 px
  q, es, ee = E(pred, "quality"), E(pred), E(pred, "err_est")
  bands = [(0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 1.01)]
  print("calibration (predictable, the marker shown): " + ", ".join(
    f"quality {lo:.2f}-{min(hi, 1):.2f}: claims {q[m].mean() if m.any() else 0:.0%}, "
    f"{(es[m] <= 15).mean() if m.any() else 0:.0%} within 15 px of {m.sum()}"
    for lo, hi in bands for m in [(q >= lo) & (q < hi)]))
  print("quality >= q (predictable): " + ", ".join(
    f">= {t:.2f}: {(es[q >= t] <= 15).mean() if (q >= t).any() else 0:.0%} within 15 px, {(es[q >= t] <= 40).mean() if (q >= t).any() else 0:.0%} "
    f"within 40 of {(q >= t).sum()}" for t in (0, 0.05, 0.1, 0.15)))
  print(f"the filter's estimate, refused or not (predictable): {stats(ee)}")
  g = np.array([r["err"] * r["scale"] for r in pred])
  print(f"in guide px (predictable): {stats(g)}; entrance + scale only: {stats(E(pred, 'err_entrance') * E(pred, 'scale'))}")
  c = E(sure(pred))
  print(f"confident markers (predictable): {stats(c)}, {len(c)} of {len(pred)} "
        f"({1 - len(c) / max(1, len(pred)):.0%} refused: entrance + scale shown, and said)")
  e = E(pred)
  print(f"marker error: median {np.median(e):.1f} px, p95 {np.percentile(e, 95):.1f} px")


if __name__ == "__main__": main()

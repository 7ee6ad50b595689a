"""python -m poemap.sim {session,dataset,guides,pictures,baseline} — the synthetic Coast from the shell."""
from __future__ import annotations

import argparse
import sys
import time

from poemap.colorfilter import line_f1, unet_group_pairs
from poemap.sim.dataset import look_families, write_dataset
from poemap.sim.guides import write_guides
from poemap.sim.interrupt import KINDS
from poemap.sim.look import FAMILIES, parse_look
from poemap.sim.pictures import write_pictures
from poemap.sim.session import make_session, save_session


def _resolution(s: str) -> tuple[int, int]:
  try:
    w, h = (int(v) for v in s.lower().split("x"))
  except ValueError:
    raise argparse.ArgumentTypeError(f"resolution must look like 3840x2160, got {s!r}") from None
  if w < 64 or h < 64: raise argparse.ArgumentTypeError(f"resolution too small: {s}")
  return w, h


def _layout_id(s: str) -> int:
  v = int(s)
  if not 0 <= v < 9: raise argparse.ArgumentTypeError(f"layout must be 0..8, got {v}")
  return v


LOOK_HELP = "'default' (the coast's look), 'random' (drawn from the seed) or a family: " + ", ".join(FAMILIES)


def _look(s: str) -> str:
  if s.startswith("random:"):
    try: look_families(s)
    except ValueError as e: raise argparse.ArgumentTypeError(str(e)) from None
  elif s not in ("default", "random", "mixed") + FAMILIES: raise argparse.ArgumentTypeError(f"unknown look {s!r}: {LOOK_HELP}")
  return s


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(prog="python -m poemap.sim", description=__doc__)
  sub = ap.add_subparsers(dest="cmd", required=True)
  p = sub.add_parser("session", help="render a replay session (.npz)")
  p.add_argument("--layout", type=_layout_id, required=True)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", required=True)
  p.add_argument("--frames", type=int, default=60)
  p.add_argument("--resolution", type=_resolution, default=None, help="screen (default: the look's; the coast's is 3840x2160)")
  p.add_argument("--compress", action="store_true", help="zip the frames (smaller, slower)")
  p.add_argument("--look", type=_look, default="default", help=LOOK_HELP)
  p.add_argument("--interruptions", type=int, default=0, help="frames that are not the minimap: this many events (alt-tab, loading, panels, ...)")
  p.add_argument("--lead-in", type=int, default=0, help="loading screens before the entrance (the capture begun as the log names the area)")
  p.add_argument("--lead-in-kind", choices=KINDS, default="loading", help="what the --lead-in frames show (tree: the passive tree opened on arrival)")
  p = sub.add_parser("dataset", help="write a data directory in the published format")
  p.add_argument("--out", required=True)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--instances-per-class", type=int, default=2)
  p.add_argument("--test-per-class", type=int, default=1)
  p.add_argument("--unet-groups", type=int, default=18)
  p.add_argument("--crops-per-group", type=int, default=6)
  p.add_argument("--test-frames", type=int, default=40)
  p.add_argument("--look", type=_look, default="default", help=LOOK_HELP + " (UNet groups; drawn per train layout), or 'mixed': "
                 "every fourth train layout in the coast's own look, the others random, or 'random:FAM,FAM,...': random knobs "
                 "within the listed families in turn (a family listed twice gets twice the layouts)")
  p = sub.add_parser("guides", help="write the guide images <out>/<id>.png")
  p.add_argument("--out", required=True)
  p.add_argument("--overwrite", action="store_true")
  p = sub.add_parser("pictures", help="write the docs pictures")
  p.add_argument("--out", default="docs/img")
  p = sub.add_parser("baseline", help="colour-filter line F1 on a data directory's UNet groups")
  p.add_argument("--data", required=True)
  a = ap.parse_args(argv)

  t0 = time.time()
  if a.cmd == "session":
    if a.frames < 1: ap.error("--frames must be >= 1")
    if a.interruptions < 0: ap.error("--interruptions must be >= 0")
    if not 0 <= a.lead_in < a.frames: ap.error("--lead-in must be >= 0 and below --frames")
    if a.look == "mixed" or a.look.startswith("random:"): ap.error(f"--look {a.look} is for datasets; a session has one look")
    look = parse_look(a.look, a.seed)
    s = make_session(a.layout, a.seed, a.frames, a.resolution, progress=True, look=look, interruptions=a.interruptions, lead_in=a.lead_in,
                     lead_in_kind=a.lead_in_kind)
    save_session(a.out, s, compress=a.compress)
    print(f"wrote {a.out}: {s['frames'].shape[0]} frames {s['frames'].shape[1]}x{s['frames'].shape[2]}, layout {a.layout}, fps {s['fps']:.2f}, "
          f"look {look.describe()} ({time.time() - t0:.1f}s)")
  elif a.cmd == "dataset":
    c = write_dataset(a.out, a.seed, a.instances_per_class, a.test_per_class, a.unet_groups, a.crops_per_group, a.test_frames, look=a.look)
    print(f"wrote {a.out}: " + ", ".join(f"{k} {v}" for k, v in c.items()) + f" ({time.time() - t0:.1f}s)")
  elif a.cmd == "guides":
    for f in write_guides(a.out, overwrite=a.overwrite): print(f)
  elif a.cmd == "pictures":
    for f in write_pictures(a.out): print(f)
  elif a.cmd == "baseline":
    r = line_f1(unet_group_pairs(a.data))
    if r["tp"] + r["fn"] == 0: print("no UNet groups with line pixels found", file=sys.stderr); return 1
    print(f"colour filter on {a.data} UNet crops: precision {r['precision']:.3f} recall {r['recall']:.3f} F1 {r['f1']:.3f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

#!/usr/bin/env python3
"""Label a collected live session as test data: move data/train/collect/<ts>_* into
data/test/<LAYOUT_ID>/<instance>/ and add the timestamps to data/test/curation_mask.json.

  label_data.py LAYOUT_ID            move every collected sample (one session) into a new instance
  label_data.py LAYOUT_ID TS [TS..]  move (and curate) only these samples
  label_data.py c                    count test samples per layout id
"""
import argparse

from poemap.labeling import N_LAYOUTS, count_table, label_data, parse_layout, parse_stamp
from poemap.usererror import UserError, run_main


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("layout", metavar="LAYOUT_ID", help="layout id 0..N-1, or c to count")
  ap.add_argument("stamps", metavar="TS", nargs="*", help="collect timestamps (<ts>_tokens.npz); default: all")
  ap.add_argument("--instance", type=int, help="add to this instance id instead of a new one")
  ap.add_argument("--layouts", type=int, default=N_LAYOUTS, help="number of layouts of the area (default %(default)s)")
  ap.add_argument("--data", help="data directory (default: $POEMAP_DATA or <repo>/data)")
  a = ap.parse_args()
  if a.layout == "c":
    if a.stamps: raise UserError("`c` takes no further arguments")
    return print(count_table(a.data, "test"))
  layout = parse_layout(a.layout, a.layouts)
  if a.instance is not None and a.instance < 0: raise UserError(f"--instance must be >= 0, got {a.instance}")
  idir, stamps = label_data(a.data, layout, [parse_stamp(s) for s in a.stamps] or None, a.instance)
  print(f"moved {len(stamps)} sample(s) to {idir} and curated them in test/curation_mask.json: {' '.join(stamps)}")


if __name__ == "__main__": run_main(main)

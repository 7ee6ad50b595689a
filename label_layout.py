#!/usr/bin/env python3
"""Label a collected full layout: move data/train/collect/<MINIMAP_ID>_* into data/train/<LAYOUT_ID>/<instance>/.

  label_layout.py LAYOUT_ID MINIMAP_ID   move one collected layout into the next free instance
  label_layout.py c                      count training layouts per layout id
"""
import argparse

from poemap.labeling import N_LAYOUTS, count_table, label_layout, parse_layout, parse_stamp
from poemap.usererror import UserError, run_main


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("layout", metavar="LAYOUT_ID", help="layout id 0..N-1, or c to count")
  ap.add_argument("minimap_id", metavar="MINIMAP_ID", nargs="?", help="timestamp of the collected sample (<ts>_raw.png)")
  ap.add_argument("--instance", type=int, help="add to this instance id instead of a new one (next free sample number)")
  ap.add_argument("--layouts", type=int, default=N_LAYOUTS, help="number of layouts of the area (default %(default)s)")
  ap.add_argument("--data", help="data directory (default: $POEMAP_DATA or <repo>/data)")
  a = ap.parse_args()
  if a.layout == "c":
    if a.minimap_id is not None: raise UserError("`c` takes no further arguments")
    return print(count_table(a.data, "train"))
  layout = parse_layout(a.layout, a.layouts)
  if a.minimap_id is None: raise UserError("missing MINIMAP_ID (the <ts> of data/train/collect/<ts>_raw.png)")
  if a.instance is not None and a.instance < 0: raise UserError(f"--instance must be >= 0, got {a.instance}")
  for src, dst in label_layout(a.data, layout, parse_stamp(a.minimap_id), a.instance): print(f"moved {src} -> {dst}")


if __name__ == "__main__": run_main(main)

#!/usr/bin/env python3
"""Label a collected full layout: move data/train/collect/<MINIMAP_ID>_* into data/train/<LAYOUT_ID>/<instance>/.

  label_layout.py LAYOUT_ID MINIMAP_ID   move one collected layout into the next free instance
  label_layout.py c                      count training layouts per layout id
"""
from poemap.datatools.labeling import label_layout, parse_label_args, parse_stamp
from poemap.usererror import UserError, run_main


def main() -> None:
  a = parse_label_args(__doc__, "train",
                       ("minimap_id", dict(metavar="MINIMAP_ID", nargs="?", help="timestamp of the collected sample (<ts>_raw.png)")),
                       "add to this instance id instead of a new one (next free sample number)")
  if a is None: return
  if a.minimap_id is None: raise UserError("missing MINIMAP_ID (the <ts> of data/train/collect/<ts>_raw.png)")
  for src, dst in label_layout(a.data, a.layout, parse_stamp(a.minimap_id), a.instance): print(f"moved {src} -> {dst}")


if __name__ == "__main__": run_main(main)

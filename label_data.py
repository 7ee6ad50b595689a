#!/usr/bin/env python3
"""Label a collected live session as test data: move data/train/collect/<ts>_* into
data/test/<LAYOUT_ID>/<instance>/ and add the timestamps to data/test/curation_mask.json.

  label_data.py LAYOUT_ID            move every collected sample (one session) into a new instance
  label_data.py LAYOUT_ID TS [TS..]  move (and curate) only these samples
  label_data.py c                    count test samples per layout id
"""
from poemap.datatools.labeling import label_data, parse_label_args, parse_stamp
from poemap.usererror import run_main


def main() -> None:
  a = parse_label_args(__doc__, "test", ("stamps", dict(metavar="TS", nargs="*", help="collect timestamps (<ts>_tokens.npz); default: all")),
                       "add to this instance id instead of a new one")
  if a is None: return
  idir, stamps = label_data(a.data, a.layout, [parse_stamp(s) for s in a.stamps] or None, a.instance)
  print(f"moved {len(stamps)} sample(s) to {idir} and curated them in test/curation_mask.json: {' '.join(stamps)}")


if __name__ == "__main__": run_main(main)

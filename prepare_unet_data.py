#!/usr/bin/env python3
"""Turn screenshots into UNet training pairs: data/auto_crop_50/<group>/<i>.npz + data/mask_50/<group>.npz.

Input folder (one group = one revealed minimap):
  INPUT/maps/<group>/clean.png        the minimap moved over a dark, clean background
  INPUT/maps/<group>/noisy/*.png      the same minimap (nothing more revealed) elsewhere on screen, with noise
  INPUT/maps/<group>/boxes.json       optional {"crop": [y0,x0,y1,x1], "anchor": [y0,x0,y1,x1]} in clean.png
                                      pixels (end exclusive): the region to cut out (default: the blue
                                      lines' bounding box + --margin) and the box to align on (default:
                                      the lines themselves; e.g. the map's player icon)
  INPUT/background/<group>/*.png      screenshots with no minimap, all one size: all-zero mask
Ground truth is the blue colour filter of the clean crop; every noisy screenshot is aligned to it by
template matching; crops and mask are shrunk by half. Groups already in the data directory are skipped.
"""
import argparse

from poemap.datatools.unetprep import prepare
from poemap.usererror import UserError, run_main


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("input", metavar="INPUT", help="input folder (layout above)")
  ap.add_argument("--groups", nargs="+", metavar="G", help="only these groups")
  ap.add_argument("--margin", type=int, default=8, help="px around the lines' bounding box when boxes.json has no crop (default %(default)s)")
  ap.add_argument("--min-score", type=float, default=0.5, help="skip a screenshot whose best anchor match is below this (default %(default)s)")
  ap.add_argument("--data", help="data directory (default: $POEMAP_DATA or <repo>/data)")
  a = ap.parse_args()
  if a.margin < 0: raise UserError(f"--margin must be >= 0, got {a.margin}")
  for line in prepare(a.input, a.data, a.margin, a.min_score, a.groups): print(line)


if __name__ == "__main__": run_main(main)

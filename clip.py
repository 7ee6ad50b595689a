#!/usr/bin/env python3
"""Add a hand-drawn exploration path to a training layout.

Open data/train/<LAYOUT>/<INSTANCE>/0.png in an image editor (MS Paint), draw one line in pure yellow
(255,255,0) from the entrance along where a player could walk, select all and copy, then run
  clip.py LAYOUT INSTANCE                 reads the image from the clipboard
  clip.py LAYOUT INSTANCE --image FILE    reads a saved image instead (no clipboard needed)
The line's pixels, ordered from the entrance, are appended to data/train/<LAYOUT>/<INSTANCE>/paths.npz.
Undo the line, draw the next one, repeat. clip.ahk binds this to a hotkey in MS Paint.
"""
import argparse

from poemap.contract import FOG_RADIUS  # a path point reveals this radius: a start farther away misses the entrance
from poemap.datadir import data_root
from poemap.datatools.pathclip import add_path, grab_clipboard, read_image_file
from poemap.usererror import UserError, run_main


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("layout", metavar="LAYOUT", type=int, help="layout id (directory under data/train/)")
  ap.add_argument("instance", metavar="INSTANCE", type=int, help="instance id (directory under data/train/LAYOUT/)")
  ap.add_argument("--image", metavar="FILE", help="read the drawn image from FILE instead of the clipboard")
  ap.add_argument("--n", type=int, default=0, help="sample number of the layout image the path was drawn on (default 0)")
  ap.add_argument("--data", help="data directory (default: $POEMAP_DATA or <repo>/data)")
  a = ap.parse_args()
  idir = data_root(a.data) / "train" / str(a.layout) / str(a.instance)
  if not idir.is_dir(): raise UserError(f"no such layout instance: {idir} (label it first with label_layout.py)")
  image = read_image_file(a.image) if a.image else grab_clipboard()
  path, total, start = add_path(idir, image, a.n)
  print(f"added a path of {len(path)} points to {idir / 'paths.npz'} ({total} path(s) now)")
  if start > FOG_RADIUS: print(f"note: the path starts {start:.0f} px from the entrance; paths should start at the origin")


if __name__ == "__main__": run_main(main)

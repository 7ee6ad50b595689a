#!/usr/bin/env python3
"""Download the published poemap data and models (Hugging Face dataset hooved/poemap) into data/.

Files go through the Hugging Face cache (an interrupted download resumes when rerun) and are then
copied into the data directory; existing files are never overwritten (differing ones are listed).
Offline, the cache is used: HF_HUB_OFFLINE=1 skips the network, HF_HUB_CACHE=<dir> picks the cache.
"""
import argparse

from poemap.datadir import data_root
from poemap.datatools.hub import MODEL_PATTERNS, REPO_ID, get_data
from poemap.usererror import UserError, run_main


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--models-only", action="store_true", help=f"only {' and '.join(MODEL_PATTERNS)} (weights and layout guides)")
  ap.add_argument("--revision", help=f"branch, tag or commit of {REPO_ID} (default: main)")
  ap.add_argument("--link", action="store_true", help="hard-link files from the cache instead of copying (saves disk; do not edit them in place)")
  ap.add_argument("--data", help="data directory (default: $POEMAP_DATA or <repo>/data)")
  a = ap.parse_args()
  res = get_data(a.data, a.models_only, a.revision, a.link)
  print(f"{data_root(a.data)}: {len(res['added'])} file(s) added, {len(res['present'])} already present")
  if res["conflicts"]:
    shown = "\n  ".join(res["conflicts"][:20]) + ("\n  ..." if len(res["conflicts"]) > 20 else "")
    raise UserError(f"{len(res['conflicts'])} existing file(s) differ from the published ones and were left untouched:\n  {shown}\n"
                    "move them elsewhere and rerun to get the published versions")


if __name__ == "__main__": run_main(main)

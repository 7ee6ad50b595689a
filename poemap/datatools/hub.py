"""The published data and models: Hugging Face dataset `hooved/poemap` → the data directory.

Two steps. `snapshot_download` fetches the files into the Hugging Face cache (resumable: an
interrupted run continues where it stopped; offline it answers from the cache). Then the snapshot is
copied into the data directory file by file, atomically and never over an existing file: a file the
user changed or made under the same name is reported and left alone. (Downloading straight into the
data directory with `local_dir` would overwrite such files, and would report success offline as soon
as the directory is non-empty.)
"""
from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.utils import filter_repo_objects
from tqdm import tqdm

from poemap.datadir import data_root
from poemap.fileio import atomic_write_with
from poemap.usererror import UserError

REPO_ID = "hooved/poemap"
MODEL_PATTERNS = ["model/*.safetensors", "user/**"]  # weights and the layout guides: enough to run the demo
REPO_METADATA = [".gitattributes", "README.md"]  # the dataset card is not data; data/README.md is ours


def snapshot(patterns: list[str] | None = None, revision: str | None = None, repo_id: str = REPO_ID) -> Path:
  """Download (or find in the cache) the dataset snapshot; UserError with advice when neither works."""
  cache = constants.HF_HUB_CACHE
  try:
    return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns, ignore_patterns=REPO_METADATA))
  except (RepositoryNotFoundError, GatedRepoError) as e:
    raise UserError(f"the dataset {repo_id} was not found on {constants.ENDPOINT} or needs a login ({type(e).__name__})") from e
  except RevisionNotFoundError as e:
    raise UserError(f"the dataset {repo_id} has no revision {revision!r}") from e
  except LocalEntryNotFoundError as e:
    if constants.HF_HUB_OFFLINE:
      raise UserError(f"HF_HUB_OFFLINE is set and {repo_id} is not in the Hugging Face cache {cache}; "
                      "unset HF_HUB_OFFLINE to download, or point HF_HUB_CACHE at a cache that has it") from e
    raise UserError(f"cannot reach the Hugging Face Hub ({constants.ENDPOINT}) and {repo_id} is not in the cache {cache}. "
                    "Check the network connection (and HF_ENDPOINT); a cache from another machine works with "
                    "HF_HUB_CACHE=<dir> HF_HUB_OFFLINE=1") from e
  except (HfHubHTTPError, OSError) as e:
    # IncompleteSnapshotError and connection failures during the file downloads land here
    raise UserError(f"download of {repo_id} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}. "
                    f"Rerun to resume; offline, HF_HUB_OFFLINE=1 uses what is in the cache {cache}") from e


def snapshot_files(snap: Path, patterns: list[str] | None = None) -> list[str]:
  """Relative paths (POSIX) of the snapshot's files that match `patterns` (Hub pattern semantics)."""
  rels = sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file())
  rels = [r for r in rels if r not in REPO_METADATA and not r.startswith(".")]
  return list(filter_repo_objects(rels, allow_patterns=patterns))


def _place(src: Path, dst: Path, link: bool) -> None:
  """Make dst a complete copy of src or leave it absent; never replaces an existing dst."""
  dst.parent.mkdir(parents=True, exist_ok=True)
  if link:
    try: return os.link(src.resolve(), dst)  # the cache blob itself: no second copy on disk
    except FileExistsError: raise
    except OSError: pass  # another filesystem: copy instead
  atomic_write_with(dst, lambda tmp: shutil.copyfile(src, tmp))


def materialize(snap: Path, root: Path, patterns: list[str] | None = None, link: bool = False) -> dict[str, list[str]]:
  """Copy the snapshot into root. Returns {"added": [...], "present": [...], "conflicts": [...]} by
  relative path; a conflict is an existing file whose content differs (left untouched)."""
  out: dict[str, list[str]] = {"added": [], "present": [], "conflicts": []}
  rels = snapshot_files(snap, patterns)
  for rel in tqdm(rels, desc=f"placing files in {root}", unit="file"):
    src, dst = snap / rel, root / rel
    if dst.exists():
      out["present" if dst.is_file() and filecmp.cmp(src, dst, shallow=False) else "conflicts"].append(rel)
      continue
    try: _place(src, dst, link)
    except FileExistsError:  # appeared meanwhile: judge it like any existing file
      out["present" if filecmp.cmp(src, dst, shallow=False) else "conflicts"].append(rel)
      continue
    out["added"].append(rel)
  return out


def get_data(root: str | os.PathLike | None = None, models_only: bool = False, revision: str | None = None,
             link: bool = False) -> dict[str, list[str]]:
  patterns = MODEL_PATTERNS if models_only else None
  snap = snapshot(patterns, revision)
  res = materialize(snap, data_root(root), patterns, link)
  if not any(res.values()):
    raise UserError(f"the snapshot {snap} has no files{' matching ' + ', '.join(patterns) if patterns else ''}; "
                    "it may be an incomplete cache: rerun with network access")
  return res

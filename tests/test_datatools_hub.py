"""get_data.py without a network: a pre-populated Hugging Face cache, offline mode, a dead endpoint."""
import hashlib
import os
import socket
import time

from tests.datatools_run import run, tree, user_error

REV = "0123456789abcdef0123456789abcdef01234567"
FILES = {"model/AttentionUNet8_8600.safetensors": b"unet weights", "model/ViT6_219_15.safetensors": b"vit weights",
         "user/coast/0.png": b"guide 0", "user/coast/8.png": b"guide 8", "train/0/0/0.png": b"layout",
         "mask_50/g.npz": b"mask", "README.md": b"dataset card", ".gitattributes": b"*.npz lfs"}


def hub_cache(root):
  """The hub cache layout: blobs by hash, snapshots/<rev>/ of symlinks, refs/main (no newline)."""
  repo = root / "datasets--hooved--poemap"
  for rel, data in FILES.items():
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = repo / "snapshots" / REV / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
  (repo / "refs").mkdir()
  (repo / "refs" / "main").write_text(REV)
  return root


def closed_port():
  s = socket.socket()
  s.bind(("127.0.0.1", 0))
  port = s.getsockname()[1]
  s.close()
  return port


def hashes(names): return {n: hashlib.sha256(FILES[n]).hexdigest() for n in names}


def test_offline_from_cache_models_then_all(tmp_path):
  env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub_cache(tmp_path / "cache"))}
  data = tmp_path / "data"
  r = run("get_data.py", "--models-only", "--data", data, env=env)
  assert r.returncode == 0, r.stderr
  assert tree(data) == hashes([n for n in FILES if n.startswith(("model/", "user/"))])
  r = run("get_data.py", "--data", data, env=env)
  assert r.returncode == 0 and "2 file(s) added, 4 already present" in r.stdout, r.stdout + r.stderr
  assert tree(data) == hashes([n for n in FILES if n not in ("README.md", ".gitattributes")])  # the card is not data
  assert not any(p.is_symlink() for p in data.rglob("*"))


def test_existing_files_are_never_overwritten(tmp_path):
  env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub_cache(tmp_path / "cache"))}
  data = tmp_path / "data"
  (data / "train" / "0" / "0").mkdir(parents=True)
  (data / "train" / "0" / "0" / "0.png").write_bytes(b"my own layout")
  (data / "README.md").write_bytes(b"ours")
  user_error(run("get_data.py", "--data", data, env=env), "train/0/0/0.png", "left untouched")
  assert (data / "train" / "0" / "0" / "0.png").read_bytes() == b"my own layout" and (data / "README.md").read_bytes() == b"ours"
  assert (data / "model" / "ViT6_219_15.safetensors").read_bytes() == FILES["model/ViT6_219_15.safetensors"]


def test_link_option_shares_the_cache_blob(tmp_path):
  cache = hub_cache(tmp_path / "cache")
  r = run("get_data.py", "--models-only", "--link", "--data", tmp_path / "data", env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)})
  assert r.returncode == 0, r.stderr
  got = tmp_path / "data" / "user" / "coast" / "0.png"
  assert got.stat().st_ino == (cache / "datasets--hooved--poemap" / "snapshots" / REV / "user/coast/0.png").resolve().stat().st_ino


def test_offline_without_cache_is_a_clear_error(tmp_path):
  r = run("get_data.py", "--data", tmp_path / "data", env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty")})
  user_error(r, "HF_HUB_OFFLINE", str(tmp_path / "empty"))
  assert not (tmp_path / "data").exists()


def test_unreachable_hub(tmp_path):
  port = closed_port()
  env = {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "empty")}
  t = time.time()
  user_error(run("get_data.py", "--data", tmp_path / "data", env=env), "cannot reach", f"127.0.0.1:{port}", "HF_HUB_OFFLINE")
  assert time.time() - t < 30
  env["HF_HUB_CACHE"] = str(hub_cache(tmp_path / "cache"))  # unreachable but cached: the cache answers
  r = run("get_data.py", "--models-only", "--data", tmp_path / "data", env=env)
  assert r.returncode == 0 and "4 file(s) added" in r.stdout, r.stderr

"""Running the data tools as real subprocesses, the way a user does."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


def run(script: str, *args, env: dict | None = None, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
  e = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_DISABLE_PROGRESS_BARS": "1", **(env or {})}
  return subprocess.run([PY, script, *map(str, args)], cwd=REPO, env=e, capture_output=True, text=True, timeout=timeout, **kw)


def user_error(r: subprocess.CompletedProcess, *words: str) -> None:
  """A user error: exit 2, a message naming the problem, no traceback."""
  assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
  assert "Traceback" not in r.stderr and "error:" in r.stderr, r.stderr
  for w in words: assert w in r.stderr, (w, r.stderr)


def tree(root: Path) -> dict[str, str]:
  """relative path -> sha256 of every file under root (the whole state, to compare before/after)."""
  return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}

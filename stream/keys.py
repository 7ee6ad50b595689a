"""`python -m stream.keys DIR`: make the CurveZMQ key pairs a server needs to listen off loopback.

DIR gets server.key / server.key_secret and client.key / client.key_secret. The server runs with
`--curve-keys DIR` and admits any client whose public *.key file is in DIR; copy DIR (or just
client.key_secret + server.key) to the client machine and pass it as `--curve-keys` there too.
Existing keys are never overwritten.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import zmq.auth

from poemap.usererror import UserError, run_main


def make_keys(directory: str | os.PathLike, names: tuple[str, ...] = ("server", "client")) -> list[Path]:
  d = Path(directory)
  d.mkdir(parents=True, exist_ok=True)
  existing = [d / f"{n}{s}" for n in names for s in (".key", ".key_secret") if (d / f"{n}{s}").exists()]
  if existing: raise UserError(f"keys already exist, not overwriting: {', '.join(map(str, existing))}")
  out = []
  for n in names:
    pub, sec = zmq.auth.create_certificates(d, n)
    os.chmod(sec, 0o600)  # a secret key readable by others is no secret
    out += [Path(pub), Path(sec)]
  return out


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(prog="python -m stream.keys", description=__doc__.splitlines()[0])
  ap.add_argument("dir", help="directory for the key files")
  ap.add_argument("--client", action="append", metavar="NAME", help="client key name (repeatable; default: client)")
  args = ap.parse_args(argv)
  def run() -> None:
    for p in make_keys(args.dir, ("server", *(args.client or ["client"]))): print(p)
  run_main(run)


if __name__ == "__main__": main()

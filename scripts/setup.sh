#!/usr/bin/env bash
# Creates .venv with the runtime (and, with --dev, test) dependencies and makes sure tinygrad's
# CPU backend has its compiler. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0; [ "${1:-}" = "--dev" ] && dev=1

# Debian packages: clang always (tinygrad's CPU backend compiles kernels with it); for the tests
# also Xvfb (a real X screen for the capture and overlay-window tests) and a font for Qt.
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
if [ $dev = 1 ]; then
  command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
  [ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: missing ${need[*]}. Install them, e.g.: sudo apt-get install ${need[*]}" >&2
    echo "       (clang: tinygrad's CPU compiler; xvfb: the window/capture tests)" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
req=requirements.txt; [ $dev = 1 ] && req=requirements-dev.txt
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)-$dev"
if [ ! -f "$stamp" ]; then
  echo "setup: installing $req"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$req"
  touch "$stamp"
fi

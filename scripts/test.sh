#!/usr/bin/env bash
# Quick start 2: install everything the tests need (Debian's Chromium and ffmpeg included) and run the
# whole suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v ffmpeg >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium ffmpeg >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The browser libraries first: building the package (tests/install builds a wheel) takes its files from them.
npm ci --prefix web --no-audit --no-fund --loglevel=error
.venv/bin/python -m pip install --quiet -e ".[train,test]"

# Lint first: a style error fails in a second, before the minutes of tests.
.venv/bin/ruff check .

# pytest exits 5 when it collects no test: that is a broken suite, never a pass.
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" = 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi
exit "$status"

#!/usr/bin/env bash
# Quick start 2: install everything the tests need (Debian's Chromium and ffmpeg included) and run the
# whole suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql: its server binaries (initdb, pg_ctl), for the throw-away cluster the server tests start in a
# temporary folder; the package's system service is not used. runuser (util-linux) runs it unprivileged.
if ! command -v chromium >/dev/null || ! command -v ffmpeg >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium ffmpeg postgresql >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The browser libraries first: building the package (tests/install builds a wheel) takes its files from them.
npm ci --prefix web --no-audit --no-fund --loglevel=error
.venv/bin/python -m pip install --quiet -e ".[train,test,postgres]"

# Lint first: a style error fails in a second, before the minutes of tests.
.venv/bin/ruff check .
.venv/bin/ruff format --check .

# The browser modules' unit tests (node --test web/test) and the JavaScript type check (tsc, web/tsconfig.json):
# seconds, so they run first; either failing fails the run.
npm --prefix web test --silent
npm --prefix web run typecheck --silent

# pytest exits 5 when it collects no test: that is a broken suite, never a pass.
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" = 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi
exit "$status"

#!/usr/bin/env bash
# Quick start 1: install what the app needs (no TensorFlow) and serve it with the shipped model.
# Then open http://127.0.0.1:8000. Data (SQLite database, secret key) lives in ./instance.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
npm ci --prefix web --omit=dev --no-audit --no-fund --loglevel=error

if [ -z "$(.venv/bin/unmask users list)" ]; then
  if [ -t 0 ]; then
    read -r -p "No account yet. Username for the first account: " name
    .venv/bin/unmask users add "$name"
  else
    echo "No account yet. Create one with:  printf '%s\n' 'a long password' | .venv/bin/unmask users add NAME"
  fi
fi
exec .venv/bin/unmask serve "$@"

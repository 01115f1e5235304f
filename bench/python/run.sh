#!/usr/bin/env bash
# The Python peer figure: the Langfuse Python SDK 5.0.4 running the same workload as
# `throughput` (1,000 roots x 100 children), against the same loopback receiver.
#
#   bash bench/python/run.sh            # RUNS=3 ROOTS=1000 CHILDREN=100 THREADS=4 PORT=4319
#
# Creates a venv (VENV, default ${TMPDIR:-/tmp}/langfuse-bench-venv), installs
# langfuse==5.0.4 from PyPI, builds and starts `throughput --serve-only PORT`, runs
# throughput.py RUNS times, and stops the receiver.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
VENV="${VENV:-${TMPDIR:-/tmp}/langfuse-bench-venv}"
PORT="${PORT:-4319}"
RUNS="${RUNS:-3}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import langfuse, sys; sys.exit(langfuse.__version__ != "5.0.4")' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'langfuse==5.0.4'
fi

cd "$root"
cargo build --quiet --profile bench -p langfuse-bench --bin throughput
target_dir="$(cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
"$target_dir/release/throughput" --serve-only "$PORT" >/dev/null &
receiver_pid=$!
trap 'kill "$receiver_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/stats', timeout=1)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

for run in $(seq "$RUNS"); do
    LANGFUSE_BASE_URL="http://127.0.0.1:$PORT" "$VENV/bin/python" "$here/throughput.py"
done

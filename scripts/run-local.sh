#!/usr/bin/env bash
# run-local.sh — the whole system on one machine: the hub with its embedded
# NATS, then WORKERS Python workers running MODEL. Ctrl-C stops them all; so
# does any one of them exiting (a worker whose model cannot load, say). The
# workers stop first (each answers the frames it holds, over the hub's NATS),
# then the hub: Ctrl-C reaches this script alone, as each process runs in a
# session of its own.
# The embedded NATS accepts only the role keys the hub keeps in its store
# (.data/nats): the workers get worker.nk; cli.nk is the operator's, for the
# nats CLI (README).
# The hub serves its metrics on HUB_METRICS_ADDR (127.0.0.1:9090; set empty:
# none), apart from its public port; worker i on 127.0.0.1:$((WORKER_METRICS_BASE_PORT+i)).
# The standard OTEL_* variables (docs/metrics.md) reach the hub and every
# worker as they are: set OTEL_EXPORTER_OTLP_ENDPOINT to turn tracing on.
# HTTPS=1: a local CA and a certificate for this machine's names and LAN
# addresses (.data/tls, made by devcert, remade when the addresses change),
# the CA served at /ca.crt for phones, and the LAN URL as a QR code. The
# hub's own HUB_TLS_* or HUB_ACME_* variables work as well, without HTTPS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

# MODEL empty: the worker takes the Keras ImageNet weights, or offline the first
# model in MODELS_DIR (it logs which and why). MODELS_DIR is the model repository
# the workers serve (their WORKER_MODELS_DIR; README, "Models").
: "${MODEL:=}" "${RUNTIME:=auto}" "${WORKERS:=auto}" "${HUB_LISTEN:=:8080}"
# Set but empty: the hub serves no metrics.
: "${HUB_METRICS_ADDR=127.0.0.1:9090}"
# WORKERS=auto: the number of workers from the core count, and in any case the
# cores divided between them (scripts/worker-plan.sh says why); WORKER_THREADS
# given overrides each worker's share.
plan=$(WORKERS=$WORKERS scripts/worker-plan.sh)
read -r WORKERS plan_threads <<<"$plan"
: "${WORKER_THREADS:=$plan_threads}"
: "${MODELS_DIR:=models${SHARED_TESTDATA:+:$SHARED_TESTDATA/models}}"
export WORKER_MODELS_DIR=$MODELS_DIR
: "${NATS_EMBED_ADDR:=127.0.0.1:4222}" "${WORKER_METRICS_BASE_PORT:=9100}"
export HUB_LISTEN HUB_METRICS_ADDR NATS_EMBED_ADDR
: "${NATS_STORE_DIR:=.data/nats}"
export NATS_STORE_DIR
: "${HUB_BIN:=.bin/hub}" "${WORKER_PYTHON:=.venv/bin/python}"
nats_url=${NATS_URL:-nats://$NATS_EMBED_ADDR}
# The workers' login: their seed on the embedded NATS (made by the hub on its
# first start); on an external NATS whatever NATS_* credentials the caller set.
worker_env=()
if [ -z "${NATS_URL:-}" ] && [ "${NATS_NO_AUTH:-false}" != "true" ]; then
  worker_env=("NATS_NKEY=$NATS_STORE_DIR/worker.nk")
fi

. scripts/lib/processes.sh
hub_pid= worker_pids=()
# The workers first: they answer the frames they hold while the hub and its
# NATS are still there; then the hub.
stop() {
  trap - INT TERM HUP EXIT
  stop_group "${worker_pids[@]}"
  stop_group $hub_pid
}
trap 'stop; exit 130' INT TERM HUP
trap stop EXIT

port=${HUB_LISTEN##*:}
scheme=http
readiness=(curl -fsS "http://127.0.0.1:$port/healthz")
if [ "${HTTPS:-}" = 1 ]; then
  : "${DEVCERT_BIN:=.bin/devcert}" "${TLS_DIR:=.data/tls}"
  "$DEVCERT_BIN" -dir "$TLS_DIR" -port "$port"
  export HUB_TLS_CERT=$TLS_DIR/cert.pem HUB_TLS_KEY=$TLS_DIR/key.pem HUB_SERVE_CA_CERT=$TLS_DIR/ca.pem
fi
if [ -n "${HUB_TLS_CERT:-}" ]; then
  scheme=https
  # The hub's own process on loopback: whether it answers, not who it is.
  readiness=(curl -fsSk "https://127.0.0.1:$port/healthz")
elif [ -n "${HUB_ACME_DOMAIN:-}" ]; then
  scheme=https
  domain=${HUB_ACME_DOMAIN%%,*}
  readiness=(curl -fsSk --resolve "$domain:$port:127.0.0.1" "https://$domain:$port/healthz")
fi

detached "$HUB_BIN" &
hub_pid=$!

# Workers connect once NATS takes connections (the hub logs "hub listening" after that).
for _ in $(seq 100); do
  "${readiness[@]}" >/dev/null 2>&1 && break
  kill -0 "$hub_pid" 2>/dev/null || { echo "run: the hub did not start" >&2; exit 1; }
  sleep 0.1
done

for i in $(seq "$WORKERS"); do
  metrics_addr=127.0.0.1:$((WORKER_METRICS_BASE_PORT + i))
  detached env "${worker_env[@]}" WORKER_MODEL="$MODEL" "$WORKER_PYTHON" -m inference_server --nats-url "$nats_url" --runtime "$RUNTIME" --num-threads "$WORKER_THREADS" --metrics-addr "$metrics_addr" &
  worker_pids+=($!)
  echo "run: worker $i metrics on http://$metrics_addr/metrics" >&2
done
hub_metrics=off
[ -n "$HUB_METRICS_ADDR" ] && hub_metrics=http://$HUB_METRICS_ADDR/metrics
echo "run: hub on $scheme://localhost:$port (metrics: $hub_metrics) with $WORKERS worker(s) × $WORKER_THREADS model threads, MODEL=${MODEL:-(default: keras, or offline the first in $MODELS_DIR)} RUNTIME=$RUNTIME — Ctrl-C stops everything" >&2
[ ${#worker_env[@]} -gt 0 ] && echo "run: the nats CLI logs in with --nkey $NATS_STORE_DIR/cli.nk (README)" >&2
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-}" ]; then
  echo "run: tracing on, exporting to ${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-$OTEL_EXPORTER_OTLP_ENDPOINT} (${OTEL_EXPORTER_OTLP_PROTOCOL:-http/protobuf})" >&2
fi

# Whichever process ends first ends the run.
set +e
wait -n "$hub_pid" "${worker_pids[@]}"
status=$?
set -e
echo "run: a process exited (status $status); stopping the rest" >&2
exit "$status"

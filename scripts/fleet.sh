#!/usr/bin/env bash
# fleet.sh — the system as a fleet on one machine, every part a local process:
# a 3-node NATS cluster (TLS for clients and routes, the role nkeys, JetStream),
# two hubs on NATS_URL of all three (recording on, streams and the RESUME bucket
# with 3 replicas), nginx in front of both on one origin, and WORKERS workers
# running MODEL. An operator or a test stops any one of them by its pid
# ($FLEET_DIR/pids: `name pid` per line) and the rest carry on; Ctrl-C (or
# SIGTERM to this script) stops them all, workers first, then the hubs, then
# nginx and NATS (scripts/lib/processes.sh). docs/scaling.md, "make fleet".
#
# Everything made lands in $FLEET_DIR (.data/fleet): a throwaway CA and the
# nodes' certificate (openssl), the role nkeys and the servers' auth file
# (`hub keys`, the hub's own code), the generated nats-server and nginx
# configurations, the JetStream stores, and each process's log in logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${MODEL:=}" "${RUNTIME:=auto}" "${WORKERS:=2}" "${FLEET_DIR:=.data/fleet}"
: "${FLEET_LB_LISTEN:=8080}"            # nginx: the page's one origin (port, or addr:port)
: "${FLEET_PUBLIC_ORIGIN:=http://localhost:8080,http://127.0.0.1:8080}"
: "${FLEET_HUB_BASE_PORT:=8081}"        # hub-1 on 8081, hub-2 on 8082 (127.0.0.1)
: "${FLEET_HUB_METRICS_BASE_PORT:=9091}" # hub-1's /metrics on 9091, hub-2's on 9092 (127.0.0.1)
: "${FLEET_NATS_BASE_PORT:=4222}"       # nats-i clients on 4222+i-1, routes on
: "${FLEET_ROUTE_BASE_PORT:=6222}"      # 6222+i-1, monitoring on 8222+i-1 (127.0.0.1)
: "${FLEET_MONITOR_BASE_PORT:=8222}"
: "${WORKER_METRICS_BASE_PORT:=9100}"   # worker i's /metrics on 9100+i
: "${HUB_BIN:=.bin/hub}" "${NATS_SERVER_BIN:=.bin/nats-server}" "${WORKER_PYTHON:=.venv/bin/python}"
: "${NGINX_BIN:=$(command -v nginx || echo /usr/sbin/nginx)}"
HUB_ENV=${FLEET_HUB_ENV:-}              # more environment for both hubs (space-separated K=V)
WORKER_ARGS=${FLEET_WORKER_ARGS:-}      # more arguments for every worker

for b in "$HUB_BIN" "$NATS_SERVER_BIN" "$WORKER_PYTHON" "$NGINX_BIN"; do
  [ -x "$b" ] || { echo "fleet: $b not found (make fleet installs what is missing)" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "fleet: openssl not found (make fleet installs it)" >&2; exit 1; }

mkdir -p "$FLEET_DIR"
dir=$(cd "$FLEET_DIR" && pwd)
mkdir -p "$dir/tls" "$dir/logs" "$dir/nginx"
: >"$dir/pids"
. scripts/lib/processes.sh
worker_pids=() hub_pids=() node_pids=()
# The workers first (they answer the frames they hold while the hubs and NATS
# are there), then the hubs (their sessions told to go), then nginx and NATS.
stop() {
  trap - INT TERM HUP EXIT
  stop_group "${worker_pids[@]}"
  stop_group "${hub_pids[@]}"
  stop_group "${node_pids[@]}"
}
trap 'stop; exit 130' INT TERM HUP
trap stop EXIT

# start NAME COMMAND… runs it in the background (a session of its own), its
# output in logs/NAME.log.
start() {
  local name=$1; shift
  detached "$@" >"$dir/logs/$name.log" 2>&1 &
  case $name in
    worker-*) worker_pids+=($!) ;;
    hub-*) hub_pids+=($!) ;;
    *) node_pids+=($!) ;;
  esac
  echo "$name $!" >>"$dir/pids"
}

# wait_http NAME URL: until URL answers 200, or NAME's process has ended.
wait_http() {
  local name=$1 url=$2 pid
  pid=$(awk -v n="$name" '$1==n{print $2}' "$dir/pids")
  for _ in $(seq 600); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "fleet: $name exited; its log:" >&2; tail -20 "$dir/logs/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "fleet: $name did not answer $url" >&2; exit 1
}

# TLS: a CA of this fleet and one certificate for every node (server and
# client use: the routes are mutual TLS), valid for 127.0.0.1 and localhost.
tls=$dir/tls
if [ ! -s "$tls/node.pem" ]; then
  scripts/node-certs.sh "$tls" 365 "IP:127.0.0.1,DNS:localhost" "webcam fleet CA" nats
fi

# The role nkeys and the servers' auth file (kept across runs).
"$HUB_BIN" keys -dir "$dir/keys" 2>/dev/null

urls=() routes=()
for i in 1 2 3; do
  urls+=("tls://127.0.0.1:$((FLEET_NATS_BASE_PORT + i - 1))")
  routes+=("nats-route://127.0.0.1:$((FLEET_ROUTE_BASE_PORT + i - 1))")
done
nats_url=$(IFS=,; echo "${urls[*]}")
for i in 1 2 3; do
  mkdir -p "$dir/nats-$i"
  cat >"$dir/nats-$i.conf" <<EOF
# nats-$i of the fleet, made by scripts/fleet.sh (deploy/nats-cluster/*.conf is the same on three machines).
server_name: nats-$i
listen: 127.0.0.1:$((FLEET_NATS_BASE_PORT + i - 1))
http: 127.0.0.1:$((FLEET_MONITOR_BASE_PORT + i - 1))
max_payload: 8MB
jetstream { store_dir: "$dir/nats-$i" }
tls { cert_file: "$tls/node.pem", key_file: "$tls/node-key.pem", ca_file: "$tls/ca.pem", timeout: 2 }
include keys/auth.conf
cluster {
  name: fleet
  listen: 127.0.0.1:$((FLEET_ROUTE_BASE_PORT + i - 1))
  tls { cert_file: "$tls/node.pem", key_file: "$tls/node-key.pem", ca_file: "$tls/ca.pem", verify: true, timeout: 2 }
  routes: [ $(IFS=,; echo "${routes[*]}") ]
}
EOF
  "$NATS_SERVER_BIN" -t -c "$dir/nats-$i.conf" >/dev/null
  start "nats-$i" "$NATS_SERVER_BIN" -c "$dir/nats-$i.conf"
done
for i in 1 2 3; do
  wait_http "nats-$i" "http://127.0.0.1:$((FLEET_MONITOR_BASE_PORT + i - 1))/healthz"
done

for i in 1 2; do
  port=$((FLEET_HUB_BASE_PORT + i - 1))
  # shellcheck disable=SC2086 # HUB_ENV is a list of K=V words
  start "hub-$i" env NATS_CREDS= NATS_USER= NATS_PASSWORD= NATS_TOKEN= NATS_TLS_CERT= NATS_TLS_KEY= \
    NATS_URL="$nats_url" NATS_NKEY="$dir/keys/hub.nk" NATS_TLS_CA="$tls/ca.pem" \
    HUB_LISTEN="127.0.0.1:$port" HUB_METRICS_ADDR="127.0.0.1:$((FLEET_HUB_METRICS_BASE_PORT + i - 1))" HUB_PUBLIC_ORIGIN="$FLEET_PUBLIC_ORIGIN" \
    HUB_TRUSTED_PROXY_HEADER=X-Forwarded-For HUB_TRUSTED_PROXIES=127.0.0.1 \
    HUB_RECORD=true HUB_JS_REPLICAS=3 $HUB_ENV "$HUB_BIN"
done
for i in 1 2; do
  wait_http "hub-$i" "http://127.0.0.1:$((FLEET_HUB_BASE_PORT + i - 1))/healthz"
done

# nginx: one origin for the page; a WebSocket that loses its hub reconnects
# through it to the other one (proxy_next_upstream), and the hubs see the
# client's address in X-Forwarded-For (set here, never passed on from the client).
cat >"$dir/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/logs/lb-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  client_max_body_size 16m;
  client_body_buffer_size 16m;   # analyze API bodies stay in memory
  proxy_max_temp_file_size 0;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  upstream hubs {
    server 127.0.0.1:$FLEET_HUB_BASE_PORT max_fails=1 fail_timeout=5s;
    server 127.0.0.1:$((FLEET_HUB_BASE_PORT + 1)) max_fails=1 fail_timeout=5s;
  }
  server {
    listen $FLEET_LB_LISTEN;
    location / {
      proxy_pass http://hubs;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_connect_timeout 1s;         # a dead hub: the other one at once
      proxy_next_upstream error timeout;
      proxy_read_timeout 1h;            # a WebSocket session lives long
      proxy_send_timeout 1h;
    }
  }
}
EOF
"$NGINX_BIN" -t -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/logs/lb-error.log" 2>/dev/null ||
  "$NGINX_BIN" -t -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/logs/lb-error.log"
start lb "$NGINX_BIN" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/logs/lb-error.log"
lb_port=${FLEET_LB_LISTEN##*:}
wait_http lb "http://127.0.0.1:$lb_port/healthz"

# The workers on this machine divide its cores (scripts/worker-plan.sh), rather than
# each taking all of them; WORKER_THREADS given overrides each one's share.
plan=$(WORKERS=$WORKERS scripts/worker-plan.sh)
read -r WORKERS plan_threads <<<"$plan"
: "${WORKER_THREADS:=$plan_threads}"
for i in $(seq "$WORKERS"); do
  # shellcheck disable=SC2086 # WORKER_ARGS is a list of words
  start "worker-$i" env NATS_CREDS= NATS_USER= NATS_PASSWORD= NATS_TOKEN= NATS_TLS_CERT= NATS_TLS_KEY= \
    NATS_NKEY="$dir/keys/worker.nk" NATS_TLS_CA="$tls/ca.pem" WORKER_MODEL="$MODEL" WORKER_RUNTIME="$RUNTIME" WORKER_NUM_THREADS="$WORKER_THREADS" \
    "$WORKER_PYTHON" -m inference_server --nats-url "$nats_url" --name "worker-$i" \
    --metrics-addr "127.0.0.1:$((WORKER_METRICS_BASE_PORT + i))" $WORKER_ARGS
done

echo "fleet: http://localhost:$lb_port (nginx) → hub-1 :$FLEET_HUB_BASE_PORT, hub-2 :$((FLEET_HUB_BASE_PORT + 1)) (their metrics on http://127.0.0.1:$FLEET_HUB_METRICS_BASE_PORT/metrics, :$((FLEET_HUB_METRICS_BASE_PORT + 1))); NATS $nats_url (TLS, CA $tls/ca.pem); $WORKERS worker(s), MODEL=${MODEL:-default} RUNTIME=$RUNTIME" >&2
echo "fleet: pids in $dir/pids, logs in $dir/logs; the nats CLI: --tlsca $tls/ca.pem --nkey $dir/keys/cli.nk; Ctrl-C stops everything" >&2
echo "fleet: ready" >&2

# A process that ends (killed on purpose, say) leaves the rest running.
while :; do
  sleep 1 &
  wait $! || true
done

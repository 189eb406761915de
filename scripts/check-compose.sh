#!/usr/bin/env bash
# check-compose.sh — validates docker-compose.yml with docker-compose (no
# engine needed) and checks the topology it describes: NATS with JetStream,
# the hub pointed at it, two worker replicas, and Dockerfiles that exist.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(docker-compose -f docker-compose.yml config)
fail() { echo "compose check FAILED: $*" >&2; exit 1; }
for svc in nats hub worker; do
  grep -qE "^  $svc:$" <<<"$out" || fail "no service $svc"
done
grep -q -- '--jetstream' <<<"$out" || fail "nats runs without JetStream"
grep -q 'NATS_URL: nats://nats:4222' <<<"$out" || fail "hub/worker not pointed at nats"
grep -qE '^ +replicas: 2$' <<<"$out" || fail "worker replicas are not 2"
for f in cmd/hub/Dockerfile inference_server/Dockerfile; do
  [ -f "$f" ] || fail "$f missing"
done
# Scaling the workers is a command-line matter: the file must not pin names or ports on them.
awk '/^  worker:/{w=1;next} /^  [a-z]/{w=0} w' <<<"$out" | grep -qE 'container_name|ports:' && fail "worker pins a container name or port (breaks --scale)"
echo "1 passed, 0 failed: docker-compose.yml (nats+JetStream, hub, 2 worker replicas)"
# The cluster example of docs/scaling.md must be a valid nats-server configuration.
if [ -x "${NATS_SERVER_BIN:-.bin/nats-server}" ]; then
  for f in deploy/nats-cluster/*.conf; do
    "${NATS_SERVER_BIN:-.bin/nats-server}" -t -c "$f" >/dev/null 2>&1 || fail "$f is not a valid nats-server configuration"
  done
  echo "1 passed, 0 failed: deploy/nats-cluster/*.conf are valid nats-server configurations"
else
  fail "nats-server not found (make test-deps installs it)"
fi

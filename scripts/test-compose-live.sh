#!/usr/bin/env bash
# test-compose-live.sh — docker-compose.yml built and run on a real Docker
# engine (make test-compose-live; in make test only with RUN_LIVE_COMPOSE=1).
# Needs root: it installs docker.io, mmdebstrap and docker-compose when missing
# (scripts/apt-ensure.sh), starts dockerd when none answers, and makes stand-ins
# for base images no registry can give (scripts/docker-base-images.sh). Then:
#   - builds the hub and the runtime worker image from the project's Dockerfiles;
#   - `up` with the shared MobileNetV2 .tflite mounted read-only
#     (MODEL=tflite:…, nothing downloads), waits for every healthcheck;
#   - through the published port: the page, a photo over /ws and over
#     /api/v1/analyze (go test -tags e2e -run TestComposeLive);
#   - nats-keys made the role seeds and the auth file; `down` and `up` again
#     keeps them, and classifying still works;
#   - `down -v` leaves no container, volume or network of the project.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "compose live test FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (dockerd, mmdebstrap)"
SHARED_TESTDATA=${SHARED_TESTDATA:-$(cd .. && pwd)/shared/testdata}
[ -f "$SHARED_TESTDATA/models/mobilenet_v2_1.0_224_quant.tflite" ] || fail "no shared test model in $SHARED_TESTDATA/models"

# HEALTH_WAIT: seconds for every container to report healthy (each
# healthcheck's own retries bound it too); the worker loads its model first.
HEALTH_WAIT=${HEALTH_WAIT:-300}
# DOCKERD_WAIT: seconds for a dockerd started here to answer.
DOCKERD_WAIT=60
project=webcamhub-live
started=$(date +%s)

scripts/apt-ensure.sh dockerd:docker.io mmdebstrap:mmdebstrap docker-compose:docker-compose
if ! docker info >/dev/null 2>&1; then
  mkdir -p .data
  echo "compose live: starting dockerd (log: .data/dockerd.log)"
  setsid dockerd >.data/dockerd.log 2>&1 </dev/null &
  for ((i = 0; i < DOCKERD_WAIT; i++)); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || fail "dockerd did not answer (.data/dockerd.log)"
fi
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
scripts/docker-base-images.sh

# The published ports are not the defaults, so a hub or NATS of the host is no obstacle.
export COMPOSE_PROJECT_NAME=$project
export WEBCAMHUB_VERSION=live-test WORKER_TARGET=runtime
export MODELS_DIR=$SHARED_TESTDATA/models MODEL=tflite:/models/mobilenet_v2_1.0_224_quant.tflite
export HUB_PORT=${LIVE_HUB_PORT:-18080} NATS_PORT=${LIVE_NATS_PORT:-14222}
export HUB_PUBLIC_ORIGIN=http://localhost:$HUB_PORT
# This machine's extra CAs (a TLS-inspecting egress proxy) for npm, Go modules and pip.
EXTRA_CA_CERTS=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
export EXTRA_CA_CERTS
dc() { "${compose[@]}" -f docker-compose.yml "$@"; }

leftovers() {
  local filter="label=com.docker.compose.project=$project"
  docker container ls -aq --filter "$filter" | sed 's/^/container /'
  docker volume ls -q --filter "$filter" | sed 's/^/volume /'
  docker network ls -q --filter "$filter" | sed 's/^/network /'
}
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    dc ps >&2 || true
    dc logs --tail 40 >&2 || true
  fi
  dc down -v --remove-orphans >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT
dc down -v --remove-orphans >/dev/null 2>&1 || true

echo "compose live: building the images (${compose[*]})"
dc build --quiet nats-keys hub worker >/dev/null || dc build nats-keys hub worker
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^webcamhub-(hub|worker):live-test'
[ "$(docker run --rm webcamhub-hub:live-test -version | cut -d' ' -f2)" = live-test ] || fail "hub -version does not print the version built in"
for image in webcamhub-hub:live-test webcamhub-worker:live-test-runtime; do
  [ "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image")" = live-test ] ||
    fail "$image has no org.opencontainers.image.version label"
done
# The runtime image: LiteRT and OpenVINO, neither TensorFlow nor NNCF.
docker run --rm --entrypoint python webcamhub-worker:live-test-runtime -c '
import importlib.util as u, sys
have = {m: u.find_spec(m) is not None for m in ("ai_edge_litert", "openvino", "tensorflow", "nncf", "keras")}
sys.exit(0 if have["ai_edge_litert"] and have["openvino"] and not (have["tensorflow"] or have["nncf"] or have["keras"]) else f"modules: {have}")' ||
  fail "the runtime worker image does not hold exactly LiteRT and OpenVINO"

# up, and wait for every container with a healthcheck to be healthy.
wait_healthy() {
  local deadline=$(($(date +%s) + HEALTH_WAIT)) ids id state pending
  while :; do
    ids=$(dc ps -q)
    pending=0
    for id in $ids; do
      state=$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' "$id")
      case $state in
        *" running healthy "*) ;;
        *nats-keys*" exited none 0") ;;
        *" unhealthy "* | *" exited "* | *" dead "*) fail "container not healthy: $state" ;;
        *) pending=1 ;;
      esac
    done
    [ -n "$ids" ] && [ $pending -eq 0 ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "not healthy after ${HEALTH_WAIT}s: $(dc ps)"
    sleep 2
  done
}
up() {
  dc up -d >/dev/null 2>&1 || { dc up -d; fail "compose up failed"; }
  wait_healthy
  [ "$(dc ps -q worker | wc -l)" -eq 2 ] || fail "not 2 worker replicas"
}
classify() {
  WEBCAMHUB_LIVE_URL=http://127.0.0.1:$HUB_PORT SHARED_TESTDATA=$SHARED_TESTDATA \
    go test -tags e2e -count=1 -run '^TestComposeLive$' ./e2e/ >/dev/null 2>&1 ||
    WEBCAMHUB_LIVE_URL=http://127.0.0.1:$HUB_PORT SHARED_TESTDATA=$SHARED_TESTDATA \
      go test -tags e2e -count=1 -v -run '^TestComposeLive$' ./e2e/ || fail "$1"
}
keys() {
  docker run --rm --user 0 -v "${project}_nats-keys:/keys:ro" --entrypoint sh webcamhub-worker:live-test-runtime -c \
    'cd /keys && ls && sha256sum hub.nk worker.nk cli.nk'
}

up
echo "compose live: every container healthy"
classify "the page, /ws or the analyze API through the published port"
before=$(keys) || fail "nats-keys made no role seeds"
for f in hub.nk worker.nk cli.nk; do grep -qx "$f" <<<"$before" || fail "nats-keys made no $f"; done
echo "1 passed, 0 failed: page, /ws and /api/v1/analyze through the published port; nats-keys made the role seeds"

dc down >/dev/null 2>&1
up
[ "$(keys)" = "$before" ] || fail "the role seeds changed over a restart"
classify "classifying after the restart"
echo "1 passed, 0 failed: down and up again keeps the role seeds, and classifying works"

dc down -v --remove-orphans >/dev/null 2>&1
left=$(leftovers)
[ -z "$left" ] || fail "down -v left: $left"
echo "1 passed, 0 failed: down -v leaves no container, volume or network of the project"
echo "compose live test: passed in $(($(date +%s) - started))s"

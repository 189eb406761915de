#!/usr/bin/env bash
# apt-ensure.sh COMMAND:PACKAGE… — installs each Debian PACKAGE whose COMMAND
# is not on the PATH. Needs root (or sudo); says what to do otherwise.
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "apt-ensure: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

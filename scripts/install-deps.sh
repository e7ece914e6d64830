#!/bin/sh
# Install the Debian packages trove needs to build, test and run, if any is
# missing. Used by `make test`, `make demo` and .ci/run. Needs root (or sudo)
# only when something is actually missing.
set -eu

PKGS="build-essential cmake ninja-build pkg-config libsqlite3-dev zlib1g-dev
libxxhash-dev libjansson-dev libcmocka-dev libopenblas-dev liblapacke-dev
libyaml-dev libmicrohttpd-dev jq"
# Benchmarks only (`install-deps.sh --bench`): the HTTP load generator.
[ "${1:-}" = "--bench" ] && PKGS="$PKGS wrk"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# The dashboard's build (node, npm) and browser tests (chromium): node and
# npm count as present whichever package brought them.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0

echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing

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
[ -z "$missing" ] && exit 0

echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing

#!/usr/bin/env bash
# Builds Traefik, a third-party Gateway API implementation that one member of
# Fedway's delegation test runs, from the upstream Go module pinned in
# e2e/go-traefik/go.mod (through the Go module proxy), once, into a cache
# outside the repository:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/fedway/traefik-<traefik version>-<key>/traefik
#
# where <key> hashes e2e/go-traefik's go.mod/go.sum/.go files (its own key,
# so that pinning Traefik never rebuilds the control plane, whose key covers
# e2e/go only). Traefik's module zip ships its web UI directory with only a
# placeholder file, so the binary serves no dashboard; nothing here uses it.
#
#   traefik.sh          build if missing, then print the binary's path
#   traefik.sh --env    build if missing, then print FEDWAY_TRAEFIK=<path>
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gomod="$here/go-traefik"
cache_root="${FEDWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedway}"

command -v go >/dev/null || { echo "traefik.sh: Go is required (https://go.dev/dl, >= 1.26)" >&2; exit 1; }

version=$(cd "$gomod" && go list -m -f '{{.Version}}' github.com/traefik/traefik/v3)
key=$(cd "$gomod" && find . -name go.mod -o -name go.sum -o -name '*.go' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
dir="$cache_root/traefik-$version-$key"
bin="$dir/traefik"

# shellcheck source-path=SCRIPTDIR source=cache.sh
. "$here/scripts/cache.sh"

build_traefik() {
  (cd "$gomod" && go build -trimpath -buildvcs=false \
      -ldflags "-X github.com/traefik/traefik/v3/pkg/version.Version=$version" \
      -o "$1/traefik" github.com/traefik/traefik/v3/cmd/traefik)
}

cache_build "$dir" traefik "traefik.sh: building Traefik $version (~10 min on 2 cores)" build_traefik

case "${1:-}" in
  --env) echo "FEDWAY_TRAEFIK=$bin" ;;
  "") echo "$bin" ;;
  *) echo "usage: traefik.sh [--env]" >&2; exit 2 ;;
esac

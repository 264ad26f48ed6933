#!/usr/bin/env bash
# Builds the host tools of Fedway's kind journey from their upstream Go
# modules, pinned in e2e/go-kind/go.mod (through the Go module proxy), once,
# into a cache outside the repository:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/fedway/kind-tools-<key>/bin
#     kind                 sigs.k8s.io/kind
#     helm                 helm.sh/helm/v4 (the chart's lint, template, install)
#
# where <key> hashes e2e/go-kind and this script, so a change of a pinned
# version builds a new set; nothing of upstream is copied.
#
#   tools.sh          build if missing, then print the bin dir
#   tools.sh --env    build if missing, then print FEDWAY_KIND_TOOLS=<dir>
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gomod=$(cd "$here/../go-kind" && pwd)
cache_root="${FEDWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedway}"
command -v go >/dev/null || { echo "tools.sh: Go is required (https://go.dev/dl, >= 1.26)" >&2; exit 1; }

version() { (cd "$gomod" && go list -m -f '{{.Version}}' "$1"); }
# kind's release also fixes the node image's base components (its
# images/base/Dockerfile), which e2e/kind/node-image.sh reads from the
# module this pins.
KIND_VERSION=$(version sigs.k8s.io/kind)
HELM_VERSION=$(version helm.sh/helm/v4)

key=$(cat "$here/tools.sh" "$gomod/go.mod" "$gomod/go.sum" | sha256sum | cut -c1-12)
dir="$cache_root/kind-tools-$key"
bin="$dir/bin"

# shellcheck source-path=SCRIPTDIR source=../scripts/cache.sh
. "$here/../scripts/cache.sh"

build_tools() {
  (cd "$gomod" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$1/" \
    -ldflags "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    sigs.k8s.io/kind helm.sh/helm/v4/cmd/helm)
}

cache_build "$bin" "kind helm" "tools.sh: building kind $KIND_VERSION and helm $HELM_VERSION" build_tools

case "${1:-}" in
  --env) echo "FEDWAY_KIND_TOOLS=$bin" ;;
  "") echo "$bin" ;;
  *) echo "usage: tools.sh [--env]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# MetalLB for Fedway's kind journey: kind clusters have no load balancer,
# and the chart's defaults (fedway-dns's Service, fedway-proxy's Services
# per Gateway) are LoadBalancer Services, as in users' clusters. MetalLB in
# layer-2 mode gives them addresses on kind's Docker network, which this
# host and the other clusters' nodes reach (the speaker answers ARP for
# them from the node). Everything comes from its Go module, pinned in
# e2e/go-metallb/go.mod, so that no image registry is needed:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/fedway/metallb-<key>/bin/{controller,speaker}
#     built from go.universe.tf/metallb once (<key> hashes e2e/go-metallb
#     and this script);
#   fedway.local/metallb-{controller,speaker}:<version>
#     those binaries on BASE, the path and entrypoint upstream's images have;
#   the chart: the module's own charts/metallb (nothing of upstream is copied).
#
#   metallb.sh images BASE   build what is missing, print the two image names
#   metallb.sh chart         print the chart's directory
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gomod=$(cd "$here/../go-metallb" && pwd)
cache_root="${FEDWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedway}"
command -v go >/dev/null || { echo "metallb.sh: Go is required (https://go.dev/dl, >= 1.26)" >&2; exit 1; }
# MetalLB's go.mod asks for a newer toolchain than it needs; build with this
# machine's Go rather than fetch another.
export GOTOOLCHAIN=local

module() { (cd "$gomod" && go mod download go.universe.tf/metallb && go list -m -f "$1" go.universe.tf/metallb); }

# shellcheck source-path=SCRIPTDIR source=../scripts/cache.sh
. "$here/../scripts/cache.sh"

build_binaries() {
  (cd "$gomod" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$1/" \
    go.universe.tf/metallb/controller go.universe.tf/metallb/speaker)
}

images() {
  local base=$1 version key bin component image ctx
  version=$(module '{{.Version}}')
  key=$(cat "$here/metallb.sh" "$gomod/go.mod" "$gomod/go.sum" | sha256sum | cut -c1-12)
  bin="$cache_root/metallb-$key/bin"
  cache_build "$bin" "controller speaker" "metallb.sh: building MetalLB $version" build_binaries
  for component in controller speaker; do
    image=fedway.local/metallb-$component:$version-$key
    if ! docker image inspect "$image" >/dev/null 2>&1; then
      echo "metallb.sh: building $image on $base" >&2
      ctx=$(mktemp -d)
      cp "$bin/$component" "$ctx/"
      printf 'FROM %s\nCOPY %s /%s\nENTRYPOINT ["/%s"]\n' "$base" "$component" "$component" "$component" >"$ctx/Dockerfile"
      docker build -q -t "$image" "$ctx" >/dev/null
      rm -rf "$ctx"
    fi
    echo "$image"
  done
}

case "${1:-}" in
  images)
    [ $# -eq 2 ] || { echo "usage: metallb.sh images BASE" >&2; exit 2; }
    images "$2"
    ;;
  chart) echo "$(module '{{.Dir}}')/charts/metallb" ;;
  *) echo "usage: metallb.sh images BASE | chart" >&2; exit 2 ;;
esac

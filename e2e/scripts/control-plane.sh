#!/usr/bin/env bash
# Builds the real control-plane binaries Fedway's tests run, from upstream Go
# modules pinned in e2e/go/*/go.mod (through the Go module proxy), once, into
# a cache outside the repository:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/fedway/k8s-<kubernetes version>-<key>/bin
#
# where <key> is a hash of every go.mod/go.sum/.go file under e2e/go, so a
# change of any pinned version builds a new set and an unchanged set is never
# rebuilt.
#
#   control-plane.sh            build if missing, then print the bin dir
#   control-plane.sh --env      build if missing, then print FEDWAY_* settings
#                               (bin dir, and the Gateway API and kwok module
#                               dirs, whose CRDs and stages tests use)
#   control-plane.sh --node     also build kubelet, kubeadm and kube-proxy of
#                               the same release, then print their dir
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gomods="$here/go"
cache_root="${FEDWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedway}"

command -v go >/dev/null || { echo "control-plane.sh: Go is required (https://go.dev/dl, >= 1.26)" >&2; exit 1; }

k8s_version=$(cd "$gomods/kubernetes" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
key=$(cd "$gomods" && find . -name go.mod -o -name go.sum -o -name '*.go' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
dir="$cache_root/k8s-$k8s_version-$key"
bin="$dir/bin"

want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok echo-basic)

# What Kubernetes' own build (hack/lib/version.sh) stamps into its binaries:
# without it they report v0.0.0-master+$Format:%H$, which kubeadm refuses
# and which would reach MemberCluster status as the member's version.
k8s_version_ldflags() {
  local version=$1 major minor pkg flags=""
  major=${version#v}; major=${major%%.*}
  minor=${version#v"$major".}; minor=${minor%%.*}
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

# shellcheck source-path=SCRIPTDIR source=cache.sh
. "$here/scripts/cache.sh"

build_control_plane() {
  local tmp=$1
  (cd "$gomods/etcd" && go build -trimpath -buildvcs=false -o "$tmp/etcd" .)
  (cd "$gomods/kubernetes" && go build -trimpath -buildvcs=false -ldflags "$(k8s_version_ldflags "$k8s_version")" -o "$tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl)
  (cd "$gomods/kwok" && go build -trimpath -buildvcs=false -o "$tmp/" sigs.k8s.io/kwok/cmd/kwok)
  (cd "$gomods/gateway-api" && go build -trimpath -buildvcs=false -o "$tmp/" sigs.k8s.io/gateway-api/conformance/echo-basic)
}

# The node side of the same release, for the kind node image
# (e2e/kind/node-image.sh): kubelet, kubeadm and kube-proxy.
node_bin="$dir/node-bin"

build_node() {
  (cd "$gomods/kubernetes" && go build -trimpath -buildvcs=false -ldflags "$(k8s_version_ldflags "$k8s_version")" -o "$1/" \
      k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kubeadm \
      k8s.io/kubernetes/cmd/kube-proxy)
}

cache_build "$bin" "${want[*]}" \
  "control-plane.sh: building Kubernetes $k8s_version control plane (~10-20 min on 2 cores)" build_control_plane

case "${1:-}" in
  --node)
    cache_build "$node_bin" "kubelet kubeadm kube-proxy" \
      "control-plane.sh: building Kubernetes $k8s_version node binaries" build_node
    echo "$node_bin"
    ;;
  --env)
    gwapi=$(cd "$gomods/gateway-api" && go mod download sigs.k8s.io/gateway-api && go list -m -f '{{if .Replace}}{{.Replace.Dir}}{{else}}{{.Dir}}{{end}}' sigs.k8s.io/gateway-api)
    kwok=$(cd "$gomods/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    echo "FEDWAY_K8S_VERSION=$k8s_version"
    echo "FEDWAY_K8S_BIN=$bin"
    echo "FEDWAY_GATEWAY_API_DIR=$gwapi"
    echo "FEDWAY_KWOK_DIR=$kwok"
    ;;
  "") echo "$bin" ;;
  *) echo "usage: control-plane.sh [--env|--node]" >&2; exit 2 ;;
esac

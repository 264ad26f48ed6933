#!/usr/bin/env bash
# Builds a kind node image for the Kubernetes release Fedway's tests pin
# (e2e/go/kubernetes), offline: nothing is pulled from an image registry and
# nothing of upstream is copied into this repository. Everything comes from
# upstream Go modules (through the Go module proxy) and Debian packages:
#
#   base image   kind's images/base recipe (e2e/kind/images/base.Dockerfile)
#                on the local Debian base of e2e/scripts/docker.sh, with
#                containerd, runc, crictl, the CNI plugins and
#                containerd-fuse-overlayfs at the versions kind's release
#                names, built from their modules;
#   Kubernetes   kubelet, kubeadm, kubectl and the images of kube-apiserver,
#                kube-controller-manager, kube-scheduler and kube-proxy from
#                k8s.io/kubernetes (e2e/scripts/control-plane.sh), plus etcd,
#                CoreDNS and pause at the versions this release's kubeadm
#                names (`kubeadm config images list`), and the images kind's
#                default manifests run (CNI, local-path storage);
#   node image   `kind build node-image --type file` on a release tarball
#                laid out as upstream's kubernetes-server-linux-amd64.tar.gz.
#
# The image is fedway.local/kind-node:<version>-<key>, where <key> hashes
# everything it is built from (these scripts, e2e/kind/images, the control
# plane's key); an existing image is never rebuilt. The Go and C binaries
# are cached in ${XDG_CACHE_HOME:-$HOME/.cache}/fedway/kind-node-bin-<hash of
# their versions>, the build's scratch space in .../kind-node-<version>-<key>.
#
#   node-image.sh          build if missing, then print the image name
#   node-image.sh --env    the same, as FEDWAY_KIND_NODE_IMAGE=<name>
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e2e=$(cd "$here/.." && pwd)
cache_root="${FEDWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedway}"

# The node image's own components that kind pins only as image tags built
# from sources this proxy does not serve at that version: local-path-
# provisioner v0.0.34 (kind's images/local-path-provisioner/Makefile) is
# refused ("This module version is not available"), v0.0.30 is served.
LOCAL_PATH_PROVISIONER_VERSION=v0.0.30

# BuildKit (COPY --chmod); e2e/scripts/docker.sh makes sure the client has it.
export DOCKER_BUILDKIT=1

say() { echo "node-image.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# Inputs that must exist before the key can be computed.
base_image=$("$e2e/scripts/docker.sh")
tools=$("$here/tools.sh")
eval "$("$e2e/scripts/control-plane.sh" --env)"
cp_bin=$FEDWAY_K8S_BIN
node_bin=$("$e2e/scripts/control-plane.sh" --node)
version=$FEDWAY_K8S_VERSION

key=$( (cat "$here/node-image.sh" "$e2e/scripts/docker.sh" "$e2e/go-kind/go.sum"; find "$here/images" -type f | LC_ALL=C sort | xargs cat; echo "$cp_bin") |
  sha256sum | cut -c1-12)
image=fedway.local/kind-node:$version-$key
dir="$cache_root/kind-node-$version-$key"

print() {
  case "${1:-}" in
    --env) echo "FEDWAY_KIND_NODE_IMAGE=$image" ;;
    "") echo "$image" ;;
    *) echo "usage: node-image.sh [--env]" >&2; exit 2 ;;
  esac
}

if docker image inspect "$image" >/dev/null 2>&1; then
  print "$@"
  exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if docker image inspect "$image" >/dev/null 2>&1; then
  print "$@"
  exit 0
fi
start=$SECONDS
say "building $image (first time only)"

kind_version=$(cd "$e2e/go-kind" && go list -m -f "{{.Version}}" sigs.k8s.io/kind)
kind_dir=$(cd "$dir" && go mod download -json "sigs.k8s.io/kind@$kind_version" | jq -r .Dir)
[ -d "$kind_dir/images/base/files" ] || die "no images/base/files in $kind_dir"

# A build argument's default in kind's base Dockerfile: the version kind's
# release builds of that component.
kind_pin() {
  local value
  value=$(sed -n "s/^ARG $1=\"\\(.*\\)\"/\\1/p" "$kind_dir/images/base/Dockerfile")
  [ -n "$value" ] || die "no ARG $1 in kind's images/base/Dockerfile"
  echo "$value"
}
# An image name a kind Go source file declares as a constant.
kind_const() {
  local value
  value=$(sed -n "s/^const $2 = \"\\(.*\\)\"/\\1/p" "$kind_dir/pkg/build/nodeimage/$1")
  [ -n "$value" ] || die "no const $2 in kind's pkg/build/nodeimage/$1"
  echo "$value"
}

# runc links libseccomp statically (cgo), like upstream's static release.
missing=()
[ -f /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The binaries are cached apart from the image, by what they are built from
# (versions, Go), so that a change of the recipe rebuilds no binary.
bin_versions() {
  go version
  sed -n 's/^ARG \([A-Z_]*VERSION\)=/\1=/p' "$kind_dir/images/base/Dockerfile"
  echo "$LOCAL_PATH_PROVISIONER_VERSION $("$node_bin/kubeadm" config images list --kubernetes-version "$version")"
}
bin="$cache_root/kind-node-bin-$(bin_versions | sha256sum | cut -c1-12)"
mkdir -p "$bin"
export GOBIN=$bin GOFLAGS="-trimpath -buildvcs=false"
# go install module@version: each built with its own go.mod, as released.
go_install() {
  local what=$1
  shift
  [ -x "$bin/$what" ] && return 0
  say "building $what"
  go install "$@"
}

containerd_version=$(kind_pin CONTAINERD_VERSION)
runc_version=$(kind_pin RUNC_VERSION)
crictl_version=$(kind_pin CRICTL_VERSION)
cni_version=$(kind_pin CNI_PLUGINS_VERSION)
fuse_version=$(kind_pin CONTAINERD_FUSE_OVERLAYFS_VERSION)

CGO_ENABLED=0 go_install containerd -tags "no_aufs no_zfs no_btrfs no_devmapper" \
  -ldflags "-X github.com/containerd/containerd/v2/version.Version=$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/containerd@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/ctr@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd_version"
CGO_ENABLED=1 go_install runc -tags "seccomp netgo osusergo urfave_cli_no_docs" \
  -ldflags "-extldflags -static -X main.version=${runc_version#v}" \
  "github.com/opencontainers/runc@$runc_version"
CGO_ENABLED=0 go_install crictl -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version" \
  "sigs.k8s.io/cri-tools/cmd/crictl@$crictl_version"
CGO_ENABLED=0 go_install ptp \
  "github.com/containernetworking/plugins/plugins/ipam/host-local@$cni_version" \
  "github.com/containernetworking/plugins/plugins/main/loopback@$cni_version" \
  "github.com/containernetworking/plugins/plugins/main/ptp@$cni_version" \
  "github.com/containernetworking/plugins/plugins/meta/portmap@$cni_version"
CGO_ENABLED=0 go_install containerd-fuse-overlayfs-grpc \
  "github.com/containerd/fuse-overlayfs-snapshotter/v2/cmd/containerd-fuse-overlayfs-grpc@$fuse_version"
CGO_ENABLED=0 go_install local-path-provisioner \
  "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION"

# What this release's kubeadm pulls: etcd, CoreDNS and pause, by version.
images=$("$node_bin/kubeadm" config images list --kubernetes-version "$version")
image_of() {
  local name
  name=$(grep -E "^registry\.k8s\.io/$1:" <<<"$images") || die "kubeadm names no $1 image: $images"
  echo "$name"
}
etcd_image=$(image_of etcd)
coredns_image=$(image_of coredns/coredns)
pause_image=$(image_of pause)
etcd_version=v${etcd_image##*:}
etcd_version=${etcd_version%-*}
coredns_version=${coredns_image##*:}
pause_version=${pause_image##*:}

CGO_ENABLED=0 go_install coredns "github.com/coredns/coredns@$coredns_version"
if [ ! -x "$bin/etcd" ]; then
  # etcd's server module has replace directives, so it cannot be installed
  # with module@version: build e2e/go/etcd's main at kubeadm's version.
  say "building etcd $etcd_version"
  rm -rf "$dir/etcd-src"
  mkdir -p "$dir/etcd-src"
  cp "$e2e/go/etcd/main.go" "$dir/etcd-src/"
  (cd "$dir/etcd-src" && go mod init fedway.dev/e2e/kind-etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1 &&
    CGO_ENABLED=0 go build -o "$bin/etcd" .)
fi
if [ ! -x "$bin/pause" ]; then
  # pause is C, in the Kubernetes module (build/pause/linux/pause.c).
  k8s_dir=$(cd "$e2e/go/kubernetes" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  gcc -Os -Wall -Werror -static -DVERSION="v$pause_version" -o "$bin/pause" "$k8s_dir/build/pause/linux/pause.c"
fi

# The base image, from kind's files and the binaries above.
base_tag=fedway.local/kind-base:$key
ctx="$dir/base-context"
rm -rf "$ctx"
mkdir -p "$ctx"
cp -r "$kind_dir/images/base/files" "$ctx/files"
chmod -R u+w "$ctx/files"
cp -r "$bin" "$ctx/bin"
cp "$here/images/restrict-oom-score-adj.sh" "$ctx/"
say "building $base_tag"
docker build -q -f "$here/images/base.Dockerfile" --build-arg "BASE_IMAGE=$base_image" \
  --build-arg "PAUSE_IMAGE=$pause_image" -t "$base_tag" "$ctx" >/dev/null

# One image per binary: the binary at PATH/NAME on the Debian base (or on
# nothing for pause), with an entrypoint.
image_from() {
  local tag=$1 file=$2 path=$3 packages=${4:-} from=${5:-$base_image} ctx
  ctx=$(mktemp -d "$dir/image.XXXXXX")
  cp "$file" "$ctx/"
  {
    echo "FROM $from"
    [ -n "$packages" ] && echo "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages && apt-get clean && rm -rf /var/lib/apt/lists/*"
    echo "COPY --chmod=0755 $(basename "$file") $path"
    echo "ENTRYPOINT [\"$path\"]"
  } >"$ctx/Dockerfile"
  docker build -q -t "$tag" "$ctx" >/dev/null
  rm -rf "$ctx"
}

say "building the images of Kubernetes $version"
release="$dir/release"
rm -rf "$release"
server="$release/kubernetes/server/bin"
mkdir -p "$server"
echo "$version" >"$release/kubernetes/version"
cp "$node_bin/kubeadm" "$node_bin/kubelet" "$cp_bin/kubectl" "$server/"
for component in kube-apiserver kube-controller-manager kube-scheduler; do
  image_from "registry.k8s.io/$component:$version" "$cp_bin/$component" "/usr/local/bin/$component"
  docker save -o "$server/$component.tar" "registry.k8s.io/$component:$version"
done
image_from "registry.k8s.io/kube-proxy:$version" "$node_bin/kube-proxy" /usr/local/bin/kube-proxy \
  "iptables nftables conntrack ipset kmod"
image_from "$etcd_image" "$bin/etcd" /usr/local/bin/etcd
image_from "$coredns_image" "$bin/coredns" /coredns
image_from "$pause_image" "$bin/pause" /pause "" scratch

# kind's default manifests run these images; kind pins them by tag.
kindnetd_image=$(kind_const const_cni.go kindnetdImage)
provisioner_image=$(kind_const const_storage.go storageProvisionerImage)
helper_image=$(kind_const const_storage.go storageHelperImage)
image_from "$kindnetd_image" "$here/images/kindnet-cni.sh" /usr/local/bin/kindnet-cni "curl jq iproute2 ca-certificates"
image_from "$provisioner_image" "$bin/local-path-provisioner" /usr/local/bin/local-path-provisioner
# The helper runs sh, mkdir and rm in a node's storage directory.
docker tag "$base_image" "$helper_image"

# kind reads the image names of each archive of the release from its first
# metadata entry; kube-proxy's archive carries every other image too, so its
# `repositories` entry (all names) must come before manifest.json. docker
# save writes Docker Hub names short (kindest/kindnetd), and kind compares
# them with the fully qualified names its manifests use: `repositories` gets
# those (containerd's import qualifies manifest.json's names itself).
extras=("registry.k8s.io/kube-proxy:$version" "$etcd_image" "$coredns_image" "$pause_image"
  "$kindnetd_image" "$provisioner_image" "$helper_image")
archive="$dir/archive"
rm -rf "$archive"
mkdir -p "$archive"
docker save "${extras[@]}" | tar -x -C "$archive"
jq 'with_entries(if (.key | split("/")[0] | test("[.:]|^localhost$")) then . else .key = "docker.io/" + .key end)' \
  "$archive/repositories" >"$archive/repositories.qualified"
mv "$archive/repositories.qualified" "$archive/repositories"
(cd "$archive" && find . -mindepth 1 -maxdepth 1 ! -name repositories ! -name manifest.json -printf '%P\n' |
  LC_ALL=C sort | tar -cf "$server/kube-proxy.tar" repositories manifest.json -T -)
rm -rf "$archive"
tar -C "$release" -czf "$dir/kubernetes-server-linux-amd64.tar.gz" kubernetes
rm -rf "$release"

say "kind build node-image"
"$tools/kind" build node-image --type file "$dir/kubernetes-server-linux-amd64.tar.gz" \
  --base-image "$base_tag" --image "$image"
rm -rf "$ctx" "$dir/kubernetes-server-linux-amd64.tar.gz"
# Earlier recipes' images and scratch dirs: a node image is over a GiB.
docker images --format '{{.Repository}}:{{.Tag}}' |
  grep -E '^fedway\.local/kind-(node|base):' | grep -vxF -e "$image" -e "$base_tag" |
  xargs -r docker rmi >/dev/null 2>&1 || true
find "$cache_root" -maxdepth 1 -name 'kind-node-v*' ! -path "$dir" -exec rm -rf {} + 2>/dev/null || true
say "built $image in $((SECONDS - start)) s"
print "$@"

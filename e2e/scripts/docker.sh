#!/usr/bin/env bash
# A running Docker engine that starts privileged containers (what kind's
# nodes are), and a local Debian base image to build every other image on,
# on a machine that reaches no image registry:
#
#   1. installs Debian's docker.io (and jq, capsh, debootstrap) where missing;
#   2. starts dockerd when `docker info` fails (log: $cache/dockerd.log);
#   3. builds the base image $FEDWAY_BASE_IMAGE (default
#      fedway.local/debian:bookworm) with debootstrap --variant=minbase and
#      `docker import`, where it is missing;
#   4. runs a privileged probe container; only if it fails with "unable to
#      apply caps" (a capability bounding set smaller than what Docker grants
#      privileged containers, as in some sandboxes), installs
#      e2e/scripts/runc-wrapper as dockerd's default runtime and probes again;
#   5. makes `DOCKER_BUILDKIT=1 docker build` use BuildKit (Fedway's
#      Dockerfiles use cache mounts and COPY --chmod): a Docker CLI of 23 or
#      later needs the buildx plugin for that, which is built from its Go
#      module into /usr/local/lib/docker/cli-plugins where it is missing.
#
#   docker.sh          all of the above, then print the base image's name
#   docker.sh --env    the same, then print FEDWAY_BASE_IMAGE=<name>
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root="${FEDWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedway}"
base_image=${FEDWAY_BASE_IMAGE:-fedway.local/debian:bookworm}
suite=${base_image##*:}
wrapper=/usr/local/libexec/fedway/runc-wrapper
BUILDX_VERSION=v0.38.2
plugins=/usr/local/lib/docker/cli-plugins
daemon_json=/etc/docker/daemon.json

say() { echo "docker.sh: $*" >&2; }
die() { say "$*"; exit 1; }

sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_=sudo

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v jq >/dev/null || missing+=(jq)
  command -v capsh >/dev/null || missing+=(libcap2-bin)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  mkdir -p "$cache_root"
  say "starting dockerd (log: $cache_root/dockerd.log)"
  # setsid: the daemon outlives this script and the shell that ran it.
  $sudo_ setsid dockerd >>"$cache_root/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -20 "$cache_root/dockerd.log" >&2
  die "dockerd did not answer within 60 s"
}

# Debian's minimal userland as an image: what every Fedway image in e2e
# builds on (deploy/docker's build arguments, the kind node's base).
base_image() {
  docker image inspect "$base_image" >/dev/null 2>&1 && return 0
  local root
  root=$(mktemp -d)
  say "building $base_image with debootstrap (about a minute)"
  $sudo_ debootstrap --variant=minbase "$suite" "$root/rootfs" >"$root/debootstrap.log" 2>&1 ||
    { tail -20 "$root/debootstrap.log" >&2; die "debootstrap $suite failed"; }
  $sudo_ chroot "$root/rootfs" apt-get clean
  $sudo_ rm -rf "$root/rootfs/var/lib/apt/lists/"*
  $sudo_ tar -C "$root/rootfs" -c . |
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$base_image" >/dev/null
  $sudo_ rm -rf "$root"
}

probe() {
  docker run --rm --privileged --network none "$base_image" true 2>&1
}

privileged() {
  local out
  out=$(probe) && return 0
  case $out in
    *"unable to apply caps"*) ;;
    *) die "a privileged container fails: $out" ;;
  esac
  say "privileged containers fail here (unable to apply caps): installing $wrapper as dockerd's default runtime"
  $sudo_ install -D -m 0755 "$here/runc-wrapper" "$wrapper"
  $sudo_ mkdir -p "$(dirname "$daemon_json")"
  local current='{}'
  [ -s "$daemon_json" ] && current=$(cat "$daemon_json")
  jq --arg path "$wrapper" '.runtimes["fedway-runc"] = {path: $path} | .["default-runtime"] = "fedway-runc"' \
    <<<"$current" | $sudo_ tee "$daemon_json.tmp" >/dev/null
  $sudo_ mv "$daemon_json.tmp" "$daemon_json"
  # dockerd reloads runtimes and the default runtime on SIGHUP.
  $sudo_ pkill -HUP -x dockerd
  sleep 2
  out=$(probe) || die "a privileged container still fails with the runtime wrapper: $out"
}

buildkit() {
  docker buildx version >/dev/null 2>&1 && return 0
  local client
  client=$(docker version --format '{{.Client.Version}}' 2>/dev/null || echo 0)
  # Before 23 the CLI has BuildKit built in (DOCKER_BUILDKIT=1).
  [ "${client%%.*}" -lt 23 ] 2>/dev/null && return 0
  command -v go >/dev/null || die "the Docker CLI $client needs the buildx plugin for BuildKit, and Go (>= 1.26) to build it"
  say "building the buildx plugin $BUILDX_VERSION into $plugins"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS="-trimpath -buildvcs=false" go install \
    -ldflags "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION" \
    "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION")
  $sudo_ install -D -m 0755 "$tmp/buildx" "$plugins/docker-buildx"
  rm -rf "$tmp"
  docker buildx version >/dev/null || die "docker buildx does not run after installing $plugins/docker-buildx"
}

install_packages
start_dockerd
buildkit
base_image
privileged

case "${1:-}" in
  --env) echo "FEDWAY_BASE_IMAGE=$base_image" ;;
  "") echo "$base_image" ;;
  *) echo "usage: docker.sh [--env]" >&2; exit 2 ;;
esac

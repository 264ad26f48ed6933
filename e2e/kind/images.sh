#!/usr/bin/env bash
# Builds Fedway's four images with the Dockerfiles users build
# (deploy/docker/Dockerfile.<binary>), tagged as deploy/ names them
# (ghcr.io/fedway/<binary>:<tag>, the chart's default images).
#
# On a machine that reaches an image registry they build on the Dockerfiles'
# default bases (rust:1.95-bookworm, gcr.io/distroless/cc-debian12:nonroot).
# With FEDWAY_LOCAL_BASES=1 (e2e/kind/run.sh sets it where no registry
# answers) they build on local equivalents instead, passed as the
# Dockerfiles' build arguments:
#   fedway.local/rust:<rustc version>   the Debian base of
#       e2e/scripts/docker.sh with this machine's Rust toolchain (`rustc
#       --print sysroot` in the workspace), a C toolchain and this machine's
#       extra CA certificates (/usr/local/share/ca-certificates);
#   fedway.local/cc:nonroot             the same Debian base with its glibc
#       and libgcc, CA certificates and the nonroot user (65532), which is
#       what distroless/cc carries.
#
#   images.sh            build, then print the image names, one a line
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
binaries=(fedway-hub fedway-agent fedway-dns fedway-proxy)

say() { echo "images.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# BuildKit: the Dockerfiles use cache mounts (e2e/scripts/docker.sh makes
# sure this client has it).
export DOCKER_BUILDKIT=1

# The chart's appVersion: the tag its default values (and deploy/) pull.
tag=$(sed -n 's/^appVersion: *//p' "$repo/charts/fedway/Chart.yaml")
[ -n "$tag" ] || die "no appVersion in charts/fedway/Chart.yaml"

build_args=()
if [ "${FEDWAY_LOCAL_BASES:-0}" = 1 ]; then
  debian=$("$repo/e2e/scripts/docker.sh")
  sysroot=$(cd "$repo" && rustc --print sysroot)
  rust_version=$(cd "$repo" && rustc --version | awk '{print $2}')
  rust_image=fedway.local/rust:$rust_version
  cc_image=fedway.local/cc:nonroot
  if ! docker image inspect "$rust_image" >/dev/null 2>&1; then
    say "building $rust_image from $sysroot"
    ctx=$(mktemp -d)
    # Hard links where the toolchain shares the file system: no copy.
    mkdir -p "$ctx/rust"
    cp -al "$sysroot/bin" "$sysroot/lib" "$ctx/rust/" 2>/dev/null || cp -a "$sysroot/bin" "$sysroot/lib" "$ctx/rust/"
    # This machine's own CAs (a TLS-inspecting proxy's, say): cargo fetches
    # crates inside the build as it does here.
    mkdir -p "$ctx/ca"
    cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
    cat >"$ctx/Dockerfile" <<EOF
FROM $debian
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc libc6-dev pkg-config ca-certificates && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY ca /usr/local/share/ca-certificates
RUN update-ca-certificates
COPY rust /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN cargo --version && rustc --version
EOF
    docker build -q -t "$rust_image" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  if ! docker image inspect "$cc_image" >/dev/null 2>&1; then
    say "building $cc_image"
    ctx=$(mktemp -d)
    cat >"$ctx/Dockerfile" <<EOF
FROM $debian
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 65532 nonroot && useradd -u 65532 -g 65532 -d /home/nonroot -m -s /usr/sbin/nologin nonroot
USER 65532:65532
EOF
    docker build -q -t "$cc_image" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  build_args=(--build-arg "RUST_IMAGE=$rust_image" --build-arg "RUNTIME_IMAGE=$cc_image")
fi

for binary in "${binaries[@]}"; do
  say "building ghcr.io/fedway/$binary:$tag (deploy/docker/Dockerfile.$binary)"
  docker build "${build_args[@]}" -f "$repo/deploy/docker/Dockerfile.$binary" \
    -t "ghcr.io/fedway/$binary:$tag" "$repo" >&2
  echo "ghcr.io/fedway/$binary:$tag"
done

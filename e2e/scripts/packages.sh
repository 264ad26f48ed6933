#!/usr/bin/env bash
# Installs the Debian packages that provide the commands Fedway's tests,
# benchmarks and CI run (real DNS servers and clients, proxies, load
# generators), where a command is missing, so that `cargo test --workspace`
# works on a fresh machine as .ci/run does:
#
#   packages.sh COMMAND=PACKAGE ...      e.g. nsd=nsd kdig=knot-dnsutils
#
# Nothing is installed when every command is on PATH. Installing needs root
# or password-less sudo; apt-get runs once at a time across processes (test
# binaries run in parallel). Packages that start system services (nginx,
# HAProxy) are stopped and disabled again: they would take the ports the
# benchmarks use.
set -euo pipefail

missing=()
for pair in "$@"; do
  command=${pair%%=*}
  package=${pair#*=}
  [[ -n $command && -n $package && $pair == *=* ]] || { echo "usage: packages.sh COMMAND=PACKAGE ..." >&2; exit 2; }
  command -v "$command" >/dev/null 2>&1 || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo_=()
if [[ $(id -u) -ne 0 ]]; then
  sudo -n true 2>/dev/null || { echo "packages.sh: ${missing[*]} missing and not root (apt-get install ${missing[*]})" >&2; exit 1; }
  sudo_=(sudo -n)
fi
command -v apt-get >/dev/null || { echo "packages.sh: ${missing[*]} missing and no apt-get: install them" >&2; exit 1; }

cache_root="${FEDWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedway}"
mkdir -p "$cache_root"
exec 9>"$cache_root/.apt.lock"
flock 9
# Another process may have installed them while this one waited.
still=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null 2>&1 || still+=("${pair#*=}")
done
[[ ${#still[@]} -eq 0 ]] && exit 0
mapfile -t still < <(printf '%s\n' "${still[@]}" | sort -u)

echo "packages.sh: installing ${still[*]} (first use)" >&2
"${sudo_[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_[@]}" apt-get install -y -qq "${still[@]}" >/dev/null
if command -v systemctl >/dev/null; then
  "${sudo_[@]}" systemctl disable --now nginx haproxy nsd knot 2>/dev/null || true
fi

# shellcheck shell=bash
# Sourced by the scripts that build upstream binaries into Fedway's cache
# (control-plane.sh, traefik.sh, e2e/kind/tools.sh): one way to build a set
# once, across processes.
#
#   cache_build OUT "BIN..." WHAT BUILDER
#
# When OUT (a directory) lacks an executable of BIN..., runs `BUILDER TMP`
# under the lock OUT.lock, TMP being a fresh directory beside OUT, then
# moves TMP to OUT; WHAT says on stderr what is being built. A process that
# waited for the lock finds OUT complete and builds nothing.

cache_complete() {
  local out=$1 binary
  shift
  for binary in "$@"; do [ -x "$out/$binary" ] || return 1; done
}

cache_build() {
  local out=$1 want=$2 what=$3 builder=$4 tmp start lock
  # shellcheck disable=SC2086 # want is a list of names
  cache_complete "$out" $want && return 0
  mkdir -p "$(dirname "$out")"
  lock="$out.lock"
  exec 9>"$lock"
  flock 9
  # shellcheck disable=SC2086
  if ! cache_complete "$out" $want; then
    tmp="$out.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    echo "$what into $out (first time only)" >&2
    start=$SECONDS
    "$builder" "$tmp"
    # Keep what OUT held besides the set (e.g. another set's directory).
    if [ -d "$out" ]; then
      cp -a "$tmp/." "$out/"
      rm -rf "$tmp"
    else
      mv "$tmp" "$out"
    fi
    echo "built in $((SECONDS - start)) s" >&2
  fi
  exec 9>&-
}

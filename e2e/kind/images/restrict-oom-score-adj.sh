#!/bin/sh
# Run before containerd starts in a kind node (a drop-in of
# containerd.service in e2e/kind/images/base.Dockerfile). Lowering a
# process's oom_score_adj needs CAP_SYS_RESOURCE; a node container started
# without it (a sandbox whose bounding set lacks it, with dockerd's runtime
# wrapper from e2e/scripts/docker.sh) fails every pod sandbox with
# "nsexec: failed to update /proc/self/oom_score_adj: Permission denied".
# containerd's restrict_oom_score_adj (what kind sets for rootless nodes)
# then keeps pods' scores at or above its own instead. Nodes that hold the
# capability are left as kind configures them.
set -eu
bounding=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
# CAP_SYS_RESOURCE is capability 24.
if [ $(( 0x$bounding >> 24 & 1 )) -eq 0 ]; then
  sed -i 's/^\([[:space:]]*restrict_oom_score_adj[[:space:]]*=[[:space:]]*\)false/\1true/' /etc/containerd/config.toml
fi

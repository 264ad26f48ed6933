# The kind node's base image (what `kind build node-image --base-image`
# takes), built offline: the steps of kind's own images/base/Dockerfile
# (sigs.k8s.io/kind at the version e2e/kind/tools.sh pins), with its files/
# taken from that module and containerd, runc, crictl, the CNI plugins and
# containerd-fuse-overlayfs built by e2e/kind/node-image.sh from their Go
# modules at the versions that Dockerfile names, instead of git clones and
# a downloaded Go. One addition: containerd restricts pods' oom_score_adj
# where the node lacks CAP_SYS_RESOURCE (restrict-oom-score-adj.sh). The
# build context is assembled by node-image.sh:
#   files/   kind's images/base/files
#   bin/     the binaries
#   restrict-oom-score-adj.sh
ARG BASE_IMAGE=fedway.local/debian:bookworm
FROM $BASE_IMAGE AS build
ARG PAUSE_IMAGE

COPY --chmod=0755 files/usr/local/bin/* /usr/local/bin/
COPY --chmod=0644 files/kind/ /kind/
COPY --chmod=0755 files/kind/bin/ /kind/bin/
COPY --chmod=0644 files/LICENSES/* /LICENSES/
COPY --chmod=0644 files/etc/* /etc/
COPY --chmod=0644 files/etc/containerd/* /etc/containerd/
COPY --chmod=0644 files/etc/default/* /etc/default/
COPY --chmod=0644 files/etc/sysctl.d/* /etc/sysctl.d/
COPY --chmod=0644 files/etc/systemd/system/* /etc/systemd/system/
COPY --chmod=0644 files/etc/systemd/system/kubelet.service.d/* /etc/systemd/system/kubelet.service.d/

RUN chmod 755 /kind /kind/bin \
    && DEBIAN_FRONTEND=noninteractive clean-install \
      systemd \
      conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz fuse-overlayfs \
      nfs-common open-iscsi \
      e2fsprogs \
      bash ca-certificates curl jq procps \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* \
    && rm -f /etc/systemd/system/*.wants/* \
    && rm -f /lib/systemd/system/local-fs.target.wants/* \
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
    && rm -f /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf /usr/lib/systemd/systemd /sbin/init

RUN systemctl enable kubelet.service \
    && systemctl enable containerd.service \
    && systemctl enable undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests

COPY --chmod=0755 bin/containerd bin/ctr bin/containerd-shim-runc-v2 bin/crictl bin/containerd-fuse-overlayfs-grpc /usr/local/bin/
COPY --chmod=0755 bin/runc /usr/local/sbin/runc
COPY --chmod=0755 restrict-oom-score-adj.sh /kind/bin/restrict-oom-score-adj.sh
RUN mkdir -p /etc/systemd/system/containerd.service.d \
    && printf '[Service]\nExecStartPre=/kind/bin/restrict-oom-score-adj.sh\n' \
       > /etc/systemd/system/containerd.service.d/10-restrict-oom-score-adj.conf
COPY --chmod=0755 bin/host-local bin/loopback bin/ptp bin/portmap /opt/cni/bin/
# The sandbox (pause) image is the one this Kubernetes release's kubeadm
# names, the one node-image.sh builds, instead of kind's pinned tag.
RUN ctr oci spec \
        | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
        | jq 'del(.process.rlimits)' \
        > /etc/containerd/cri-base.json \
    && sed -i "s#^\(\s*sandbox_image = \).*#\1\"$PAUSE_IMAGE\"#" /etc/containerd/config.toml \
    && grep -q "sandbox_image = \"$PAUSE_IMAGE\"" /etc/containerd/config.toml \
    && containerd --version && runc --version && crictl --version

FROM scratch
COPY --from=build / /
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]

#!/bin/sh
# Pod networking for kind nodes built offline, run by kind's default CNI
# DaemonSet in place of kindnetd, whose module (sigs.k8s.io/kind/images/
# kindnetd) the Go module proxy here does not serve. It does what kindnetd
# does for kind's own manifest (env HOST_IP, the node's /etc/cni/net.d):
#   - writes /etc/cni/net.d/10-kindnet.conflist for this node's podCIDR: the
#     upstream ptp plugin with host-local IPAM (masquerading pods' traffic
#     that leaves the node, as kindnetd's masq rules do) and portmap;
#   - routes every other node's podCIDR via that node's InternalIP.
# It reads Nodes with the Pod's ServiceAccount (kind's kindnet ClusterRole
# allows list), every 10 s.
set -u
sa=/var/run/secrets/kubernetes.io/serviceaccount
conf=/etc/cni/net.d/10-kindnet.conflist
: "${HOST_IP:?HOST_IP, the address of this node, is required}"

get() {
  curl -sS --fail --max-time 10 --cacert "$sa/ca.crt" \
    -H "Authorization: Bearer $(cat "$sa/token")" "$1/api/v1/nodes"
}

# This node's own API server where it has one (a control-plane node), else
# the kubernetes Service. Not the Service first: this runs before
# kube-proxy may have programmed it, and until then a packet to its
# ClusterIP would leave the node by the default route.
nodes() {
  get "https://$HOST_IP:6443" 2>/dev/null ||
    get "https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"
}

conflist() {
  jq -n --arg subnet "$1" '{
    cniVersion: "0.4.0", name: "kindnet",
    plugins: [
      {type: "ptp", ipMasq: true, mtu: 1500,
       ipam: {type: "host-local", dataDir: "/run/cni-ipam-state",
              routes: [{dst: "0.0.0.0/0"}], ranges: [[{subnet: $subnet}]]}},
      {type: "portmap", capabilities: {portMappings: true}}
    ]}'
}

while :; do
  if list=$(nodes); then
    own=$(echo "$list" | jq -r --arg ip "$HOST_IP" \
      '.items[] | select(any(.status.addresses[]; .type == "InternalIP" and .address == $ip)) | .spec.podCIDR // empty')
    if [ -n "$own" ]; then
      want=$(conflist "$own")
      if [ "$want" != "$(cat "$conf" 2>/dev/null)" ]; then
        echo "$want" >"$conf.tmp" && mv "$conf.tmp" "$conf" && echo "wrote $conf for $own"
      fi
    else
      echo "no node with InternalIP $HOST_IP and a podCIDR yet"
    fi
    echo "$list" | jq -r --arg ip "$HOST_IP" \
      '.items[] | select(.spec.podCIDR != null) | [(.status.addresses[] | select(.type == "InternalIP") | .address), .spec.podCIDR] | select(.[0] != $ip) | "\(.[1]) \(.[0])"' |
      while read -r cidr via; do
        ip route replace "$cidr" via "$via" || echo "route $cidr via $via failed"
      done
  else
    echo "listing nodes failed"
  fi
  sleep 10
done

#!/usr/bin/env bash
# The Fedway journey (the steps `cargo test -p fedway-e2e --test federation
# journey` asserts locally, fedway_e2e::journey) on kind clusters: a hub and
# members member-eu/us/ap, the images built from deploy/docker, Fedway
# installed with its Helm chart (charts/fedway) at its defaults where a user
# would keep them (LoadBalancer Services, from MetalLB: e2e/kind/metallb.sh),
# members joined with `fedway-hub join`.
#
#   e2e/kind/run.sh [all]     up, then check (default)
#   e2e/kind/run.sh up        create the clusters, build and load the
#                             images, install CRDs and the chart, join
#   e2e/kind/run.sh check     the journey with the local test's assertions
#                             (fedway-demo --kind DIR --check); exit 1 if one fails
#   e2e/kind/run.sh demo [-- fedway-demo args, e.g. --keep]   narrated only
#   e2e/kind/run.sh down      delete the clusters and the kubeconfigs
#
# Needs a Docker engine, Go and cargo, on Linux (the host reaches the nodes
# at their Docker network addresses). kind and kubectl are built from their
# Go modules at the versions e2e pins (e2e/kind/tools.sh,
# e2e/scripts/control-plane.sh). Environment:
#   FEDWAY_KIND_PREFIX      cluster name prefix (default fedway-)
#   FEDWAY_KIND_DIR         kubeconfigs and generated configs (default
#                           target/fedway-kind)
#   FEDWAY_KIND_NODE_IMAGE  node image (default: kind's own; offline: built)
#   FEDWAY_KIND_OFFLINE=1   no image registry is reachable (Fedway's CI):
#                           set up the Docker engine (e2e/scripts/docker.sh),
#                           build the node image (e2e/kind/node-image.sh) and
#                           build every image on local bases
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=${FEDWAY_KIND_PREFIX:-fedway-}
dir=${FEDWAY_KIND_DIR:-$repo/target/fedway-kind}
node_image=${FEDWAY_KIND_NODE_IMAGE:-}
offline=${FEDWAY_KIND_OFFLINE:-0}
# name and region of each member, in the journey's failover order
# (fedway_e2e::journey::SITES).
members=(member-eu:eu-west member-us:us-east member-ap:ap-south)
region_label=topology.kubernetes.io/region
# The API server's audit log in the hub's node (KindEnv reads it there).
audit_log=/var/log/kubernetes/kube-apiserver-audit.log

die() { echo "run.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "needs $tool on PATH"
  done
}

# kubectl against one of the clusters: kc <cluster> args...
kc() {
  local cluster=$1
  shift
  kubectl --kubeconfig "$dir/$cluster.kubeconfig" "$@"
}

node() { echo "$prefix$1-control-plane"; }

# A node's address on kind's Docker network: what the other clusters and
# this host reach it at.
node_ip() {
  docker inspect -f '{{ (index .NetworkSettings.Networks "kind").IPAddress }}' "$(node "$1")"
}

# The upstream Gateway API release e2e pins (e2e/go/gateway-api/go.mod):
# its module directory (CRDs in config/crd/standard) or its version.
gateway_api() {
  local format
  case $1 in
    dir) format='{{if .Replace}}{{.Replace.Dir}}{{else}}{{.Dir}}{{end}}' ;;
    version) format='{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' ;;
  esac
  (cd "$repo/e2e/go/gateway-api" && go mod download sigs.k8s.io/gateway-api &&
    go list -m -f "$format" sigs.k8s.io/gateway-api)
}

# kind config: one node; the hub's with the audit policy, each member's
# labelled with its region. Kubernetes 1.35's kubelet refuses a cgroup v1
# host unless told (KEP-5573).
kind_config() {
  local cluster=$1 region=${2:-}
  cat <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
YAML
  if [[ $(stat -fc %T /sys/fs/cgroup) != cgroup2fs ]]; then
    cat <<YAML
kubeadmConfigPatches:
  - |
    kind: KubeletConfiguration
    failCgroupV1: false
YAML
  fi
  if [[ $cluster == hub ]]; then
    # kind writes kubeadm's v1beta3 config for Kubernetes before 1.36 (a
    # map of extraArgs).
    cat <<YAML
nodes:
  - role: control-plane
    extraMounts:
      - hostPath: $here/audit-policy.yaml
        containerPath: /etc/kubernetes/audit/policy.yaml
        readOnly: true
    kubeadmConfigPatches:
      - |
        kind: ClusterConfiguration
        apiServer:
          extraArgs:
            audit-policy-file: /etc/kubernetes/audit/policy.yaml
            audit-log-path: $audit_log
          extraVolumes:
            - name: audit-policy
              hostPath: /etc/kubernetes/audit
              mountPath: /etc/kubernetes/audit
              readOnly: true
              pathType: Directory
            - name: audit-log
              hostPath: $(dirname "$audit_log")
              mountPath: $(dirname "$audit_log")
              readOnly: false
              pathType: DirectoryOrCreate
YAML
  else
    cat <<YAML
nodes:
  - role: control-plane
    labels:
      $region_label: $region
YAML
  fi
}

create_cluster() {
  local cluster=$1 region=${2:-}
  if kind get clusters 2>/dev/null | grep -qxF "$prefix$cluster"; then
    say "kind cluster $prefix$cluster exists: kept"
  else
    say "creating kind cluster $prefix$cluster"
    kind_config "$cluster" "$region" >"$dir/$cluster.kind.yaml"
    kind create cluster --name "$prefix$cluster" --config "$dir/$cluster.kind.yaml" \
      ${node_image:+--image "$node_image"} --wait 180s
  fi
  kind get kubeconfig --name "$prefix$cluster" >"$dir/$cluster.kubeconfig"
}

# The images users build (deploy/docker, e2e/kind/images.sh), MetalLB's
# and the journey's echo backend, loaded into every cluster so that the
# nodes pull nothing.
build_and_load() {
  local images=() cluster
  mapfile -t images < <("$here/images.sh")
  [[ ${#images[@]} -eq 4 ]] || die "images.sh built ${#images[@]} images, not 4"
  mapfile -t metallb_images < <("$here/metallb.sh" images "$(local_base)")
  [[ ${#metallb_images[@]} -eq 2 ]] || die "metallb.sh built ${#metallb_images[@]} images, not 2"
  images+=("${metallb_images[@]}" "$(echo_image)")
  for cluster in hub "${members[@]%%:*}"; do
    say "loading images into $prefix$cluster"
    kind load docker-image --name "$prefix$cluster" "${images[@]}"
  done
}

# What images built here from Go binaries sit on: the local Debian base
# offline, else Debian's slim image.
local_base() {
  if [[ $offline == 1 ]]; then
    "$repo/e2e/scripts/docker.sh"
  else
    echo debian:bookworm-slim
  fi
}

# The journey's backend: echo-basic from the pinned Gateway API module (the
# binary e2e/scripts/control-plane.sh builds).
echo_image() {
  local image ctx
  image=fedway.local/echo-basic:$(gateway_api version)
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    ctx=$(mktemp -d)
    cp "$cp_bin/echo-basic" "$ctx/"
    printf 'FROM %s\nCOPY echo-basic /usr/local/bin/echo-basic\nUSER 65532:65532\nENTRYPOINT ["/usr/local/bin/echo-basic"]\n' "$(local_base)" >"$ctx/Dockerfile"
    docker build -q -t "$image" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  echo "$image"
}

install_crds() {
  local cluster=$1 gwapi=$2
  kc "$cluster" apply --server-side -f "$gwapi/config/crd/standard"
  kc "$cluster" apply --server-side -f "$repo/crds/yaml"
  kc "$cluster" wait --for condition=Established crd --all --timeout=60s
}

# An IPv4 address as a number and back.
ip_number() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
number_ip() {
  echo "$(($1 >> 24 & 255)).$(($1 >> 16 & 255)).$(($1 >> 8 & 255)).$(($1 & 255))"
}

# The load balancer addresses of the index-th cluster (hub 0, then the
# members): eight at the top of kind's IPv4 network, below its broadcast
# address, a range of their own per cluster. Docker gives containers
# addresses from the bottom, so the nodes never take one.
pool_range() {
  local index=$1 subnet net bits last
  subnet=$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr ' ' '\n' | grep -m1 -F .) ||
    die "no IPv4 subnet on Docker network kind"
  net=$(ip_number "${subnet%/*}")
  bits=${subnet#*/}
  ((bits <= 26)) || die "Docker network kind is a /$bits: too small for four address pools"
  last=$((net + (1 << (32 - bits)) - 2 - 8 * index))
  echo "$(number_ip $((last - 7)))-$(number_ip "$last")"
}

# MetalLB (e2e/kind/metallb.sh): its own chart with the images
# build_and_load put in the nodes, layer 2 only (no FRR), announcing from
# the control-plane node kind's clusters have (kubeadm labels it
# exclude-from-external-load-balancers), and an address pool of the
# cluster's own. The pool is applied until MetalLB's webhook answers.
install_load_balancer() {
  local cluster=$1 range=$2 controller=${metallb_images[0]} speaker=${metallb_images[1]}
  say "MetalLB in $prefix$cluster: addresses $range"
  helm upgrade --install metallb "$("$here/metallb.sh" chart)" --kubeconfig "$dir/$cluster.kubeconfig" \
    --namespace metallb-system --create-namespace \
    --set "controller.image.repository=${controller%:*}" --set "controller.image.tag=${controller##*:}" \
    --set "speaker.image.repository=${speaker%:*}" --set "speaker.image.tag=${speaker##*:}" \
    --set speaker.frr.enabled=false --set speaker.ignoreExcludeLB=true --wait --timeout 180s >/dev/null
  local attempt
  for attempt in $(seq 30); do
    kc "$cluster" apply -f - >/dev/null 2>&1 <<YAML && return 0
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: kind
  namespace: metallb-system
spec:
  addresses: [$range]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: kind
  namespace: metallb-system
spec:
  ipAddressPools: [kind]
YAML
    sleep 2
  done
  die "MetalLB's address pool in $prefix$cluster: not accepted after $attempt attempts (kubectl -n metallb-system get pods)"
}

# Fedway from the chart (charts/fedway), as users install it: the images
# build_and_load put in the nodes, fedway-dns behind its LoadBalancer
# Service (KindEnv asks its address at port 53). helm --wait: every
# Deployment rolled out, every Service with an address.
install_chart() {
  local cluster=$1
  shift
  helm upgrade --install fedway "$repo/charts/fedway" --kubeconfig "$dir/$cluster.kubeconfig" \
    --namespace fedway-system --create-namespace --set dns.enabled=true "$@" --wait --timeout 180s
}

install_hub() {
  local gwapi=$1
  say "installing the hub"
  install_crds hub "$gwapi"
  install_chart hub --set hub.enabled=true --set dns.reportPolicyStatus=true
  docker exec "$(node hub)" test -f "$audit_log" ||
    die "no audit log $audit_log in $(node hub): the kubeadm patch in $dir/hub.kind.yaml did not apply (delete the cluster and retry, or adapt kind_config to your kind's kubeadm API)"
}

install_member() {
  local member=$1 region=$2 gwapi=$3 hub_ip
  say "installing $member ($region) and joining it"
  install_crds "$member" "$gwapi"
  hub_ip=$(node_ip hub)
  # The administrator's action, with the hub's admin kubeconfig; the agent
  # reaches the hub at its node address (in the API server's certificate).
  cargo run -q --manifest-path "$repo/Cargo.toml" -p fedway-hub --bin fedway-hub -- \
    join "$member" --label "$region_label=$region" \
    --hub-server "https://$hub_ip:6443" --kubeconfig "$dir/hub.kubeconfig" \
    --output "$dir/$member-agent.kubeconfig"
  # fedway-proxy as a cluster's gateway: two replicas in the pod network
  # behind a LoadBalancer Service per Gateway (the chart's default), whose
  # address MetalLB gives and the Gateway reports, reachable from this host
  # and from the other clusters. A rejoin's new credential restarts the
  # agent (the chart's pod template carries its checksum).
  install_chart "$member" --set agent.enabled=true --set "agent.clusterName=$member" \
    --set-file "agent.hubKubeconfig=$dir/$member-agent.kubeconfig" \
    --set proxy.enabled=true --set proxy.publish=service
}

# What up needs on PATH: kind and helm from their pinned modules, kubectl of the pinned release; offline, a Docker engine
# that starts privileged containers and a node image built here.
tools() {
  need go cargo docker
  if [[ $offline == 1 ]]; then
    "$repo/e2e/scripts/docker.sh" >/dev/null
    [[ -n $node_image ]] || node_image=$("$here/node-image.sh")
    # images.sh: the Dockerfiles' bases as local equivalents.
    export FEDWAY_LOCAL_BASES=1
  fi
  docker info >/dev/null 2>&1 || die "no Docker engine (docker info fails); e2e/scripts/docker.sh starts one"
  cp_bin=$("$repo/e2e/scripts/control-plane.sh")
  PATH="$("$here/tools.sh"):$cp_bin:$PATH"
  export PATH
}

up() {
  tools
  mkdir -p "$dir"
  local site gwapi
  create_cluster hub
  for site in "${members[@]}"; do
    create_cluster "${site%%:*}" "${site#*:}"
  done
  build_and_load
  local index=0 cluster
  for cluster in hub "${members[@]%%:*}"; do
    install_load_balancer "$cluster" "$(pool_range $index)"
    index=$((index + 1))
  done
  gwapi=$(gateway_api dir)
  install_hub "$gwapi"
  for site in "${members[@]}"; do
    install_member "${site%%:*}" "${site#*:}" "$gwapi"
  done
  kc hub wait --for condition=Ready memberclusters --all --timeout=180s
  say "up: kubeconfigs in $dir"
}

demo() {
  need docker cargo
  cp_bin=$("$repo/e2e/scripts/control-plane.sh")
  cargo run --manifest-path "$repo/Cargo.toml" -p fedway-e2e --bin fedway-demo -- \
    --kind "$dir" --kind-prefix "$prefix" --echo-image "$(echo_image)" "$@"
}

down() {
  local cluster
  for cluster in hub "${members[@]%%:*}"; do
    kind delete cluster --name "$prefix$cluster"
  done
  rm -rf "$dir"
}

command=${1:-all}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == -- ]] && shift
case $command in
  up) up ;;
  check) demo --check "$@" ;;
  demo) demo "$@" ;;
  all) up && demo --check "$@" ;;
  down)
    PATH="$("$here/tools.sh"):$PATH"
    down
    ;;
  *) die "usage: run.sh [all|up|check|demo [-- fedway-demo args]|down]" ;;
esac

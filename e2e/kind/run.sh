#!/usr/bin/env bash
# The Fedway journey (the steps `cargo test -p fedway-e2e --test federation
# journey` asserts locally, fedway_e2e::journey) on kind clusters: a hub and
# members member-eu/us/ap, the images built from deploy/docker, Fedway
# installed with its Helm chart (charts/fedway), members joined with
# `fedway-hub join`.
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

# The images users build (deploy/docker, e2e/kind/images.sh) and the
# journey's echo backend, loaded into every cluster so that the nodes pull
# nothing.
build_and_load() {
  local images=() cluster
  mapfile -t images < <("$here/images.sh")
  [[ ${#images[@]} -eq 4 ]] || die "images.sh built ${#images[@]} images, not 4"
  images+=("$(echo_image)")
  for cluster in hub "${members[@]%%:*}"; do
    say "loading images into $prefix$cluster"
    kind load docker-image --name "$prefix$cluster" "${images[@]}"
  done
}

# The journey's backend: echo-basic from the pinned Gateway API module (the
# binary e2e/scripts/control-plane.sh builds), on the local Debian base
# offline, else on Debian's slim image.
echo_image() {
  local image base ctx
  image=fedway.local/echo-basic:$(gateway_api version)
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    base=debian:bookworm-slim
    [[ $offline == 1 ]] && base=$("$repo/e2e/scripts/docker.sh")
    ctx=$(mktemp -d)
    cp "$cp_bin/echo-basic" "$ctx/"
    printf 'FROM %s\nCOPY echo-basic /usr/local/bin/echo-basic\nUSER 65532:65532\nENTRYPOINT ["/usr/local/bin/echo-basic"]\n' "$base" >"$ctx/Dockerfile"
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

# Fedway from the chart (charts/fedway), as users install it: the
# images build_and_load put in the nodes, each DNS Service a NodePort (kind
# has no load balancer; the host reaches <node IP>:<node port>, which
# KindEnv reads from the Service). helm --wait: every Deployment rolled out.
install_chart() {
  local cluster=$1
  shift
  helm upgrade --install fedway "$repo/charts/fedway" --kubeconfig "$dir/$cluster.kubeconfig" \
    --namespace fedway-system --create-namespace --set dns.enabled=true \
    --set dns.service.type=NodePort "$@" --wait --timeout 180s
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
  local member=$1 region=$2 gwapi=$3 ip hub_ip
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
  # behind a Service per Gateway. kind has no load balancer, so the Service
  # is a ClusterIP with the node's own address as its external IP (the pool):
  # kube-proxy forwards <node IP>:80 to the replicas, and the Gateway's
  # address is the node's, reachable from this host and from the other
  # clusters. A rejoin's new credential restarts the agent (the chart's pod
  # template carries its checksum).
  ip=$(node_ip "$member")
  install_chart "$member" --set agent.enabled=true --set "agent.clusterName=$member" \
    --set-file "agent.hubKubeconfig=$dir/$member-agent.kubeconfig" \
    --set proxy.enabled=true --set proxy.publish=service --set proxy.service.type=ClusterIP \
    --set "proxy.addressPool=$ip-$ip"
}

# What up needs on PATH: kind, helm and cloud-provider-kind from their
# pinned modules, kubectl of the pinned release; offline, a Docker engine
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

#!/usr/bin/env bash
# The Fedway journey (fedway-demo, the same steps `cargo test -p fedway-e2e
# --test federation journey` asserts locally) on kind clusters: a hub and
# members member-eu/us/ap, the images built from deploy/docker, the
# manifests from deploy/, members joined with `fedway-hub join`.
#
#   e2e/kind/run.sh [all]     up, then demo (default)
#   e2e/kind/run.sh up        create the clusters, build and load the
#                             images, install CRDs and manifests, join
#   e2e/kind/run.sh demo [-- fedway-demo args, e.g. --keep]
#   e2e/kind/run.sh down      delete the clusters and the kubeconfigs
#
# Needs Docker (a running engine), kind, kubectl, go and cargo; Linux,
# since the host reaches the nodes at their Docker network addresses.
# Environment: FEDWAY_KIND_PREFIX (cluster name prefix, default fedway-),
# FEDWAY_KIND_DIR (kubeconfigs and generated kind configs, default
# target/fedway-kind), FEDWAY_KIND_NODE_IMAGE (kindest/node image, default
# kind's own). Not run in Fedway's CI: that machine has no Docker engine.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=${FEDWAY_KIND_PREFIX:-fedway-}
dir=${FEDWAY_KIND_DIR:-$repo/target/fedway-kind}
node_image=${FEDWAY_KIND_NODE_IMAGE:-}
# name and region of each member, in the journey's failover order
# (fedway_e2e::journey::SITES).
members=(member-eu:eu-west member-us:us-east member-ap:ap-south)
region_label=topology.kubernetes.io/region
binaries=(fedway-hub fedway-agent fedway-dns fedway-proxy)
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

# The manifests' image tag (deploy/ names ghcr.io/fedway/<binary>:<tag>).
image_tag() {
  local tag
  tag=$(sed -n 's#^ *image: ghcr.io/fedway/fedway-hub:##p' "$repo/deploy/hub/deployment.yaml")
  [[ -n $tag ]] || die "no ghcr.io/fedway/fedway-hub image in deploy/hub/deployment.yaml"
  echo "$tag"
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

# A deploy/ file with one placeholder replaced (kustomize-free; fails if
# the placeholder moved, so an edit to deploy/ cannot be silently missed).
render() {
  local file=$1 from=$2 to=$3
  grep -qF -- "$from" "$file" || die "$file no longer contains '$from': update e2e/kind/run.sh"
  sed "s|$from|$to|" "$file"
}

# kind config: one node; the hub's with the audit policy, each member's
# labelled with its region.
kind_config() {
  local cluster=$1 region=${2:-}
  cat <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
YAML
  if [[ $cluster == hub ]]; then
    cat <<YAML
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

build_and_load() {
  local tag echo_image binary images=()
  tag=$(image_tag)
  for binary in "${binaries[@]}"; do
    say "building ghcr.io/fedway/$binary:$tag"
    DOCKER_BUILDKIT=1 docker build -f "$repo/deploy/docker/Dockerfile.$binary" \
      -t "ghcr.io/fedway/$binary:$tag" "$repo"
    images+=("ghcr.io/fedway/$binary:$tag")
  done
  # The journey's backends (fedway_e2e::journey's ECHO_IMAGE), loaded so
  # the nodes need no registry access while the scenario runs.
  echo_image=registry.k8s.io/gateway-api/echo-basic:$(gateway_api version)
  docker pull "$echo_image"
  images+=("$echo_image")
  local cluster
  for cluster in hub "${members[@]%%:*}"; do
    say "loading images into $prefix$cluster"
    kind load docker-image --name "$prefix$cluster" "${images[@]}"
  done
}

install_crds() {
  local cluster=$1 gwapi=$2
  kc "$cluster" apply --server-side -f "$gwapi/config/crd/standard"
  kc "$cluster" apply --server-side -f "$repo/crds/yaml"
  kc "$cluster" wait --for condition=Established crd --all --timeout=60s
}

# The DNS Service as a NodePort: kind has no load balancer, and the host
# reaches <node IP>:<node port> (KindEnv reads the port from the Service).
install_dns() {
  local cluster=$1 manifests=$2
  kc "$cluster" apply --server-side -f "$manifests/rbac.yaml" -f "$manifests/deployment.yaml"
  render "$manifests/service.yaml" "type: LoadBalancer" "type: NodePort" |
    kc "$cluster" apply --server-side -f -
}

rollout() {
  local cluster=$1 deployment
  shift
  for deployment in "$@"; do
    kc "$cluster" -n fedway-system rollout status "deployment/$deployment" --timeout=180s
  done
}

install_hub() {
  local gwapi=$1 deploy=$repo/deploy
  say "installing the hub"
  install_crds hub "$gwapi"
  kc hub apply --server-side -f "$deploy/hub/namespace.yaml"
  kc hub apply --server-side -f "$deploy/hub"
  install_dns hub "$deploy/dns-hub"
  rollout hub fedway-hub fedway-dns
  docker exec "$(node hub)" test -f "$audit_log" ||
    die "no audit log $audit_log in $(node hub): the kubeadm patch in $dir/hub.kind.yaml did not apply (delete the cluster and retry, or adapt kind_config to your kind's kubeadm API)"
}

install_member() {
  local member=$1 region=$2 gwapi=$3 deploy=$repo/deploy ip hub_ip
  say "installing $member ($region) and joining it"
  install_crds "$member" "$gwapi"
  kc "$member" apply --server-side -f "$deploy/agent/namespace.yaml"
  hub_ip=$(node_ip hub)
  # The administrator's action, with the hub's admin kubeconfig; the agent
  # reaches the hub at its node address (in the API server's certificate).
  cargo run -q --manifest-path "$repo/Cargo.toml" -p fedway-hub --bin fedway-hub -- \
    join "$member" --label "$region_label=$region" \
    --hub-server "https://$hub_ip:6443" --kubeconfig "$dir/hub.kubeconfig" \
    --output "$dir/$member-agent.kubeconfig"
  kc "$member" -n fedway-system create secret generic fedway-agent-hub-kubeconfig \
    --from-file=kubeconfig="$dir/$member-agent.kubeconfig" --dry-run=client -o yaml |
    kc "$member" apply --server-side --force-conflicts -f -
  kc "$member" apply --server-side -f "$deploy/agent/rbac.yaml"
  render "$deploy/agent/deployment.yaml" "value: member-1" "value: $member" |
    kc "$member" apply --server-side -f -
  # A rejoin minted a new token: the agent reads its kubeconfig at start.
  kc "$member" -n fedway-system rollout restart deployment/fedway-agent
  install_dns "$member" "$deploy/dns"
  # fedway-proxy in the node's network, its pool the node's own address:
  # the Gateway's address is then the node's, reachable from this host and
  # from the other clusters.
  ip=$(node_ip "$member")
  kc "$member" label node "$(node "$member")" fedway.dev/proxy=true --overwrite
  kc "$member" apply --server-side -f "$deploy/proxy/rbac.yaml" -f "$deploy/proxy/gatewayclass.yaml"
  render "$deploy/proxy/deployment.yaml" "value: 192.0.2.10-192.0.2.20" "value: $ip-$ip" |
    kc "$member" apply --server-side -f -
  rollout "$member" fedway-agent fedway-dns fedway-proxy
}

up() {
  need docker kind kubectl go cargo
  docker info >/dev/null 2>&1 || die "no Docker engine (docker info fails)"
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
  cargo run --manifest-path "$repo/Cargo.toml" -p fedway-e2e --bin fedway-demo -- \
    --kind "$dir" --kind-prefix "$prefix" "$@"
}

down() {
  need kind
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
  demo) demo "$@" ;;
  all) up && demo "$@" ;;
  down) down ;;
  *) die "usage: run.sh [all|up|demo [-- fedway-demo args]|down]" ;;
esac

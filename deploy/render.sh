#!/usr/bin/env bash
# deploy/ is the Helm chart charts/fedway rendered once per component, for
# installing with kubectl alone: edit the chart, then run this script (the
# deploy e2e test fails while deploy/ differs from what it renders).
#
#   deploy/render.sh          rewrite deploy/<component>/*.yaml
#   deploy/render.sh DIR      write them under DIR instead (the test does)
#
# helm: $HELM, else the one e2e/kind/tools.sh builds from its Go module.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/deploy}
helm=${HELM:-$("$repo/e2e/kind/tools.sh")/helm}
chart=$repo/charts/fedway

# <directory> <template directory> <values>: each directory of deploy/ is
# one component of the chart with the values a plain install starts from
# (placeholders where a cluster's own value is needed, see deploy/README.md).
components=(
  "hub hub hub.enabled=true"
  "dns-hub dns dns.enabled=true,dns.reportPolicyStatus=true"
  "agent agent agent.enabled=true,agent.clusterName=member-1"
  "dns dns dns.enabled=true"
  "proxy proxy proxy.enabled=true,proxy.addressPool=192.0.2.10-192.0.2.20"
)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for entry in "${components[@]}"; do
  read -r directory templates values <<<"$entry"
  rendered=$scratch/$directory
  "$helm" template fedway "$chart" --namespace fedway-system \
    --set "namespace.create=true,$values" --output-dir "$rendered" >/dev/null
  mkdir -p "$out/$directory"
  rm -f "$out/$directory"/*.yaml
  for file in "$rendered/fedway/templates/namespace.yaml" "$rendered/fedway/templates/$templates"/*.yaml; do
    source=${file#"$rendered/fedway/"}
    # helm's "---" and "# Source:" headers become one note of where the
    # file comes from; the blank lines helm leaves before them go.
    {
      echo "# Rendered from charts/fedway/$source by deploy/render.sh: edit the chart."
      awk '/^# Source: / { next }
        /^$/ { blank++; next }
        /^---$/ { blank = 0; if (NR == 1) next }
        { while (blank > 0) { print ""; blank-- } print }' "$file"
    } >"$out/$directory/$(basename "$file")"
  done
done

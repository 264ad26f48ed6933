// Package gatewayapi exists so `go mod tidy` keeps the sigs.k8s.io/gateway-api
// requirement: the test harness reads config/crd/standard from that module's
// directory (`go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api`).
package gatewayapi

import _ "sigs.k8s.io/gateway-api/pkg/consts"

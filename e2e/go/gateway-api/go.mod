// Pins the upstream Gateway API module (sigs.k8s.io/gateway-api). Fedway's
// tests install its standard-channel CRDs straight from the module cache
// (config/crd/standard) and build its echo backend; nothing is copied.
module fedway.dev/e2e/gateway-api

go 1.26.0

tool sigs.k8s.io/gateway-api/conformance/echo-basic

require sigs.k8s.io/gateway-api v0.0.0-00010101000000-000000000000

require (
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/text v0.37.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260427160629-7cedc36a6bc4 // indirect
	google.golang.org/grpc v1.81.1 // indirect
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af // indirect
	sigs.k8s.io/gateway-api/conformance v1.6.3 // indirect
)

// The conformance module refers to its parent as v0.0.0 (a local replace
// upstream); pin it to the same release.
replace sigs.k8s.io/gateway-api => sigs.k8s.io/gateway-api v1.6.3

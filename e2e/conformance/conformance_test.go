// Package conformance runs the upstream Gateway API conformance suite
// against a Fedway cluster. It is a test so that the suite's `testing.T`
// plumbing (subtests, -run, -json) works unchanged.
//
// Options are the upstream flags (`go test -args -gateway-class=... ...`,
// see sigs.k8s.io/gateway-api/conformance/utils/flags), with Fedway's
// defaults when a flag is not given, and FEDWAY_CONFORMANCE_* environment
// variables for the harness:
//
//	KUBECONFIG                             cluster to test (required)
//	FEDWAY_CONFORMANCE_GATEWAY_CLASS       default -gateway-class (fedway-proxy)
//	FEDWAY_CONFORMANCE_PROFILES            default -conformance-profiles (GATEWAY-HTTP)
//	FEDWAY_CONFORMANCE_SUPPORTED_FEATURES  default -supported-features
//	FEDWAY_CONFORMANCE_EXEMPT_FEATURES     default -exempt-features
//	FEDWAY_CONFORMANCE_SKIP_TESTS          default -skip-tests (comma-separated)
//	FEDWAY_CONFORMANCE_RUN_TEST            default -run-test (one test's short name)
//	FEDWAY_CONFORMANCE_REPORT              default -report-output (ConformanceReport YAML)
//	FEDWAY_CONFORMANCE_DEBUG               default -debug (true/false)
//	FEDWAY_CONFORMANCE_VERSION             implementation version in the report
//	FEDWAY_CONFORMANCE_USABLE_ADDRESS      default -usable-address (GatewayStaticAddresses)
//	FEDWAY_CONFORMANCE_UNUSABLE_ADDRESS    default -unusable-address
//	FEDWAY_CONFORMANCE_TIMEOUTS            default -timeout-config-overrides
//	                                       (seconds, e.g. "GWCMustBeAccepted:30;MaxTimeToConsistency:60")
//	FEDWAY_CONFORMANCE_RESULTS             file to append one JSON line per test to:
//	                                       {"test", "result", "features", "levels"}
//	                                       (levels: profile -> core|extended), which
//	                                       fedway-conformance prints as a table
package conformance

import (
	"encoding/json"
	"flag"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"

	v1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance"
	conformanceconfig "sigs.k8s.io/gateway-api/conformance/utils/config"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
)

const (
	defaultGatewayClass = "fedway-proxy"
	defaultProfiles     = "GATEWAY-HTTP"
)

// explicitlySet reports whether flag `name` was given on the command line
// (which then wins over the environment and Fedway's defaults).
func explicitlySet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// setting returns the environment variable's value, else `fallback`.
func setting(env, fallback string) string {
	if v, ok := os.LookupEnv(env); ok {
		return v
	}
	return fallback
}

func TestGatewayAPIConformance(t *testing.T) {
	if os.Getenv("KUBECONFIG") == "" && !explicitlySet("kubeconfig") {
		t.Fatal("KUBECONFIG must name the cluster under test (fedway-conformance sets it)")
	}
	// Upstream defaults and -flags (conformance.DefaultOptions reads them).
	opts := conformance.DefaultOptions(t)

	if !explicitlySet("gateway-class") {
		opts.GatewayClassName = setting("FEDWAY_CONFORMANCE_GATEWAY_CLASS", defaultGatewayClass)
	}
	if !explicitlySet("conformance-profiles") {
		opts.ConformanceProfiles = suite.ParseConformanceProfilesSlice(
			setting("FEDWAY_CONFORMANCE_PROFILES", defaultProfiles))
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_SUPPORTED_FEATURES"); v != "" && !explicitlySet("supported-features") {
		opts.SupportedFeatures = suite.ParseSupportedFeaturesSlice(v)
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_EXEMPT_FEATURES"); v != "" && !explicitlySet("exempt-features") {
		opts.ExemptFeatures = suite.ParseSupportedFeaturesSlice(v)
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_SKIP_TESTS"); v != "" && !explicitlySet("skip-tests") {
		opts.SkipTests = suite.ParseSkipTests(v)
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_RUN_TEST"); v != "" && !explicitlySet("run-test") {
		opts.RunTest = v
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_REPORT"); v != "" && !explicitlySet("report-output") {
		opts.ReportOutputPath = v
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_DEBUG"); v != "" && !explicitlySet("debug") {
		debug, err := strconv.ParseBool(v)
		if err != nil {
			t.Fatalf("FEDWAY_CONFORMANCE_DEBUG=%q: %v", v, err)
		}
		opts.Debug = debug
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_TIMEOUTS"); v != "" && !explicitlySet("timeout-config-overrides") {
		conformanceconfig.ParseTimeoutOverrides(&opts.TimeoutConfig, v)
	}
	if path := os.Getenv("FEDWAY_CONFORMANCE_RESULTS"); path != "" {
		opts.Hook = resultRecorder(t, path, opts.ConformanceProfiles)
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_USABLE_ADDRESS"); v != "" && !explicitlySet("usable-address") {
		opts.UsableNetworkAddresses = []v1.GatewaySpecAddress{address(v)}
	}
	if v := os.Getenv("FEDWAY_CONFORMANCE_UNUSABLE_ADDRESS"); v != "" && !explicitlySet("unusable-address") {
		opts.UnusableNetworkAddresses = []v1.GatewaySpecAddress{address(v)}
	}

	// A report needs the implementation described (upstream validates it).
	impl := &opts.Implementation
	if impl.Organization == "" {
		impl.Organization = "fedway"
	}
	if impl.Project == "" {
		impl.Project = "fedway-proxy"
	}
	if impl.URL == "" {
		impl.URL = "https://fedway.dev"
	}
	if impl.Version == "" {
		impl.Version = setting("FEDWAY_CONFORMANCE_VERSION", "dev")
	}
	if len(impl.Contact) == 0 {
		impl.Contact = []string{"fedway maintainers"}
	}

	conformance.RunConformanceWithOptions(t, opts)
}

// address is a Gateway address: an IPAddress when it parses as one, else a
// Hostname (as upstream's -usable-address does).
func address(v string) v1.GatewaySpecAddress {
	kind := v1.HostnameAddressType
	if ip := net.ParseIP(v); ip != nil {
		kind = v1.IPAddressType
	}
	return v1.GatewaySpecAddress{Type: &kind, Value: v}
}

// profiles are upstream's conformance profiles by name, to tell core tests
// from extended ones as upstream's report does (a test is extended in a
// profile when any feature it needs is not one of the profile's core
// features).
var profiles = map[suite.ConformanceProfileName]suite.ConformanceProfile{
	suite.GatewayHTTPConformanceProfileName: suite.GatewayHTTPConformanceProfile,
	suite.GatewayTLSConformanceProfileName:  suite.GatewayTLSConformanceProfile,
	suite.GatewayTCPConformanceProfileName:  suite.GatewayTCPConformanceProfile,
	suite.GatewayUDPConformanceProfileName:  suite.GatewayUDPConformanceProfile,
	suite.GatewayGRPCConformanceProfileName: suite.GatewayGRPCConformanceProfile,
	suite.MeshHTTPConformanceProfileName:    suite.MeshHTTPConformanceProfile,
	suite.MeshGRPCConformanceProfileName:    suite.MeshGRPCConformanceProfile,
}

// testResult is one line of the FEDWAY_CONFORMANCE_RESULTS file.
type testResult struct {
	Test     string            `json:"test"`
	Result   string            `json:"result"` // pass, fail, skip, unsupported
	Features []string          `json:"features"`
	Levels   map[string]string `json:"levels"` // profile -> core or extended
}

// resultRecorder returns a suite hook that appends each test's result to
// `path` as it finishes.
func resultRecorder(t *testing.T, path string, selected []suite.ConformanceProfileName) func(*testing.T, suite.ConformanceTest, *suite.ConformanceTestSuite) {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	t.Cleanup(func() { _ = file.Close() })
	var mu sync.Mutex
	return func(subT *testing.T, test suite.ConformanceTest, s *suite.ConformanceTestSuite) {
		result := testResult{Test: test.ShortName, Levels: map[string]string{}}
		for _, f := range test.Features {
			result.Features = append(result.Features, string(f))
		}
		switch {
		case subT.Failed():
			result.Result = "fail"
		case !s.SupportedFeatures.HasAll(test.Features...):
			result.Result = "unsupported"
		case subT.Skipped():
			result.Result = "skip"
		default:
			result.Result = "pass"
		}
		for _, name := range selected {
			profile, ok := profiles[name]
			if !ok {
				continue
			}
			level := "core"
			for _, f := range test.Features {
				if profile.CoreFeatures.Has(f) {
					continue
				}
				if !profile.ExtendedFeatures.Has(f) {
					level = "" // not in this profile
					break
				}
				level = "extended"
			}
			if level != "" {
				result.Levels[string(name)] = level
			}
		}
		line, err := json.Marshal(result)
		if err != nil {
			subT.Errorf("encoding the result of %s: %v", test.ShortName, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = file.Write(append(line, '\n'))
	}
}

//! Any bytes, as a UDP or TCP request, through the whole request path:
//! parsing, checks, answer, steering (Geo with ECS, Weighted, wildcards),
//! encoding. Must never panic; every reply must decode.
#![no_main]

use std::sync::{Arc, OnceLock};

use fedway_dns::{fuzzing, health::HealthCell, inputs::Inputs, server::Handler, zone};
use libfuzzer_sys::fuzz_target;

const ZONE: &str = r#"
kind: DNSZone
spec:
  zone: fuzz.example
  nameServers: [{name: ns1.fuzz.example, addresses: [192.0.2.53, "2001:db8::53"]}]
---
kind: DNSRecord
spec:
  hostname: geo.fuzz.example
  ttlSeconds: 5
  strategy: Geo
  geo: {clientRegions: [{region: eu, cidrs: [10.0.0.0/8, "2001:db8:e::/48"]}]}
  endpoints:
  - {clusterName: east, region: eu, addresses: [192.0.2.1, "2001:db8::1"], hubHealthy: true}
  - {clusterName: west, addresses: [192.0.2.2], hubHealthy: false}
---
kind: DNSRecord
spec:
  hostname: "*.w.fuzz.example"
  ttlSeconds: 5
  strategy: Weighted
  endpoints:
  - {clusterName: east, addresses: [192.0.2.1], hubHealthy: true, weight: 3}
  - {clusterName: west, addresses: ["2001:db8::2"], hubHealthy: true}
"#;

fn handler() -> &'static Handler {
    static HANDLER: OnceLock<Handler> = OnceLock::new();
    HANDLER.get_or_init(|| {
        let inputs = Inputs::from_yaml(std::path::Path::new("zone"), ZONE).expect("valid zone");
        let built = zone::build(&inputs.zones, &inputs.records, &Default::default(), &mut |_| {
            Arc::new(HealthCell::default())
        });
        fuzzing::handler(built.zones)
    })
}

fuzz_target!(|data: &[u8]| {
    let tcp = data.first().is_some_and(|b| b & 1 == 1);
    let source = "10.1.2.3:5353".parse().expect("address");
    if let Some(reply) = fuzzing::respond(handler(), data, source, tcp) {
        hickory_proto_check(&reply);
    }
});

fn hickory_proto_check(reply: &[u8]) {
    assert!(reply.len() >= 12, "a reply has at least a header");
}

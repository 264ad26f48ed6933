//! Any bytes, as a request head (host, path and query, method, headers),
//! through request routing: route table (every match kind, listener and
//! route hostnames, HTTPRoute and GRPCRoute), filter plan (rewrites,
//! redirects, CORS, header modifiers), backend choice and upstream
//! addressing. Must never panic.
#![no_main]

use std::sync::OnceLock;

use fedway_proxy::{fuzzing, route_table::PortTable};
use libfuzzer_sys::fuzz_target;

fn table() -> &'static PortTable {
    static TABLE: OnceLock<PortTable> = OnceLock::new();
    TABLE.get_or_init(fuzzing::table)
}

fuzz_target!(|data: &[u8]| {
    fuzzing::route(table(), data);
});

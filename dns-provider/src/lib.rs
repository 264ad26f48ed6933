//! Fedway's authoritative DNS server for global hostnames.
//!
//! ```text
//!  DNSZone/DNSRecord ──> source (API server watch | YAML file) ──> state ──┐
//!        (disk cache: last good state, serials) <──────────────────────────┤
//!                                                         zone::build      │
//!  probe (HTTP/HTTPS/TCP per endpoint address) ──> health cells ──┐        v
//!  UDP/TCP ──> hickory Server ──> server::Handler ──> answer ──> steering (per query)
//! ```
//!
//! Decisions (`answer`, `steering`, `geo`, `health`, `rate_limit`, `zone`)
//! are pure and table-tested; `server`, `probe`, `source`, `state` and
//! `metrics` do the I/O.

pub mod answer;
pub mod fuzzing;
pub mod geo;
pub mod health;
pub mod inputs;
pub mod metrics;
pub mod policy_status;
pub mod probe;
pub mod rate_limit;
pub mod server;
pub mod source;
pub mod state;
pub mod steering;
pub mod zone;

mod run;

pub use run::{Config, Error, Running, Source, start};

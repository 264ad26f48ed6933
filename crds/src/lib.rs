//! Fedway's API, group `fedway.dev`, version `v1alpha1`.
//!
//! ```text
//!            hub cluster                                   member cluster
//!  Gateway ─┐                                        ┌─> Gateway, HTTPRoute, ... (applied)
//!  Routes  ─┼─> PlacementPolicy ─> Work (per member) ─┤
//!  DNSPolicy┘        │                                └─> DNSRecord, DNSZone (for its DNS server)
//!                    └─> MemberCluster (labels select, status reports classes/health)
//! ```
//!
//! This crate holds the Rust types of those objects, renders their CRD YAML
//! ([`render`]), and the pure decision logic that more than one binary needs
//! ([`placement`], [`selector`], [`reference_grant`]). It does no I/O: the binaries and the e2e
//! harness do that.

pub mod dns_policy;
pub mod dns_record;
pub mod dns_zone;
pub mod duration;
pub mod group_kind;
pub mod member_cluster;
pub mod placement;
pub mod placement_policy;
pub mod reference_grant;
pub mod render;
pub mod selector;
pub mod target_ref;
pub mod work;

mod schema;

pub use dns_policy::{DNSPolicy, DNSPolicySpec};
pub use dns_record::{DNSRecord, DNSRecordSpec, record_name};
pub use dns_zone::{DNSZone, DNSZoneSpec};
pub use member_cluster::{MemberCluster, MemberClusterSpec};
pub use placement_policy::{PlacementPolicy, PlacementPolicySpec};
pub use work::{Work, WorkSpec};

/// The API group of every Fedway object.
pub const GROUP: &str = "fedway.dev";
/// The one API version served today.
pub const VERSION: &str = "v1alpha1";

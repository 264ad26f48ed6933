//! `fedway-proxy`: Fedway's fallback Gateway API implementation.
//!
//! This library is the pure routing core: no I/O, no Kubernetes client. The
//! controller turns the Gateway's listeners and the routes accepted on them into
//! [`routes::RouteInput`]s, [`route_table::build`] compiles them once into one
//! immutable [`route_table::PortTable`] per port, and the data plane asks that
//! table for every request:
//!
//! ```text
//! controller ──Listener, RouteInput──> route_table::build ──> Compiled { tables, rejected }
//!                                                             │ (rejected → route status)
//! hyper ──RequestHead──> PortTable::select ──> Selected (rule + matched path)
//!                                               │
//!        filters::plan ──> Plan::Redirect | Plan::Respond (CORS preflight) | Plan::Forward
//!        backends::Backends::choose(draw) ──> Service | 500
//! ```
//!
//! - [`hostname`]: listener/route hostname intersection and host lookup.
//! - [`matching`]: path, header, query, method matches and their precedence.
//! - [`filters`]: header modifiers, redirect, URL rewrite, CORS, mirrors as plain data.
//! - [`backends`]: weighted choice, invalid references answered with 500.
//! - [`timeouts`]: a rule's `timeouts` as `std::time::Duration`s.
//! - [`grpc`]: a GRPCRoute read as the HTTPRoute that routes the same calls.
//! - [`fuzzing`]: the request path without sockets, for the fuzz target.

pub mod backends;
pub mod config;
pub mod controller;
pub mod dataplane;
pub mod filters;
pub mod fuzzing;
pub mod grpc;
pub mod hostname;
pub mod matching;
pub mod metrics;
pub mod request;
pub mod route_table;
pub mod routes;
pub mod timeouts;

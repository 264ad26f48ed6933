//! Data plane integration tests: the real proxy on real loopback sockets
//! (127.54.T.x, one T per test so tests run in parallel without clashing),
//! in front of small hyper echo backends.

mod edge;
mod errors;
mod forward;
mod lifecycle;
mod protocols;
mod spillover;
mod support;
mod tls_h2;

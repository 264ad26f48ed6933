//! fedway-dns on real sockets, asked by real clients (dig, kdig,
//! hickory-resolver), compared with a real NSD, probing real listeners.
//!
//! Each test has its own loopback address (127.53.<test>.x), so tests run
//! in parallel without sharing ports.

mod clients;
mod differential;
mod failover;
mod malformed;
mod restart;
mod support;

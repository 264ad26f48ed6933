//! Loopback addresses for simulated clusters.
//!
//! Each cluster leases a slot `S` and then owns:
//! - `127.20.S.0/24`: its control plane listens on `127.20.S.1`; the rest is
//!   for what a test runs "in" that cluster (gateways, DNS servers, backends),
//!   so DNS answers and failover address distinct hosts;
//! - `198.18.S.0/24` (RFC 2544 benchmarking space, routed to `lo`): its pod
//!   network. Pod IPs cannot be 127.x: the API server refuses loopback
//!   addresses in EndpointSlices (`ValidateEndpointIP`), so the harness makes
//!   `198.18.0.0/15` local instead, and a test process can still listen on a
//!   pod's IP.
//!
//! A slot is held by an OS file lock, so parallel test processes never share
//! one, and a crashed process frees its slots.

use std::{
    fs::File,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::PathBuf,
    process::Command,
};

use crate::{Error, Result};

/// Number of slots (clusters alive at once on this machine).
pub const SLOTS: u16 = 250;

/// The pod network made local on `lo`.
pub const POD_NETWORK: &str = "198.18.0.0/15";

/// A leased slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    index: u8,
    _lock: File,
}

impl Slot {
    /// Leases a free slot.
    pub fn lease() -> Result<Slot> {
        let dir = lease_dir();
        std::fs::create_dir_all(&dir)
            .map_err(crate::io_error(format!("creating {}", dir.display())))?;
        // Start at a per-process offset so parallel processes rarely collide.
        let start = (std::process::id() % u32::from(SLOTS)) as u16;
        for i in 0..SLOTS {
            let index = ((start + i) % SLOTS + 1) as u8;
            let path = dir.join(format!("slot-{index}.lock"));
            let file = File::create(&path)
                .map_err(crate::io_error(format!("creating {}", path.display())))?;
            if file.try_lock().is_ok() {
                return Ok(Slot { index, _lock: file });
            }
        }
        Err(Error::NoFreeSlot(SLOTS))
    }

    pub fn index(&self) -> u8 {
        self.index
    }

    /// `127.20.S.host`: an address of this cluster on loopback.
    pub fn host(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 20, self.index, host)
    }

    /// Where the control plane listens.
    pub fn control_plane(&self) -> Ipv4Addr {
        self.host(1)
    }

    /// The cluster's pod CIDR (`198.18.S.0/24`).
    pub fn pod_cidr(&self) -> String {
        format!("198.18.{}.0/24", self.index)
    }
}

fn lease_dir() -> PathBuf {
    std::env::temp_dir().join("fedway-e2e-slots")
}

/// Makes sure pod IPs are local addresses: binds a pod-network address, and
/// when that fails routes the pod network to `lo` (needs CAP_NET_ADMIN).
pub fn ensure_pod_network() -> Result<()> {
    let probe = SocketAddr::from((Ipv4Addr::new(198, 18, 0, 1), 0));
    if TcpListener::bind(probe).is_ok() {
        return Ok(());
    }
    let args = ["route", "replace", "local", POD_NETWORK, "dev", "lo"];
    let output = Command::new("ip").args(args).output();
    let failure = match output {
        Ok(out) if out.status.success() && TcpListener::bind(probe).is_ok() => return Ok(()),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => e.to_string(),
    };
    Err(Error::Toolchain(format!(
        "pod IPs ({POD_NETWORK}) are not local addresses and `ip {}` failed: {failure}; run it once as root",
        args.join(" ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leased_slots_are_distinct_until_dropped() {
        let a = Slot::lease().expect("a slot");
        let b = Slot::lease().expect("another slot");
        assert_ne!(a.index(), b.index());
        assert_ne!(a.control_plane(), b.control_plane());
        assert_ne!(a.pod_cidr(), b.pod_cidr());
        assert!(a.control_plane().is_loopback());
        assert_eq!(a.host(7), Ipv4Addr::new(127, 20, a.index(), 7));

        let freed = b.index();
        drop(b);
        // The freed slot's lock file can be locked again by anyone.
        let path = lease_dir().join(format!("slot-{freed}.lock"));
        let file = File::create(path).expect("lock file");
        file.try_lock().expect("a dropped slot is free");
    }
}

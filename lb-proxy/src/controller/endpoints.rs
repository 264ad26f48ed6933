//! Ready endpoints of every Service port, from EndpointSlices: what the data
//! plane connects to. A route names a Service port; the slice names the
//! target port by the Service port's name (empty for an unnamed port), so
//! the mapping goes through that name, never through numbers.

use std::{
    collections::{BTreeSet, HashMap},
    net::{IpAddr, SocketAddr},
};

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};

use crate::{backends::ServiceRef, config::AppProtocol};

/// The label an EndpointSlice carries naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Ready (or readiness-unknown, as kube-proxy treats it) endpoints per
/// Service port, each list sorted and without duplicates.
pub fn endpoints(
    services: &[&Service],
    slices: &[&EndpointSlice],
) -> HashMap<ServiceRef, Vec<SocketAddr>> {
    let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        let (Some(namespace), Some(service)) = (
            slice.metadata.namespace.as_deref(),
            slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL)),
        ) else {
            continue;
        };
        // FQDN slices name hosts, not addresses; there is nothing to dial.
        if slice.address_type == "FQDN" {
            continue;
        }
        by_service
            .entry((namespace, service.as_str()))
            .or_default()
            .push(slice);
    }
    let mut out = HashMap::new();
    for service in services {
        let (Some(namespace), Some(name)) = (
            service.metadata.namespace.as_deref(),
            service.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let slices = by_service
            .get(&(namespace, name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        for port in service.spec.iter().flat_map(|s| s.ports.iter().flatten()) {
            let Ok(service_port) = u16::try_from(port.port) else {
                continue;
            };
            let port_name = port.name.as_deref().unwrap_or_default();
            let mut addrs = BTreeSet::new();
            for slice in slices {
                let Some(target) = slice
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref().unwrap_or_default() == port_name)
                    .and_then(|p| p.port)
                    .and_then(|p| u16::try_from(p).ok())
                else {
                    continue;
                };
                for endpoint in &slice.endpoints {
                    let ready = endpoint
                        .conditions
                        .as_ref()
                        .and_then(|c| c.ready)
                        .unwrap_or(true);
                    if !ready {
                        continue;
                    }
                    addrs.extend(
                        endpoint
                            .addresses
                            .iter()
                            .filter_map(|a| a.parse::<IpAddr>().ok())
                            .map(|ip| SocketAddr::new(ip, target)),
                    );
                }
            }
            out.insert(
                ServiceRef {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    port: service_port,
                },
                addrs.into_iter().collect(),
            );
        }
    }
    out
}

/// The Service ports whose `appProtocol` asks for more than HTTP/1.1.
pub fn protocols(services: &[&Service]) -> HashMap<ServiceRef, AppProtocol> {
    let mut out = HashMap::new();
    for service in services {
        let (Some(namespace), Some(name)) = (
            service.metadata.namespace.as_deref(),
            service.metadata.name.as_deref(),
        ) else {
            continue;
        };
        for port in service.spec.iter().flat_map(|s| s.ports.iter().flatten()) {
            let (Ok(number), Some(protocol)) = (
                u16::try_from(port.port),
                port.app_protocol.as_deref().and_then(AppProtocol::parse),
            ) else {
                continue;
            };
            out.insert(
                ServiceRef {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    port: number,
                },
                protocol,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;

//! One A query over UDP, as a stub resolver would send it: what
//! `fedwayctl status` shows each DNS server answering, and what the e2e
//! journey's client resolves with (optionally with an EDNS Client Subnet,
//! as a public resolver forwards it).

use std::{
    net::{IpAddr, SocketAddr},
    sync::atomic::{AtomicU16, Ordering},
    time::Duration,
};

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{
        Name, RecordType,
        rdata::opt::{ClientSubnet, EdnsOption},
    },
};
use tokio::net::UdpSocket;

static QUERY_ID: AtomicU16 = AtomicU16::new(1);

/// The A records `server` answers for `hostname` (sorted; empty for
/// NODATA), or why there is no answer. `subnet` (e.g. `10.1.0.0/24`) is
/// sent as EDNS Client Subnet.
pub async fn a_records(
    server: SocketAddr,
    hostname: &str,
    subnet: Option<&str>,
    timeout: Duration,
) -> Result<Vec<IpAddr>, String> {
    let id = QUERY_ID.fetch_add(1, Ordering::Relaxed);
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    let name = Name::from_ascii(format!("{}.", hostname.trim_end_matches('.')))
        .map_err(|e| format!("{hostname}: {e}"))?;
    query.add_query(Query::query(name, RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if let Some(subnet) = subnet {
        let subnet: ClientSubnet = subnet
            .parse()
            .map_err(|e| format!("client subnet {subnet}: {e}"))?;
        edns.options_mut().insert(EdnsOption::Subnet(subnet));
    }
    query.edns = Some(edns);
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let local = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let exchange = async {
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| format!("bind: {e}"))?;
        socket
            .send_to(&bytes, server)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, _) = socket
                .recv_from(&mut buf)
                .await
                .map_err(|e| format!("receive: {e}"))?;
            // Anything else on the socket is not our answer.
            if let Ok(reply) = Message::from_vec(&buf[..n])
                && reply.id == id
            {
                return Ok::<Message, String>(reply);
            }
        }
    };
    let reply = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no reply from {server} within {timeout:?}"))??;
    if reply.response_code != ResponseCode::NoError {
        return Err(format!("rcode {}", reply.response_code));
    }
    let mut ips: Vec<IpAddr> = reply
        .answers
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect();
    ips.sort();
    Ok(ips)
}

//! One A query over UDP, for `fedwayctl status` to show what a DNS server
//! answers right now.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RecordType},
};
use tokio::net::UdpSocket;

/// The A records `server` answers for `hostname` (sorted; empty for
/// NODATA), or why there is no answer.
pub async fn a_records(
    server: SocketAddr,
    hostname: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>, String> {
    let id = u16::try_from(std::process::id() & 0xffff).unwrap_or(1);
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    let name = Name::from_ascii(format!("{}.", hostname.trim_end_matches('.')))
        .map_err(|e| format!("{hostname}: {e}"))?;
    query.add_query(Query::query(name, RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    query.edns = Some(edns);
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .map_err(|e| format!("{e}"))?;
    let exchange = async {
        let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
        socket
            .send_to(&bytes, server)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, _) = socket
                .recv_from(&mut buf)
                .await
                .map_err(|e| e.to_string())?;
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
        .map_err(|_| format!("timed out after {timeout:?}"))??;
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

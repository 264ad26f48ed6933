//! The DNS front end. hickory-server's `Server` owns the TCP listeners (and
//! answers FORMERR itself when a message cannot be parsed). UDP runs one
//! receive loop per SO_REUSEPORT socket that parses, answers and sends in
//! place ([`respond`]): hickory's UDP path spawns a task and crosses a
//! channel per datagram, which cost ~40% of the single-core rate against
//! NSD. Both paths go through the same [`Handler`]: it checks the request,
//! rate-limits UDP, answers from the current zones and sets EDNS (payload
//! size, echoed Client Subnet).

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use hickory_proto::{
    op::{Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode},
    rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption},
    rr::{DNSClass, Record},
    serialize::binary::{BinDecodable, BinDecoder, BinEncoder},
};
use hickory_server::{
    Server,
    net::{
        NetError,
        runtime::{Time, TokioTime},
        xfer::Protocol,
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::{MessageResponse, MessageResponseBuilder},
};
use socket2::{Domain, Socket, Type};

use crate::{
    answer::answer,
    metrics::Metrics,
    rate_limit::{RateLimitConfig, RateLimiter, Verdict},
    steering::ClientNet,
    zone::ZoneSet,
};

/// The largest UDP response sent, whatever the client advertises: avoids IP
/// fragmentation (DNS Flag Day 2020); larger answers go over TCP.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// How long a TCP connection may sit idle between requests.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Cheap to clone: the TCP server and every UDP loop hold one.
#[derive(Clone)]
pub struct Handler {
    zones: Arc<ArcSwap<ZoneSet>>,
    limiter: Arc<RateLimiter>,
    metrics: Arc<Metrics>,
}

impl Handler {
    pub fn new(
        zones: Arc<ArcSwap<ZoneSet>>,
        rate_limit: RateLimitConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            zones,
            limiter: Arc::new(RateLimiter::new(rate_limit)),
            metrics,
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = false;

        let verdict = if request.protocol() == Protocol::Udp {
            self.limiter.check(request.src().ip(), Instant::now())
        } else {
            Verdict::Allow
        };
        self.metrics.rate_limited(verdict);
        match verdict {
            Verdict::Allow => {}
            Verdict::Drop => {
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
            Verdict::Slip => {
                metadata.truncation = true;
                let response =
                    MessageResponseBuilder::new(&request.queries, None).build_no_records(metadata);
                return send(&mut response_handle, response, metadata, &self.metrics).await;
            }
        }

        let mut response_edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            edns.set_version(0);
            edns
        });
        let refuse = |code: ResponseCode| {
            let mut metadata = metadata;
            metadata.response_code = code;
            metadata
        };

        // Checks in RFC order: EDNS version (RFC 6891 §6.1.3), opcode, one
        // question (RFC 9619), class.
        if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
            let metadata = refuse(ResponseCode::BADVERS);
            if let Some(edns) = response_edns.as_mut() {
                edns.set_rcode_high(ResponseCode::BADVERS.high());
            }
            let response = MessageResponseBuilder::new(&request.queries, response_edns.as_ref())
                .build_no_records(metadata);
            return send(&mut response_handle, response, metadata, &self.metrics).await;
        }
        let single = request.queries.queries();
        let problem = if request.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else if single.len() != 1 {
            Some(ResponseCode::FormErr)
        } else if single[0].query_class() != DNSClass::IN {
            Some(ResponseCode::Refused)
        } else {
            None
        };
        if let Some(code) = problem {
            let metadata = refuse(code);
            let response = MessageResponseBuilder::new(&request.queries, response_edns.as_ref())
                .build_no_records(metadata);
            return send(&mut response_handle, response, metadata, &self.metrics).await;
        }
        let query = &single[0];

        let subnet = request
            .edns
            .as_ref()
            .and_then(|edns| match edns.option(EdnsCode::Subnet) {
                Some(EdnsOption::Subnet(subnet)) => Some(*subnet),
                _ => None,
            });
        let client = client_net(request.src().ip(), subnet.as_ref());
        let zones = self.zones.load();
        let answer = answer(
            &zones,
            query.name(),
            query.original().name(),
            query.query_type(),
            client,
            fastrand::u64(..),
        );

        metadata.authoritative = answer.authoritative;
        metadata.response_code = answer.rcode;
        if let (Some(edns), Some(mut subnet)) = (response_edns.as_mut(), subnet) {
            // RFC 7871 §7.2.1: echo the client's option with the scope the
            // answer is valid for, so resolvers cache per network.
            subnet.set_scope_prefix(answer.scope_prefix);
            edns.options_mut().insert(EdnsOption::Subnet(subnet));
        }
        let response = MessageResponseBuilder::new(&request.queries, response_edns.as_ref()).build(
            metadata,
            answer.answers.iter(),
            answer.authorities.iter(),
            std::iter::empty::<&Record>(),
            answer.additionals.iter(),
        );
        send(&mut response_handle, response, metadata, &self.metrics).await
    }
}

/// The network steering should treat the client as: the ECS subnet when the
/// resolver sent one with a non-zero prefix (RFC 7871 §7.1.2: prefix 0 means
/// "do not use my address"), else the resolver's address.
fn client_net(source: IpAddr, subnet: Option<&ClientSubnet>) -> ClientNet {
    match subnet {
        Some(subnet) if subnet.source_prefix() > 0 => ClientNet {
            ip: subnet.addr(),
            source_prefix: subnet.source_prefix(),
        },
        _ => ClientNet {
            ip: source,
            source_prefix: if source.is_ipv4() { 32 } else { 128 },
        },
    }
}

async fn send<'a, R: ResponseHandler>(
    handle: &mut R,
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    metadata: Metadata,
    metrics: &Metrics,
) -> ResponseInfo {
    metrics.answered(metadata.response_code);
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "sending a DNS response failed");
            let mut failed = metadata;
            failed.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata: failed,
                counts: HeaderCounts::default(),
            })
        }
    }
}

/// What the server sends back for the datagram or TCP message `bytes` from
/// `source`, if anything — the same steps hickory's `Server` takes before
/// its handler: fewer than 12 bytes get no reply, an unparsable message gets
/// FORMERR built from its header, a response (QR=1) is never answered.
pub async fn respond(
    handler: &Handler,
    bytes: &[u8],
    source: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let mut decoder = BinDecoder::new(bytes);
    let header = Header::read(&mut decoder).ok()?;
    let request = match Request::from_bytes(bytes.to_vec(), source, protocol) {
        Ok(request) => request,
        Err(_) => {
            let mut metadata = Metadata::response_from_request(&header.metadata);
            metadata.response_code = ResponseCode::FormErr;
            handler.metrics.answered(ResponseCode::FormErr);
            let mut reply = Message::new(metadata.id, MessageType::Response, metadata.op_code);
            reply.metadata = metadata;
            return reply.to_vec().ok();
        }
    };
    if request.metadata.message_type == MessageType::Response {
        return None;
    }
    let capture = Capture {
        protocol,
        bytes: Arc::new(std::sync::Mutex::new(None)),
    };
    handler
        .handle_request::<_, TokioTime>(&request, capture.clone())
        .await;
    let mut sent = capture.bytes.lock().ok()?;
    sent.take()
}

/// A response handler that keeps the encoded response instead of sending
/// it, sized as hickory sizes UDP responses (the EDNS payload, else 512).
#[derive(Clone)]
struct Capture {
    protocol: Protocol,
    bytes: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let max_size = match self.protocol {
            Protocol::Udp => response.edns().map_or(512, |edns| edns.max_payload()),
            _ => u16::MAX,
        };
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(max_size);
        let info = response
            .destructive_emit(&mut encoder)
            .map_err(|e| NetError::from(e.to_string()))?;
        if let Ok(mut slot) = self.bytes.lock() {
            *slot = Some(bytes);
        }
        Ok(info)
    }
}

/// Serves one UDP socket on the calling thread until `stop` is set:
/// blocking receive, answer, send — no reactor, task or channel per
/// datagram (NSD's model: one worker per socket). The read timeout bounds
/// how long a stop takes.
pub fn serve_udp(socket: std::net::UdpSocket, handler: Handler, stop: Arc<AtomicBool>) {
    if let Err(error) = socket
        .set_nonblocking(false)
        .and_then(|()| socket.set_read_timeout(Some(Duration::from_millis(200))))
    {
        tracing::error!(%error, "UDP socket cannot block; not serving it");
        return;
    }
    let mut buffer = vec![0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (length, source) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(error) => {
                // ICMP errors from earlier sends surface here; keep serving.
                tracing::debug!(%error, "UDP receive failed");
                continue;
            }
        };
        // Nothing in the request path waits on I/O: it completes when polled.
        let reply = futures::executor::block_on(respond(
            &handler,
            &buffer[..length],
            source,
            Protocol::Udp,
        ));
        if let Some(reply) = reply
            && let Err(error) = socket.send_to(&reply, source)
        {
            tracing::debug!(%error, %source, "UDP send failed");
        }
    }
}

/// Binds the listeners: per address, `udp_sockets` UDP sockets sharing the
/// port with SO_REUSEPORT (the kernel spreads datagrams over them, one
/// receive loop each) and one TCP listener registered with `server`.
/// Returns the bound addresses and the UDP sockets to serve.
pub fn bind(
    server: &mut Server<Handler>,
    addresses: &[SocketAddr],
    udp_sockets: usize,
) -> std::io::Result<(Vec<SocketAddr>, Vec<std::net::UdpSocket>)> {
    let mut bound = Vec::new();
    let mut sockets = Vec::new();
    for address in addresses {
        let mut address = *address;
        for index in 0..udp_sockets.max(1) {
            let socket = reuse_port_socket(address, Type::DGRAM)?;
            // Room for bursts while the worker is busy (the kernel caps it
            // at net.core.rmem_max).
            let _ = socket.set_recv_buffer_size(4 << 20);
            let udp: std::net::UdpSocket = socket.into();
            // Port 0: the first socket picks the port, the others share it.
            if index == 0 {
                address = udp.local_addr()?;
            }
            sockets.push(udp);
        }
        let tcp = reuse_port_socket(address, Type::STREAM)?;
        tcp.listen(1024)?;
        let tcp = tokio::net::TcpListener::from_std(tcp.into())?;
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, 64 * 1024);
        bound.push(address);
    }
    Ok((bound, sockets))
}

fn reuse_port_socket(address: SocketAddr, kind: Type) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&address.into())?;
    Ok(socket)
}

//! The request path without sockets, for the fuzz target
//! (`dns-provider/fuzz`) and the stable-toolchain mutation test: bytes in,
//! the bytes the server would send out.
//!
//! It mirrors what hickory's `Server` does before calling the handler:
//! fewer than 12 bytes get no reply, an unparsable message gets FORMERR
//! built from its header, a response (QR=1) is never answered.

use std::{net::SocketAddr, sync::Arc};

use arc_swap::ArcSwap;
use hickory_proto::{
    op::{Header, Message, MessageType, Metadata, ResponseCode},
    rr::Record,
    serialize::binary::{BinDecodable, BinDecoder, BinEncoder},
};
use hickory_server::{
    net::{NetError, runtime::TokioTime, xfer::Protocol},
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponse,
};

use crate::{metrics::Metrics, rate_limit::RateLimitConfig, server::Handler, zone::ZoneSet};

/// A handler with rate limiting off, answering from `zones`.
pub fn handler(zones: ZoneSet) -> Handler {
    Handler::new(
        Arc::new(ArcSwap::from_pointee(zones)),
        RateLimitConfig {
            rate: 0,
            ..RateLimitConfig::default()
        },
        Arc::new(Metrics::default()),
    )
}

/// What the server sends back for `bytes` from `source`, if anything.
pub fn respond(handler: &Handler, bytes: &[u8], source: SocketAddr, tcp: bool) -> Option<Vec<u8>> {
    let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
    let mut decoder = BinDecoder::new(bytes);
    let header = Header::read(&mut decoder).ok()?;
    let request = match Request::from_bytes(bytes.to_vec(), source, protocol) {
        Ok(request) => request,
        Err(_) => {
            let mut metadata = Metadata::response_from_request(&header.metadata);
            metadata.response_code = ResponseCode::FormErr;
            let mut reply = Message::new(metadata.id, MessageType::Response, metadata.op_code);
            reply.metadata = metadata;
            return reply.to_vec().ok();
        }
    };
    if request.metadata.message_type == MessageType::Response {
        return None;
    }
    let capture = Capture::default();
    futures::executor::block_on(handler.handle_request::<_, TokioTime>(&request, capture.clone()));
    let mut sent = capture.0.lock().ok()?;
    sent.take()
}

#[derive(Clone, Default)]
struct Capture(Arc<std::sync::Mutex<Option<Vec<u8>>>>);

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
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(u16::MAX);
        let info = response
            .destructive_emit(&mut encoder)
            .map_err(|e| NetError::from(e.to_string()))?;
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(bytes);
        }
        Ok(info)
    }
}

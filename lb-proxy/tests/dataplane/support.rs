//! Echo backends, configs built from HTTPRoute JSON, and small clients.

use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use fedway_proxy::{
    backends::{AllowAll, ServiceRef},
    config::{ProxyConfig, SocketConfig, TlsCertificates},
    dataplane::{DataPlane, Options},
    filters::Scheme,
    route_table::{self, PortTable},
    routes::{Listener, RouteInput},
};
use gateway_api::httproutes::HttpRoute;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

/// The port the Gateway listener declares (what redirects use); the proxy
/// socket itself listens on [`PROXY_PORT`].
pub const LISTENER_PORT: u16 = 80;
pub const PROXY_PORT: u16 = 8080;

pub fn ip(test: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 54, test, host))
}

pub fn proxy_addr(test: u8) -> SocketAddr {
    SocketAddr::new(ip(test, 1), PROXY_PORT)
}

pub fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    panic!("{what}: {e}")
}

/// A backend that answers every request with a JSON echo of it. `?sleep=MS`
/// delays the answer, `/status/NNN` answers with that status.
pub struct Echo {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Echo {
    pub async fn start(ip: IpAddr, name: &'static str) -> Self {
        let listener = TcpListener::bind((ip, 0))
            .await
            .unwrap_or_else(|e| fail("bind echo", e));
        let addr = listener.local_addr().unwrap_or_else(|e| fail("addr", e));
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        echo(name, req)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

type EchoBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// A body of `left` chunks, one every 100 ms: a backend that streams slowly.
struct Drip {
    left: u32,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Drip {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        std::task::ready!(self.sleep.as_mut().poll(cx));
        self.left -= 1;
        let next = tokio::time::Instant::now() + Duration::from_millis(100);
        self.sleep.as_mut().reset(next);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(
            b"drip\n",
        )))))
    }
}

async fn echo(name: &str, req: Request<Incoming>) -> Result<Response<EchoBody>, Infallible> {
    if req
        .headers()
        .get("upgrade")
        .is_some_and(|u| u == "websocket")
    {
        return Ok(byte_echo(name, req));
    }
    if let Some(n) = req.uri().path().strip_prefix("/drip/") {
        let left = n.parse().unwrap_or(1);
        let body = Drip {
            left,
            sleep: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
        };
        return Ok(Response::new(body.boxed_unsync()));
    }
    let query = req.uri().query().unwrap_or("");
    if let Some(ms) = query
        .split('&')
        .find_map(|p| p.strip_prefix("sleep="))
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let (parts, body) = req.into_parts();
    // Read the whole body, so the test sees what reached the backend.
    let body_len = body.collect().await.map_or(0, |b| b.to_bytes().len());
    let req = Request::from_parts(parts, ());
    let status = req
        .uri()
        .path()
        .strip_prefix("/status/")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = BTreeMap::<String, String>::new();
    for (n, v) in req.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(n.as_str().to_owned())
            .and_modify(|prev| {
                prev.push(',');
                prev.push_str(&v);
            })
            .or_insert(v);
    }
    let body = json!({
        "backend": name,
        "method": req.method().as_str(),
        "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        // HTTP/2 carries the host as :authority, HTTP/1.1 as Host.
        "host": req.uri().authority().map(|a| a.as_str().to_owned())
            .or_else(|| headers.get("host").cloned()).unwrap_or_default(),
        "version": format!("{:?}", req.version()),
        "headers": headers,
        "body_len": body_len,
    });
    if headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("application/grpc"))
    {
        // A gRPC answer: the message, then the status in trailers.
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let frames = futures::stream::iter([
            Ok::<_, Infallible>(hyper::body::Frame::data(Bytes::from(body.to_string()))),
            Ok(hyper::body::Frame::trailers(trailers)),
        ]);
        let mut resp = Response::new(http_body_util::StreamBody::new(frames).boxed_unsync());
        resp.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/grpc"),
        );
        return Ok(resp);
    }
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Accepts a WebSocket upgrade, then echoes every byte back (the framing is
/// the client's business; the proxy only splices bytes). The 101 names the
/// backend.
fn byte_echo(name: &str, mut req: Request<Incoming>) -> Response<EchoBody> {
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
            let _ = tokio::io::copy(&mut r, &mut w).await;
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()).boxed_unsync());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert("connection", http::HeaderValue::from_static("upgrade"));
    headers.insert("upgrade", http::HeaderValue::from_static("websocket"));
    if let Ok(v) = http::HeaderValue::from_str(name) {
        headers.insert("x-backend", v);
    }
    resp
}

/// An HTTPRoute named `name` in `default`, attached to listener `http`.
pub fn route(name: &str, spec: Value) -> RouteInput {
    let route: HttpRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap_or_else(|e| fail("HTTPRoute JSON", e));
    RouteInput::from_http_route(&route, vec!["http".to_owned()])
}

pub fn table(routes: &[RouteInput], scheme: Scheme) -> Arc<PortTable> {
    let listener = Listener {
        name: "http".to_owned(),
        port: LISTENER_PORT,
        scheme,
        hostname: None,
    };
    let mut compiled = route_table::build(&[listener], routes, &AllowAll);
    assert!(compiled.errors.is_empty(), "{:?}", compiled.errors);
    Arc::new(compiled.tables.remove(&LISTENER_PORT).unwrap_or_default())
}

pub fn service(name: &str) -> ServiceRef {
    ServiceRef {
        namespace: "default".to_owned(),
        name: name.to_owned(),
        port: 8080,
    }
}

/// One plain-HTTP socket with `routes`, and `endpoints` per Service name.
pub fn config(
    socket: SocketAddr,
    routes: &[RouteInput],
    endpoints: &[(&str, Vec<SocketAddr>)],
) -> ProxyConfig {
    let mut sockets = BTreeMap::new();
    sockets.insert(
        socket,
        SocketConfig {
            port: socket.port(),
            table: table(routes, Scheme::Http),
            tls: None,
        },
    );
    ProxyConfig {
        sockets,
        endpoints: endpoints
            .iter()
            .map(|(name, eps)| (service(name), eps.clone()))
            .collect::<HashMap<_, _>>(),
        ..Default::default()
    }
}

/// A backendRef to Service `name` port 8080.
pub fn backend(name: &str, weight: u32) -> Value {
    json!({"name": name, "port": 8080, "weight": weight})
}

pub fn start(config: ProxyConfig) -> DataPlane {
    start_with(config, Options::default())
}

pub fn start_with(config: ProxyConfig, options: Options) -> DataPlane {
    let dp = DataPlane::new(options);
    dp.apply(config).unwrap_or_else(|e| fail("apply", e));
    dp
}

/// An HTTP/1.1 keep-alive connection to the proxy.
pub struct H1 {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl H1 {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| fail("connect", e));
        Self::over(TokioIo::new(stream)).await
    }

    pub async fn over<I>(io: I) -> Self
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .unwrap_or_else(|e| fail("h1 handshake", e));
        tokio::spawn(conn);
        Self { sender }
    }

    pub async fn get(&mut self, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        match self.try_get(host, path, headers).await {
            Ok(r) => r,
            Err(e) => fail(&format!("GET {host}{path}"), e),
        }
    }

    pub async fn try_get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, hyper::Error> {
        let mut req = Request::get(path).header("host", host);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let req = req
            .body(Empty::new())
            .unwrap_or_else(|e| fail("request", e));
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        Reply::read(resp).await
    }
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Reply {
    H1::connect(addr).await.get(host, path, &[]).await
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub async fn read(resp: Response<Incoming>) -> Result<Self, hyper::Error> {
        let (parts, body) = resp.into_parts();
        Ok(Self {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await?.to_bytes(),
        })
    }

    /// The echo backend's JSON.
    pub fn echo(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| fail(&format!("echo JSON ({}) {:?}", self.status, self.body), e))
    }

    pub fn backend(&self) -> String {
        self.echo()["backend"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Waits until connecting to `addr` is refused (a stopped socket).
pub async fn wait_refused(addr: SocketAddr) -> bool {
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A loopback address nobody listens on: connects to it are refused.
pub async fn dead_endpoint(ip: IpAddr) -> SocketAddr {
    let l = TcpListener::bind((ip, 0))
        .await
        .unwrap_or_else(|e| fail("bind", e));
    let addr = l.local_addr().unwrap_or_else(|e| fail("addr", e));
    drop(l);
    addr
}

/// A self-signed certificate for `names`, as rustls serves it and as a
/// client trusts it (DER).
pub fn cert(names: &[&str]) -> (Arc<rustls::sign::CertifiedKey>, Vec<u8>) {
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).unwrap_or_else(|e| fail("rcgen", e));
    let der = generated.cert.der().to_vec();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .unwrap_or_else(|e| fail("signing key", e));
    let certified = rustls::sign::CertifiedKey::new(vec![der.clone().into()], signer);
    (Arc::new(certified), der)
}

pub fn tls_certs(by_hostname: &[(&str, Arc<rustls::sign::CertifiedKey>)]) -> Arc<TlsCertificates> {
    Arc::new(TlsCertificates {
        by_hostname: by_hostname
            .iter()
            .map(|(h, c)| ((*h).to_owned(), c.clone()))
            .collect(),
        default: None,
    })
}

/// A POST of `len` bytes on a fresh connection, sent in 64 KiB chunks.
pub async fn post(addr: SocketAddr, host: &str, path: &str, len: usize) -> Reply {
    let stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap_or_else(|e| fail("h1 handshake", e));
    tokio::spawn(conn);
    let body = Chunks { left: len };
    let req = Request::post(path)
        .header("host", host)
        .body(body)
        .unwrap_or_else(|e| fail("request", e));
    let resp = sender
        .send_request(req)
        .await
        .unwrap_or_else(|e| fail("POST", e));
    Reply::read(resp).await.unwrap_or_else(|e| fail("body", e))
}

/// `left` bytes of `x` in 64 KiB frames, with no length announced: hyper
/// sends it chunked.
struct Chunks {
    left: usize,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(64 * 1024);
        self.left -= n;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(vec![
            b'x';
            n
        ])))))
    }
}

//! One listening socket: bind, accept within the connection bound, serve each
//! connection (TLS or plain, HTTP/1.1 or HTTP/2), and drain on stop.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch},
    task::{JoinHandle, JoinSet},
};
use tokio_rustls::TlsAcceptor;

use super::proxy::{Conn, Shared, handle};

/// Binds with SO_REUSEADDR, so a socket given back by a previous config (or
/// a restarted proxy) can be bound again while old connections sit in
/// TIME_WAIT.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// What the accept loop of one socket needs besides the shared state.
pub struct ListenerContext {
    pub shared: Arc<Shared>,
    pub server: auto::Builder<TokioExecutor>,
    pub tls: Arc<rustls::ServerConfig>,
    /// Every socket's connections count against one bound.
    pub connections: Arc<Semaphore>,
    pub tls_handshake_timeout: Duration,
    /// Grace used when the stop sender is dropped without a message.
    pub default_grace: Duration,
}

/// A running accept loop. [`ListenerHandle::stop`] closes the socket at once
/// and lets its connections finish their requests for up to `grace`.
pub struct ListenerHandle {
    stop: oneshot::Sender<Duration>,
    pub task: JoinHandle<()>,
}

impl ListenerHandle {
    pub fn spawn(socket: SocketAddr, listener: TcpListener, ctx: ListenerContext) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(socket, listener, ctx, stopped));
        Self { stop, task }
    }

    pub fn stop(self, grace: Duration) -> JoinHandle<()> {
        // The loop may already be gone (its runtime shutting down); nothing
        // is left to stop then.
        let _ = self.stop.send(grace);
        self.task
    }
}

async fn accept_loop(
    socket: SocketAddr,
    listener: TcpListener,
    ctx: ListenerContext,
    mut stopped: oneshot::Receiver<Duration>,
) {
    let ctx = Arc::new(ctx);
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let grace = loop {
        tokio::select! {
            grace = &mut stopped => break grace.unwrap_or(ctx.default_grace),
            // Reap finished connections so the set stays the size of the live ones.
            Some(_) = conns.join_next() => {}
            accepted = accept(&listener, &ctx.connections) => match accepted {
                Ok((stream, peer, permit)) => {
                    let tls = ctx
                        .shared
                        .config
                        .load()
                        .sockets
                        .get(&socket)
                        .is_some_and(|s| s.tls.is_some());
                    let conn = Conn {
                        socket,
                        peer,
                        tls,
                        sni: None,
                    };
                    conns.spawn(serve(ctx.clone(), conn, stream, drain_rx.clone(), permit));
                }
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(%socket, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    };
    drop(listener);
    let _ = drain_tx.send(true);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!(%socket, left = conns.len(), "grace expired, closing connections");
    }
    // Dropping the set aborts whatever is still running.
}

/// Waits for room under the connection bound, then for a client: a full
/// proxy stops accepting (the kernel backlog holds the rest) instead of
/// accepting and failing.
async fn accept(
    listener: &TcpListener,
    connections: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = connections
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("connection semaphore closed"))?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, permit))
}

async fn serve(
    ctx: Arc<ListenerContext>,
    conn: Conn,
    stream: TcpStream,
    mut drain: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _open = ctx.shared.metrics.connection();
    let _ = stream.set_nodelay(true);
    if !conn.tls {
        serve_http(&ctx, conn, TokioIo::new(stream), drain).await;
        return;
    }
    let acceptor = TlsAcceptor::from(ctx.tls.clone());
    let handshake = tokio::time::timeout(ctx.tls_handshake_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            failed => {
                ctx.shared.metrics.tls_handshake_failures.inc();
                if let Ok(Err(e)) = failed {
                    tracing::debug!(peer = %conn.peer, error = %e, "TLS handshake failed");
                }
                return;
            }
        },
        () = drained(&mut drain) => return,
    };
    let sni = stream
        .get_ref()
        .1
        .server_name()
        .map(|n| n.to_ascii_lowercase().into());
    let conn = Conn { sni, ..conn };
    serve_http(&ctx, conn, TokioIo::new(stream), drain).await;
}

async fn serve_http<I>(
    ctx: &ListenerContext,
    conn: Conn,
    io: TokioIo<I>,
    mut drain: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = ctx.shared.clone();
    let peer = conn.peer;
    let service = service_fn(move |req| handle(shared.clone(), conn.clone(), req));
    // With upgrades: a WebSocket hands the connection over after its 101.
    let connection = ctx.server.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = drained(&mut drain) => {
            // Finish the requests in flight, take no new ones, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves once the socket is stopping. The guard `wait_for` returns is
/// dropped here, so it never lives across the connection's await.
async fn drained(drain: &mut watch::Receiver<bool>) {
    // An error means the accept loop is gone: stop too.
    let _ = drain.wait_for(|d| *d).await;
}

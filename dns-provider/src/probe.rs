//! Active health checks: one task per probed address, running its
//! DNSPolicy's check every interval and feeding the hysteresis machine whose
//! state the answer path reads.
//!
//! HTTPS probes do not verify the certificate (as Route 53's checks do not):
//! they test that the gateway answers, not who it is, and gateways in test
//! or private setups often present certificates no public root signs.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use fedway_crds::dns_policy::{HealthCheck, ProbeProtocol};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use tokio::{io::AsyncRead, io::AsyncWrite, net::TcpStream, task::AbortHandle};

use crate::{
    health::{Health, HealthCell, Hysteresis},
    zone::{ProbeKey, ProbeTarget},
};

/// Why one probe failed, for logs and status.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connecting to {address}: {source}")]
    Connect {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("HTTP status {status}, expected one of {expected:?}")]
    Status { status: u16, expected: Vec<u16> },
    #[error("invalid check: {0}")]
    Invalid(String),
}

struct Running {
    target: ProbeTarget,
    cell: Arc<HealthCell>,
    task: Option<AbortHandle>,
    last_error: Arc<Mutex<Option<String>>>,
}

/// Every probe this server runs, keyed so unchanged targets keep their
/// state across input changes.
pub struct Prober {
    running: Mutex<HashMap<ProbeKey, Running>>,
    tls: Arc<rustls::ClientConfig>,
}

/// One probed address, for metrics and status reports.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub target: ProbeTarget,
    pub health: Health,
    pub last_error: Option<String>,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    pub fn new() -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|builder| {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                    .with_no_client_auth()
            });
        let tls = match tls {
            Ok(config) => config,
            // ring supports the default versions; this is unreachable in
            // practice, and HTTPS probes would then fail, not the server.
            Err(_) => rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        Self {
            running: Mutex::new(HashMap::new()),
            tls: Arc::new(tls),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProbeKey, Running>> {
        match self.running.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The cell for `target`: the running probe's, or a new one.
    pub fn cell_for(&self, target: &ProbeTarget) -> Arc<HealthCell> {
        let mut running = self.lock();
        running
            .entry(target.key())
            .or_insert_with(|| Running {
                target: target.clone(),
                cell: Arc::new(HealthCell::default()),
                task: None,
                last_error: Arc::new(Mutex::new(None)),
            })
            .cell
            .clone()
    }

    /// Runs exactly `targets`: starts the new ones, stops the ones gone.
    /// Must be called inside a Tokio runtime.
    pub fn reconcile(&self, targets: &[ProbeTarget]) {
        let wanted: HashMap<ProbeKey, &ProbeTarget> =
            targets.iter().map(|t| (t.key(), t)).collect();
        let mut running = self.lock();
        running.retain(|key, probe| {
            let keep = wanted.contains_key(key);
            if !keep && let Some(task) = &probe.task {
                task.abort();
            }
            keep
        });
        for (key, target) in wanted {
            let probe = running.entry(key).or_insert_with(|| Running {
                target: target.clone(),
                cell: Arc::new(HealthCell::default()),
                task: None,
                last_error: Arc::new(Mutex::new(None)),
            });
            // Cluster and policy are not in the key: keep reports current.
            probe.target = target.clone();
            if probe.task.is_none() {
                let task = tokio::spawn(probe_loop(
                    target.clone(),
                    probe.cell.clone(),
                    probe.last_error.clone(),
                    self.tls.clone(),
                ));
                probe.task = Some(task.abort_handle());
            }
        }
    }

    pub fn reports(&self) -> Vec<ProbeReport> {
        let mut reports: Vec<ProbeReport> = self
            .lock()
            .values()
            .map(|probe| ProbeReport {
                target: probe.target.clone(),
                health: probe.cell.get(),
                last_error: probe
                    .last_error
                    .lock()
                    .map(|e| e.clone())
                    .unwrap_or_default(),
            })
            .collect();
        reports.sort_by(|a, b| {
            (&a.target.hostname, &a.target.cluster, a.target.address).cmp(&(
                &b.target.hostname,
                &b.target.cluster,
                b.target.address,
            ))
        });
        reports
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        for probe in self.lock().values() {
            if let Some(task) = &probe.task {
                task.abort();
            }
        }
    }
}

async fn probe_loop(
    target: ProbeTarget,
    cell: Arc<HealthCell>,
    last_error: Arc<Mutex<Option<String>>>,
    tls: Arc<rustls::ClientConfig>,
) {
    let check = &target.check;
    let (interval, timeout) = match (check.interval.to_std(), check.timeout.to_std()) {
        (Ok(interval), Ok(timeout)) if !interval.is_zero() => (interval, timeout),
        _ => {
            tracing::warn!(hostname = %target.hostname, address = %target.address, "health check has an invalid interval or timeout; not probing");
            return;
        }
    };
    let mut machine = Hysteresis::new(check.failure_threshold, check.success_threshold);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let result = probe_once(&target, timeout, &tls).await;
        if let Ok(mut slot) = last_error.lock() {
            *slot = result.as_ref().err().map(ToString::to_string);
        }
        if let Some(state) = machine.observe(result.is_ok()) {
            cell.set(state);
            match &result {
                Ok(()) => {
                    tracing::info!(hostname = %target.hostname, cluster = %target.cluster, address = %target.address, state = state.as_str(), "endpoint health changed")
                }
                Err(error) => {
                    tracing::warn!(hostname = %target.hostname, cluster = %target.cluster, address = %target.address, state = state.as_str(), %error, "endpoint health changed")
                }
            }
        }
    }
}

/// The port probed when the check names none.
pub fn default_port(protocol: ProbeProtocol) -> u16 {
    match protocol {
        ProbeProtocol::Https => 443,
        ProbeProtocol::Http | ProbeProtocol::Tcp => 80,
    }
}

/// The name sent as Host and SNI: the hostname, with a wildcard's `*`
/// replaced by a label any wildcard listener accepts.
pub fn probe_host(hostname: &str) -> String {
    match hostname.strip_prefix("*.") {
        Some(rest) => format!("fedway-health-check.{rest}"),
        None => hostname.to_owned(),
    }
}

pub async fn probe_once(
    target: &ProbeTarget,
    timeout: Duration,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(), ProbeError> {
    tokio::time::timeout(timeout, probe(target, &target.check, tls))
        .await
        .map_err(|_| ProbeError::Timeout(timeout))?
}

async fn probe(
    target: &ProbeTarget,
    check: &HealthCheck,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(), ProbeError> {
    let port = check.port.unwrap_or_else(|| default_port(check.protocol));
    let address = SocketAddr::new(target.address, port);
    let stream = TcpStream::connect(address)
        .await
        .map_err(|source| ProbeError::Connect { address, source })?;
    let host = probe_host(&target.hostname);
    match check.protocol {
        ProbeProtocol::Tcp => Ok(()),
        ProbeProtocol::Http => http_get(stream, &host, check).await,
        ProbeProtocol::Https => {
            let name = ServerName::try_from(host.clone())
                .or_else(|_| ServerName::try_from(ip_name(target.address)))
                .map_err(|e| ProbeError::Invalid(e.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, stream)
                .await
                .map_err(ProbeError::Tls)?;
            http_get(stream, &host, check).await
        }
    }
}

fn ip_name(ip: IpAddr) -> String {
    ip.to_string()
}

async fn http_get<S>(stream: S, host: &str, check: &HealthCheck) -> Result<(), ProbeError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(check.path.as_str())
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "fedway-dns-health-check")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| ProbeError::Invalid(e.to_string()))?;
    let result = sender.send_request(request).await;
    driver.abort();
    let status = result?.status().as_u16();
    if check.expected_statuses.contains(&status) {
        Ok(())
    } else {
        Err(ProbeError::Status {
            status,
            expected: check.expected_statuses.clone(),
        })
    }
}

/// Accepts any certificate; signatures are still checked so the handshake
/// itself is real TLS.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

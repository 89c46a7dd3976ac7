//! Tollgate over HTTP (DESIGN §5, §10, §12): the engine served to scripts, web panels and
//! switches on the network, as they talk to JeraSoft or PortaBilling today.
//!
//! - `POST /jsonrpc/`: JSON-RPC 2.0 (single and batch) onto the Management API dispatcher;
//! - `GET|POST /admin/<module>/<action>`: file methods (`xdrs.download`) with
//!   `Content-Type` and `Content-Disposition`; a refusal carries `X-VCS-Status`;
//! - `POST /rest/<Service>/<method>`: the PortaBilling facade (JSON, form-encoded or
//!   multipart bodies; `Authorization: Bearer`; token and session cookies after login);
//! - `GET /.well-known/jwks.json` and `GET /healthz`.
//!
//! The engine is synchronous and may block (store lock, fsync): every call runs on tokio's
//! bounded blocking pool, never on the reactor. HTTP/1.1 only; TLS through rustls.

mod body;
pub mod form;
pub mod limits;
mod log;
mod routes;
pub mod xmlrpc;

pub use log::Log;

use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tollgate::Engine;

/// How a server listens and what it bounds. [`ServeConfig::new`] takes the defaults of
/// [`limits`].
#[derive(Clone)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// TLS, when set (see [`tls_from_pem_files`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// See [`limits::body_bytes_max`].
    pub body_bytes_max: usize,
    /// See [`limits::header_bytes_max`].
    pub header_bytes_max: usize,
    /// See [`limits::headers_count_max`].
    pub headers_count_max: usize,
    /// See [`limits::connections_max`].
    pub connections_max: usize,
    /// See [`limits::peer_connections_max`].
    pub peer_connections_max: usize,
    /// See [`limits::header_read_ms_max`].
    pub header_read_ms_max: u64,
    /// See [`limits::body_read_ms_max`].
    pub body_read_ms_max: u64,
    /// See [`limits::request_ms_max`].
    pub request_ms_max: u64,
    /// See [`limits::file_request_ms_max`].
    pub file_request_ms_max: u64,
    /// See [`limits::blocking_threads_max`].
    pub blocking_threads_max: usize,
    /// Threads that run the HTTP side (parsing, TLS); 0 = one per core.
    pub worker_threads: usize,
    /// See [`limits::shutdown_grace_ms_max`].
    pub shutdown_grace_ms_max: u64,
    /// See [`limits::file_spool_memory_bytes_max`].
    pub file_spool_memory_bytes_max: usize,
    /// See [`limits::file_chunk_bytes`].
    pub file_chunk_bytes: usize,
    /// Stop on SIGINT or SIGTERM (the `tollgate serve` command; tests stop by handle).
    pub stop_on_signals: bool,
    /// Where request logs go.
    pub log: Log,
    /// Run once the HTTP side has stopped and drained, before the engine is released (the
    /// `tollgate serve` command stops its RADIUS front door here, so that its last settles
    /// finish before the engine closes).
    pub on_stopped: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The local operator's secret (`tollgate serve` writes it to the database's address
    /// file, readable by its owner only): a `/jsonrpc/` request whose
    /// [`LOCAL_SECRET_HEADER`] matches it (compared in constant time) runs as the embedding
    /// process when it carries no credentials of its own; one that does not match is refused
    /// with `auth.failed`. `None`: the header is refused whatever it holds.
    pub local_secret: Option<Arc<str>>,
    /// Run with the bound address once the server listens, before the `listening` log line
    /// and before any request is served (`tollgate serve` writes its address file here, so
    /// that whoever saw the line finds the file).
    pub on_listening: Option<Arc<dyn Fn(SocketAddr) + Send + Sync>>,
}

/// The request header that carries the local operator's secret (docs/server.md).
pub const LOCAL_SECRET_HEADER: &str = "x-tollgate-local-secret";

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("tls", &self.tls.is_some())
            .field("body_bytes_max", &self.body_bytes_max)
            .field("connections_max", &self.connections_max)
            .field("peer_connections_max", &self.peer_connections_max)
            .field("local_secret", &self.local_secret.is_some())
            .finish_non_exhaustive()
    }
}

impl ServeConfig {
    /// The defaults, listening on `listen`, plain HTTP, logging to standard error.
    pub fn new(listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            listen,
            tls: None,
            body_bytes_max: limits::body_bytes_max,
            header_bytes_max: limits::header_bytes_max,
            headers_count_max: limits::headers_count_max,
            connections_max: limits::connections_max,
            peer_connections_max: limits::peer_connections_max,
            header_read_ms_max: limits::header_read_ms_max,
            body_read_ms_max: limits::body_read_ms_max,
            request_ms_max: limits::request_ms_max,
            file_request_ms_max: limits::file_request_ms_max,
            blocking_threads_max: limits::blocking_threads_max,
            worker_threads: 0,
            shutdown_grace_ms_max: limits::shutdown_grace_ms_max,
            file_spool_memory_bytes_max: limits::file_spool_memory_bytes_max,
            file_chunk_bytes: limits::file_chunk_bytes,
            stop_on_signals: false,
            log: Log::Stderr,
            on_stopped: None,
            local_secret: None,
            on_listening: None,
        }
    }
}

/// A rustls server configuration from a PEM certificate chain and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1). HTTP/1.1 is the only protocol offered by ALPN.
pub fn tls_from_pem_files(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What every request handler shares.
pub(crate) struct State {
    pub engine: Arc<Engine>,
    pub config: ServeConfig,
    /// Set once shutdown began: `/healthz` answers 503 so balancers stop sending.
    pub draining: AtomicBool,
}

/// A running server. Dropping it stops it the same way as [`Server::stop`].
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Bind `config.listen` and serve `engine` on a thread of its own until [`Server::stop`]
    /// (or a signal, with `stop_on_signals`). Binding errors come back here.
    pub fn start(engine: Arc<Engine>, config: ServeConfig) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        if let Some(f) = &config.on_listening {
            f(addr);
        }
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        rt.enable_all()
            .thread_name("tollgate-http")
            .max_blocking_threads(config.blocking_threads_max.max(1));
        if config.worker_threads > 0 {
            rt.worker_threads(config.worker_threads);
        }
        let rt = rt.build()?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let log = config.log.clone();
        let on_stopped = config.on_stopped.clone();
        let thread = std::thread::Builder::new()
            .name("tollgate-serve".into())
            .spawn(move || {
                let state = Arc::new(State {
                    engine,
                    config,
                    draining: AtomicBool::new(false),
                });
                let served = rt.block_on(async {
                    let listener = TcpListener::from_std(listener)?;
                    serve(listener, state.clone(), stop_rx).await;
                    Ok::<(), std::io::Error>(())
                });
                if let Err(e) = served {
                    log.event("error", &format!("cannot listen: {e}"));
                }
                if let Some(f) = on_stopped {
                    f();
                }
                // Dropping the runtime waits for engine calls still running on the blocking
                // pool (a request that timed out keeps its call until the call returns).
                drop(rt);
                let State { engine, .. } = match Arc::try_unwrap(state) {
                    Ok(s) => s,
                    Err(_) => {
                        log.event("error", "request state still shared at shutdown");
                        return;
                    }
                };
                // The last holder closes the engine here: its drop flushes what it buffers.
                if Arc::try_unwrap(engine).is_ok() {
                    log.event("stopped", "engine closed");
                } else {
                    log.event("stopped", "engine still shared by the embedding program");
                }
            })?;
        Ok(Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let in-flight requests finish (up to the grace period), close the
    /// engine if this server held the last reference, and return when all that is done.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    /// Wait until the server stops by itself (a signal, with `stop_on_signals`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn stop_and_join(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Connections open per peer, for `peer_connections_max`.
struct Peers {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// One connection's place in its peer's count; given back on drop.
struct Seat {
    peers: Arc<Peers>,
    key: IpAddr,
}

impl Peers {
    fn new(max: usize) -> Peers {
        Peers {
            max,
            open: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Whose share a connection counts against: an IPv4 address (also when it comes
    /// IPv4-mapped), or an IPv6 /64, the block one subscriber usually holds.
    fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        }
    }

    fn enter(peers: &Arc<Peers>, ip: IpAddr) -> Option<Seat> {
        let key = Peers::key(ip);
        let mut open = peers.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= peers.max {
            return None;
        }
        *n += 1;
        Some(Seat {
            peers: peers.clone(),
            key,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM; never when signals are not ours to take.
async fn signal(enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// The accept loop, then graceful shutdown.
async fn serve(listener: TcpListener, state: Arc<State>, stop: oneshot::Receiver<()>) {
    let cfg = &state.config;
    let log = cfg.log.clone();
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    if let Ok(addr) = listener.local_addr() {
        log.event("listening", &format!("{scheme}://{addr}"));
    }
    let permits = Arc::new(Semaphore::new(cfg.connections_max.max(1)));
    let peers = Arc::new(Peers::new(cfg.peer_connections_max.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let tls = cfg.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(cfg.header_read_ms_max))
        .max_buf_size(cfg.header_bytes_max.max(8192))
        .max_headers(cfg.headers_count_max)
        .keep_alive(true);
    let handshake_timeout = Duration::from_millis(cfg.header_read_ms_max);
    let stopping = async {
        tokio::select! {
            _ = stop => {}
            _ = signal(cfg.stop_on_signals) => {}
        }
    };
    tokio::pin!(stopping);
    loop {
        // A permit first: at the connection bound the server stops accepting and the kernel
        // keeps new connections waiting, instead of this loop holding unbounded sockets.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stopping => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: say so, back off, go on.
                    log.event("error", &format!("accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopping => break,
        };
        // One peer's share: past it the connection is closed at once, before any byte is
        // read, so a single source cannot hold every permit.
        let Some(seat) = Peers::enter(&peers, peer.ip()) else {
            drop(stream);
            continue;
        };
        let permit = (permit, seat);
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let service =
            hyper::service::service_fn(move |req| routes::handle(state.clone(), peer, req));
        match &tls {
            None => {
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let http = http.clone();
                let watcher = graceful.watcher();
                let log = log.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let conn = http.serve_connection(TokioIo::new(tls), service);
                            let _ = watcher.watch(conn).await;
                        }
                        Ok(Err(e)) => log.event("tls", &format!("{peer}: handshake failed: {e}")),
                        Err(_) => log.event("tls", &format!("{peer}: handshake timed out")),
                    }
                    drop(permit);
                });
            }
        }
    }
    state.draining.store(true, Ordering::SeqCst);
    drop(listener);
    log.event(
        "shutdown",
        "no longer accepting; finishing in-flight requests",
    );
    let grace = Duration::from_millis(cfg.shutdown_grace_ms_max);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        log.event(
            "shutdown",
            "grace period over; closing remaining connections",
        );
    }
}

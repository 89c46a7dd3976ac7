//! The sockets and threads: receivers verify each datagram and answer what memory can answer;
//! Access-Requests and Stops go to the writer threads, which answer once the hold or the
//! settle is durable (their concurrent writes share group commits).

use crate::codec::{code, Malformed, Packet};
use crate::handler::{Handler, Outcome};
use crate::{limits, RadiusConfig};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::Engine;

macro_rules! stats {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// What the front door has seen since it started (every drop is counted by its
        /// reason).
        #[derive(Debug, Default)]
        pub struct Stats { $($(#[$doc])* pub $name: AtomicU64,)* }

        impl Stats {
            /// The counters as `(name, value)` pairs.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

stats! {
    /// Access-Accepts sent (retransmissions aside).
    accepts,
    /// Access-Rejects sent.
    rejects,
    /// Accounting-Responses sent.
    accounting_responses,
    /// Stops settled (charged, or replayed by call id).
    settled,
    /// Stops answered although they could not be charged (the refusal is logged).
    settles_refused,
    /// Stops not answered because the settle failed in the engine (the NAS retries).
    settles_failed,
    /// Retransmissions answered from the reply cache.
    retransmissions,
    /// Retransmissions of a request still being handled (dropped: the reply follows).
    retransmissions_in_progress,
    /// Dropped: from an address no client entry holds.
    dropped_unknown_nas,
    /// Dropped: over `packet_bytes_max`.
    dropped_oversize,
    /// Dropped: broken framing, or an Accounting-Request without Acct-Session-Id.
    dropped_malformed,
    /// Dropped: the authenticator or Message-Authenticator does not verify (wrong secret).
    dropped_bad_authenticator,
    /// Dropped: an Access-Request or Status-Server without Message-Authenticator.
    dropped_no_message_authenticator,
    /// Dropped: a code this port does not answer.
    dropped_unexpected_code,
    /// Dropped: every settle thread busy and the queue full (the NAS retries).
    dropped_settle_queue_full,
}

impl Stats {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Every drop, summed.
    pub fn dropped(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(n, _)| n.starts_with("dropped_"))
            .map(|(_, v)| v)
            .sum()
    }
}

/// A request as the retransmission cache knows it (RFC 5080 §2.2.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: SocketAddr,
    code: u8,
    id: u8,
    authenticator: [u8; 16],
}

struct Entry {
    at: Instant,
    /// `None` while the request is being handled.
    reply: Option<Arc<[u8]>>,
}

/// Replies kept for retransmissions, oldest first out.
struct Cache {
    map: HashMap<Key, Entry>,
    order: VecDeque<(Instant, Key)>,
    window: Duration,
    max: usize,
}

enum Seen {
    New,
    InProgress,
    Answered(Arc<[u8]>),
}

impl Cache {
    fn evict(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front().copied() {
            if self.order.len() <= self.max && now.duration_since(at) < self.window {
                break;
            }
            self.order.pop_front();
            if self.map.get(&key).is_some_and(|e| e.at == at) {
                self.map.remove(&key);
            }
        }
    }

    fn begin(&mut self, key: Key, now: Instant) -> Seen {
        self.evict(now);
        if let Some(e) = self.map.get(&key) {
            return match &e.reply {
                Some(r) => Seen::Answered(r.clone()),
                None => Seen::InProgress,
            };
        }
        self.map.insert(
            key,
            Entry {
                at: now,
                reply: None,
            },
        );
        self.order.push_back((now, key));
        Seen::New
    }

    fn answered(&mut self, key: &Key, reply: Arc<[u8]>) {
        if let Some(e) = self.map.get_mut(key) {
            e.reply = Some(reply);
        }
    }

    /// Forget a request that got no reply, so that its retransmission is handled anew.
    fn forget(&mut self, key: &Key) {
        if self.map.get(key).is_some_and(|e| e.reply.is_none()) {
            self.map.remove(key);
        }
    }
}

/// Which requests a socket answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Port {
    Both,
    Auth,
    Acct,
}

/// An Access-Request or a Stop waiting for a writer thread.
struct Job {
    socket: Arc<UdpSocket>,
    src: SocketAddr,
    key: Key,
    datagram: Vec<u8>,
}

struct Shared {
    handler: Handler,
    stats: Arc<Stats>,
    cache: Mutex<Cache>,
    stop: AtomicBool,
    log: crate::LogFn,
}

/// A running RADIUS front door. Dropping it stops it like [`RadiusServer::stop`].
pub struct RadiusServer {
    shared: Arc<Shared>,
    listen: SocketAddr,
    acct: Option<SocketAddr>,
    receivers: Vec<std::thread::JoinHandle<()>>,
    settlers: Vec<std::thread::JoinHandle<()>>,
    queue: Option<mpsc::SyncSender<Job>>,
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // The kernel may grant less (net.core.rmem_max); a smaller buffer only drops sooner.
    let _ = s.set_recv_buffer_size(limits::socket_buffer_bytes);
    let _ = s.set_send_buffer_size(limits::socket_buffer_bytes);
    s.bind(&addr.into())?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(limits::poll_interval_ms)))?;
    Ok(s)
}

impl RadiusServer {
    /// Bind the sockets and start answering for `engine`. Binding errors come back here,
    /// before any thread starts.
    pub fn start(engine: Engine, config: RadiusConfig) -> std::io::Result<RadiusServer> {
        let main = Arc::new(bind(config.listen)?);
        let acct = match config.acct {
            Some(a) => Some(Arc::new(bind(a)?)),
            None => None,
        };
        let listen = main.local_addr()?;
        let acct_addr = match &acct {
            Some(s) => Some(s.local_addr()?),
            None => None,
        };
        let stats = Arc::new(Stats::default());
        let shared = Arc::new(Shared {
            handler: Handler::new(engine, &config, stats.clone()),
            stats,
            cache: Mutex::new(Cache {
                map: HashMap::new(),
                order: VecDeque::new(),
                window: Duration::from_secs(config.retransmit_window_seconds),
                max: config.retransmit_cache_entries_max.max(1),
            }),
            stop: AtomicBool::new(false),
            log: config.log.clone(),
        });
        let (tx, rx) = mpsc::sync_channel::<Job>(config.settle_queue_max.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut settlers = Vec::new();
        for n in 0..config.settle_threads.max(1) {
            let shared = shared.clone();
            let rx = rx.clone();
            settlers.push(
                std::thread::Builder::new()
                    .name(format!("radius-settle-{n}"))
                    .spawn(move || settle_loop(&shared, &rx))?,
            );
        }
        let mut sockets = vec![(
            main.clone(),
            if acct.is_some() {
                Port::Auth
            } else {
                Port::Both
            },
        )];
        if let Some(a) = &acct {
            sockets.push((a.clone(), Port::Acct));
        }
        let mut receivers = Vec::new();
        for (socket, port) in sockets {
            for n in 0..config.receiver_threads.max(1) {
                let shared = shared.clone();
                let socket = socket.clone();
                let tx = tx.clone();
                receivers.push(
                    std::thread::Builder::new()
                        .name(format!("radius-recv-{n}"))
                        .spawn(move || receive_loop(&shared, &socket, port, &tx))?,
                );
            }
        }
        {
            let shared = shared.clone();
            receivers.push(
                std::thread::Builder::new()
                    .name("radius-sweep".into())
                    .spawn(move || sweep_loop(&shared))?,
            );
        }
        match acct_addr {
            None => (config.log)(
                "listening",
                &format!("radius://{listen} (authentication and accounting)"),
            ),
            Some(a) => {
                (config.log)("listening", &format!("radius://{listen} (authentication)"));
                (config.log)("listening", &format!("radius-acct://{a} (accounting)"));
            }
        }
        Ok(RadiusServer {
            shared,
            listen,
            acct: acct_addr,
            receivers,
            settlers,
            queue: Some(tx),
        })
    }

    /// The authentication port's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The accounting port's address (the authentication port's without `--radius-acct`).
    pub fn acct_addr(&self) -> SocketAddr {
        self.acct.unwrap_or(self.listen)
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Stop receiving, finish the Stops already taken (each answered once durable), release
    /// the engine, and return when all that is done.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if self.queue.is_none() {
            return;
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.receivers.drain(..) {
            let _ = t.join();
        }
        // The receivers' senders are gone with them; this is the last one: the settle
        // threads drain the queue and end.
        self.queue = None;
        for t in self.settlers.drain(..) {
            let _ = t.join();
        }
        let counts: Vec<String> = self
            .shared
            .stats
            .snapshot()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        (self.shared.log)("stopped", &format!("radius: {}", counts.join(" ")));
    }
}

impl Drop for RadiusServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn receive_loop(
    shared: &Shared,
    socket: &Arc<UdpSocket>,
    port: Port,
    queue: &mpsc::SyncSender<Job>,
) {
    // One byte more than the largest packet: a datagram that fills it is over the limit.
    let mut buf = vec![0u8; limits::packet_bytes_max + 1];
    while !shared.stop.load(Ordering::Relaxed) {
        let (n, src) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                (shared.log)("error", &format!("radius receive: {e}"));
                std::thread::sleep(Duration::from_millis(limits::poll_interval_ms));
                continue;
            }
        };
        receive(shared, socket, port, queue, &buf[..n], src);
    }
}

fn receive(
    shared: &Shared,
    socket: &Arc<UdpSocket>,
    port: Port,
    queue: &mpsc::SyncSender<Job>,
    datagram: &[u8],
    src: SocketAddr,
) {
    let stats = &shared.stats;
    let Some(nas) = shared.handler.nas(src.ip()) else {
        return Stats::bump(&stats.dropped_unknown_nas);
    };
    let p = match Packet::parse(datagram) {
        Ok(p) => p,
        Err(Malformed::TooLarge) => return Stats::bump(&stats.dropped_oversize),
        Err(_) => return Stats::bump(&stats.dropped_malformed),
    };
    let secret = nas.secret.clone();
    let allowed = match p.code {
        code::ACCESS_REQUEST | code::STATUS_SERVER => port != Port::Acct,
        code::ACCOUNTING_REQUEST => port != Port::Auth,
        _ => false,
    };
    if !allowed {
        return Stats::bump(&stats.dropped_unexpected_code);
    }
    // Authenticity first: nothing unauthenticated reaches the cache or the engine.
    if p.code == code::ACCOUNTING_REQUEST {
        if !p.accounting_authenticator_valid(&secret) {
            return Stats::bump(&stats.dropped_bad_authenticator);
        }
    } else if !p.has_message_authenticator() {
        return Stats::bump(&stats.dropped_no_message_authenticator);
    } else if !p.message_authenticator_valid(&secret) {
        return Stats::bump(&stats.dropped_bad_authenticator);
    }
    let is_stop = p.code == code::ACCOUNTING_REQUEST && crate::handler::is_stop(&p);
    if p.code == code::ACCOUNTING_REQUEST
        && p.get(crate::dict::attr::ACCT_SESSION_ID)
            .is_none_or(|s| s.is_empty())
    {
        return Stats::bump(&stats.dropped_malformed);
    }
    let key = Key {
        src,
        code: p.code,
        id: p.id,
        authenticator: p.authenticator,
    };
    match shared.cache.lock().begin(key, Instant::now()) {
        Seen::New => {}
        Seen::InProgress => return Stats::bump(&stats.retransmissions_in_progress),
        Seen::Answered(reply) => {
            Stats::bump(&stats.retransmissions);
            let _ = socket.send_to(&reply, src);
            return;
        }
    }
    // Grants and Stops both wait for a durable write (an authorize's hold, a settle): they go
    // to the writer threads, whose concurrent writes share group commits.
    if is_stop || p.code == code::ACCESS_REQUEST {
        let job = Job {
            socket: socket.clone(),
            src,
            key,
            datagram: p.raw.to_vec(),
        };
        if queue.try_send(job).is_err() {
            shared.cache.lock().forget(&key);
            Stats::bump(&stats.dropped_settle_queue_full);
        }
        return;
    }
    let reply = shared.handler.handle(&p, &nas, port == Port::Acct);
    answer(shared, socket, src, &key, reply);
}

fn answer(shared: &Shared, socket: &UdpSocket, src: SocketAddr, key: &Key, outcome: Outcome) {
    match outcome {
        Outcome::Reply(bytes) => {
            let bytes: Arc<[u8]> = Arc::from(bytes);
            shared.cache.lock().answered(key, bytes.clone());
            let _ = socket.send_to(&bytes, src);
        }
        Outcome::NoReply => shared.cache.lock().forget(key),
    }
}

fn settle_loop(shared: &Shared, rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock();
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let Ok(p) = Packet::parse(&job.datagram) else {
            continue;
        };
        let Some(nas) = shared.handler.nas(job.src.ip()) else {
            continue;
        };
        let outcome = if p.code == code::ACCESS_REQUEST {
            shared.handler.handle(&p, &nas, false)
        } else {
            shared.handler.stop(&p, &nas)
        };
        answer(shared, &job.socket, job.src, &job.key, outcome);
    }
}

fn sweep_loop(shared: &Shared) {
    let mut last_report = Instant::now();
    let mut reported = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(limits::poll_interval_ms));
        shared.cache.lock().evict(Instant::now());
        shared.handler.sweep();
        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            let dropped = shared.stats.dropped();
            if dropped > reported {
                let counts: Vec<String> = shared
                    .stats
                    .snapshot()
                    .iter()
                    .filter(|(n, v)| n.starts_with("dropped_") && *v > 0)
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect();
                (shared.log)(
                    "warn",
                    &format!(
                        "radius: {} packets dropped in the last minute ({})",
                        dropped - reported,
                        counts.join(" ")
                    ),
                );
                reported = dropped;
            }
        }
    }
}

//! Issue 13 C, written as the attack: denial of service without credentials. Sockets that
//! send a request head and no body, from one peer, must not keep `/healthz` from answering
//! another peer; a body that does not arrive in time is answered 408 and its connection
//! closed. Real HTTP on 127.0.0.1 (and 127.0.0.2 as a second peer); every wait is bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::Engine;
use tollgate_server::{Log, ServeConfig, Server};

fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Server {
    let engine = Arc::new(Engine::create(":memory:", "admin", "admin-password-1").expect("create"));
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.worker_threads = 2;
    config.log = Log::To(Arc::new(|_: &str| {}));
    tweak(&mut config);
    Server::start(engine, config).expect("start")
}

/// The tests here open hundreds of sockets each: one at a time, so that none measures the
/// load of another.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection from `from` (any 127.0.0.0/8 address is this machine on Linux).
fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let local: SocketAddr = format!("{from}:0").parse().expect("addr");
    s.bind(&local.into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(2))?;
    Ok(s.into())
}

/// A request head that announces a body, and no body.
const HEAD_NO_BODY: &[u8] = b"POST /jsonrpc/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";

/// `GET /healthz` on a new connection from 127.0.0.1; the status line, or why not.
fn healthz(to: SocketAddr, wait: Duration) -> Result<String, String> {
    let mut s = connect_from("127.0.0.1", to).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) if buf.is_empty() => return Err(format!("no answer: {e}")),
        Err(_) => {}
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// Is the server's side of `s` closed (EOF or reset), without waiting?
fn closed(s: &mut TcpStream) -> bool {
    let _ = s.set_nonblocking(true);
    let mut b = [0u8; 256];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

#[test]
fn one_peer_holding_heads_without_bodies_does_not_keep_healthz_from_another_peer() {
    let _serial = serial();
    // The probe's attack with the default limits: more sockets than the old global bound
    // (512), all from one address, each with a complete head and no body.
    let server = start(|_| {});
    let addr = server.local_addr();
    let attackers: Vec<TcpStream> = (0..600)
        .filter_map(|_| {
            let mut s = connect_from("127.0.0.2", addr).ok()?;
            s.write_all(HEAD_NO_BODY).ok()?;
            Some(s)
        })
        .collect();
    assert!(attackers.len() > 512, "only {} connected", attackers.len());
    let started = Instant::now();
    let status = healthz(addr, Duration::from_secs(3));
    assert_eq!(
        status.as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "/healthz from another peer after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // The attacker holds its share and no more: the rest were closed at once.
    std::thread::sleep(Duration::from_millis(300));
    let mut attackers = attackers;
    let open = attackers.iter_mut().map(closed).filter(|c| !c).count();
    assert!(
        open <= tollgate_server::limits::peer_connections_max,
        "{open} connections of one peer still open"
    );
}

#[test]
fn a_local_load_generator_may_hold_256_connections_by_default() {
    let _serial = serial();
    let server = start(|_| {});
    let addr = server.local_addr();
    let mut conns: Vec<TcpStream> = (0..256)
        .map(|_| connect_from("127.0.0.1", addr).expect("connect"))
        .collect();
    for s in &mut conns {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
    }
    for (i, s) in conns.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "connection {i}: {text:?}");
    }
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_answered_408_and_the_connection_closed() {
    let _serial = serial();
    let server = start(|c| c.body_read_ms_max = 300);
    let addr = server.local_addr();
    // A stalled body (part sent, the rest never) and a dripping one (one byte every 50 ms:
    // never idle, never done).
    for drip in [false, true] {
        let mut s = connect_from("127.0.0.1", addr).expect("connect");
        s.write_all(HEAD_NO_BODY).expect("head");
        s.write_all(b"{\"jsonrpc\"").expect("part");
        let started = Instant::now();
        let mut buf = Vec::new();
        if drip {
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let mut b = [0u8; 1024];
            while started.elapsed() < Duration::from_secs(5) {
                if s.write_all(b" ").is_err() {
                    break;
                }
                match s.read(&mut b) {
                    Ok(0) => break,
                    Ok(n) => buf.extend_from_slice(&b[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
        } else {
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let _ = s.read_to_end(&mut buf);
        }
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.starts_with("HTTP/1.1 408"),
            "drip={drip}: {text:?} after {took:?}"
        );
        assert!(took < Duration::from_secs(3), "drip={drip}: {took:?}");
        // And closed: nothing more is read, however long the sender goes on.
        let mut s = s;
        std::thread::sleep(Duration::from_millis(100));
        let _ = s.write_all(b"more");
        assert!(
            closed(&mut s) || {
                std::thread::sleep(Duration::from_millis(200));
                closed(&mut s)
            }
        );
    }
}

//! A real SIP call path, end to end: SIPp callers → Kamailio (integrations/kamailio/
//! tollgate.cfg, asking `tollgate serve` over JSON-RPC) → a SIPp callee, all on 127.0.0.1.
//! Debian's `kamailio`, `kamailio-utils-modules`, `kamailio-extra-modules` and `sip-tester`
//! are installed by scripts/setup.sh.
//!
//! Ten calls: six from funded accounts (held 1 to 3.5 s, hung up by the caller), two from an
//! unfunded one (402), one from an unknown number (403), one held longer than it can afford
//! (cut by Kamailio at its `max_seconds`). Durations are SIPp's own (response time 1, from
//! the 200 OK to the end of the call, in its `-trace_rtt` file).

mod common;

use common::{customer, init, rate_table, rpc, Served, PASSWORD};
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// A UDP port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is required (Debian's kamailio and sip-tester packages): scripts/setup.sh installs them"
    );
}

/// A process ended by SIGTERM (Kamailio's main process then stops its children) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.0.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until something answers SIP on `port` (Kamailio answers an OPTIONS with 405).
fn wait_for_sip(port: u16, log: &Path) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let local = s.local_addr().unwrap().port();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let probe = format!(
            "OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-probe-{n}\r\nFrom: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: probe-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = s.send_to(probe.as_bytes(), ("127.0.0.1", port));
        if s.recv_from(&mut buf).is_ok() {
            return;
        }
    }
    panic!(
        "Kamailio never answered on port {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

struct Sipp {
    dir: PathBuf,
    name: &'static str,
    child: Child,
}

/// A SIPp caller: `scenario` to Kamailio, one call per line of `calls` (`number;hold_ms`).
fn caller(
    dir: &Path,
    name: &'static str,
    scenario: &str,
    kamailio: u16,
    calls: &[(&str, u32)],
) -> Sipp {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    let mut csv = String::from("SEQUENTIAL\n");
    for (number, hold) in calls {
        csv.push_str(&format!("{number};{hold}\n"));
    }
    std::fs::write(run.join("calls.csv"), csv).unwrap();
    let scenario = repo().join("integrations/kamailio/sipp").join(scenario);
    let child = Command::new("sipp")
        .current_dir(&run)
        .arg(format!("127.0.0.1:{kamailio}"))
        .arg("-sf")
        .arg(&scenario)
        .args(["-inf", "calls.csv", "-s", "4420", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-mp", &free_port().to_string()])
        .args(["-m", &calls.len().to_string(), "-l", "1", "-r", "10"])
        .args(["-trace_rtt", "-rtt_freq", "1", "-trace_err", "-nostdin"])
        .args(["-timeout", "90", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp");
    Sipp {
        dir: run,
        name,
        child,
    }
}

impl Sipp {
    /// Wait for the run; every call must have gone as its scenario says. Returns the
    /// response times 1 in milliseconds, in call order.
    fn finish(self) -> Vec<f64> {
        let out = self.child.wait_with_output().expect("sipp ran");
        let errors: String = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        assert!(
            out.status.success(),
            "{}: sipp {:?}\n{}\n{errors}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let rtt: String = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with("_rtt.csv"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        rtt.lines()
            .filter(|l| !l.starts_with("Date_ms"))
            .filter_map(|l| l.split(';').nth(1))
            .map(|v| v.trim().parse::<f64>().expect("a response time"))
            .collect()
    }
}

#[test]
fn sipp_calls_through_kamailio_are_authorized_cut_and_billed_once() {
    need("kamailio");
    need("sipp");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    init(&db);
    // 6 a minute, per second: 10 buys 100 s, 0.5 buys 5 s.
    let table = rate_table(&db, "44", "6");
    let funded: Vec<(String, i64)> = (1..=6)
        .map(|k| {
            let number = format!("100{k}");
            let c = customer(&db, &table, &number, "ani", &number, "10");
            (number, c)
        })
        .collect();
    let broke = customer(&db, &table, "Broke", "ani", "2001", "0");
    let short = customer(&db, &table, "Short", "ani", "3001", "0.5");

    let served = Served::start(&db);
    let (sip, uas_port) = (free_port(), free_port());
    let kam_log = dir.path().join("kamailio.log");
    let kamailio = Proc(
        Command::new("kamailio")
            .args(["-DD", "-E", "-f"])
            .arg(repo().join("integrations/kamailio/tollgate.cfg"))
            .arg("-A")
            .arg(format!("LISTEN=udp:127.0.0.1:{sip}"))
            .arg("-A")
            .arg(format!("UPSTREAM=\"sip:127.0.0.1:{uas_port}\""))
            .arg("-A")
            .arg(format!("TOLLGATE_URL=\"http://{}/jsonrpc/\"", served.addr))
            .arg("-A")
            .arg("TOLLGATE_LOGIN=\"admin\"")
            .arg("-A")
            .arg(format!("TOLLGATE_PASSWORD=\"{PASSWORD}\""))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&kam_log).unwrap())
            .spawn()
            .expect("kamailio"),
    );
    wait_for_sip(sip, &kam_log);
    let uas_dir = dir.path().join("uas");
    std::fs::create_dir_all(&uas_dir).unwrap();
    let _uas = Proc(
        Command::new("sipp")
            .current_dir(&uas_dir)
            .arg("-sf")
            .arg(repo().join("integrations/kamailio/sipp/uas.xml"))
            .args(["-i", "127.0.0.1", "-p", &uas_port.to_string()])
            .args(["-mp", &free_port().to_string(), "-nostdin"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp uas"),
    );
    std::thread::sleep(Duration::from_millis(300));

    let holds = [1000u32, 1500, 2000, 2500, 3000, 3500];
    let calls: Vec<(&str, u32)> = funded
        .iter()
        .zip(holds)
        .map(|((n, _), h)| (n.as_str(), h))
        .collect();
    let started = Instant::now();
    let talk = caller(dir.path(), "funded", "uac_call.xml", sip, &calls);
    let refused = caller(
        dir.path(),
        "unfunded",
        "uac_402.xml",
        sip,
        &[("2001", 0), ("2001", 0)],
    );
    let unknown = caller(dir.path(), "unknown", "uac_403.xml", sip, &[("9999", 0)]);
    let cut = caller(dir.path(), "long", "uac_cut.xml", sip, &[("3001", 0)]);
    let talked = talk.finish();
    assert!(refused.finish().is_empty());
    assert!(unknown.finish().is_empty());
    let cut_ms = cut.finish();
    let took = started.elapsed();
    assert_eq!(talked.len(), 6, "{talked:?}");
    assert_eq!(cut_ms.len(), 1, "{cut_ms:?}");

    // The long call lasted its max_seconds (5 s), as SIPp measured it.
    assert!(
        (cut_ms[0] / 1000.0 - 5.0).abs() <= 1.0,
        "cut after {cut_ms:?} ms"
    );

    // Settles: one xDR per connected call, none for the refused ones.
    let deadline = Instant::now() + Duration::from_secs(15);
    let xdrs = loop {
        let r = rpc(&served.addr, "xdrs.list", json!({}));
        let rows = r["return"]["rows"].as_array().cloned().unwrap_or_default();
        if rows.len() >= 7 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = std::fs::read_to_string(&kam_log).unwrap_or_default();
    assert_eq!(xdrs.len(), 7, "{xdrs:?}\n{log}");
    let of = |client: i64| -> Vec<&Value> {
        xdrs.iter()
            .filter(|x| x["id_clients"].as_i64() == Some(client))
            .collect()
    };
    for ((number, client), seconds) in funded.iter().zip(&talked) {
        let mine = of(*client);
        assert_eq!(mine.len(), 1, "{number}: {mine:?}");
        let billed = mine[0]["duration"].as_f64().unwrap();
        assert!(
            (billed - seconds / 1000.0).abs() <= 1.0,
            "{number}: billed {billed} s, SIPp saw {seconds} ms"
        );
        assert_eq!(mine[0]["unreserved"], false);
    }
    let long = of(short);
    assert_eq!(long.len(), 1, "{long:?}");
    let billed = long[0]["duration"].as_f64().unwrap();
    assert!(
        (billed - cut_ms[0] / 1000.0).abs() <= 1.0,
        "{billed} vs {cut_ms:?}"
    );
    assert!(billed <= 5.0, "billed past its max_seconds: {billed}");
    assert!(of(broke).is_empty());

    // Balances are payments less the xDRs' costs.
    let clients = rpc(&served.addr, "clients.list", json!({}));
    for c in clients["return"]["rows"].as_array().unwrap() {
        let id = c["id"].as_i64().unwrap();
        let paid = match id {
            _ if id == broke => 0.0,
            _ if id == short => 0.5,
            _ => 10.0,
        };
        let spent: f64 = of(id)
            .iter()
            .map(|x| x["cost"].to_string().parse::<f64>().unwrap())
            .sum();
        let balance: f64 = c["balance"].to_string().parse().unwrap();
        assert!(
            (balance - (paid - spent)).abs() < 1e-9,
            "client {id}: balance {balance}, paid {paid}, spent {spent}"
        );
    }
    // Ten short calls fit well under a minute.
    assert!(took < Duration::from_secs(60), "{took:?}");
    drop(kamailio);
    let (_, status) = served.stop();
    assert!(status.success());
}

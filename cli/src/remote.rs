//! The CLI beside a running server (docs/server.md, "The CLI beside a running server"):
//! `call`, `import-rates`, `import-cdrs` and `rerate` on a SQLite file that a running
//! `tollgate serve` owns go through that server's `/jsonrpc/` instead of failing with
//! `store.in_use`.
//!
//! - `tollgate serve` writes `<db>.server` (owner-only, 0600): its URL and a random secret.
//!   The CLI finds it, checks the server answers `/healthz`, and sends the secret in
//!   [`tollgate_server::LOCAL_SECRET_HEADER`]: requests without credentials then run as the
//!   local operator, exactly as on an open database. A stale file (nothing answers there)
//!   is ignored: the CLI opens the database directly.
//! - `--server URL` forces a server; then the CLI logs in as a user (`--login`, the password
//!   from `--password-file` or `TOLLGATE_PASSWORD`, else a prompt; or an API token from
//!   `TOLLGATE_TOKEN`), never as the local operator.

use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The flags every command that may go through a server takes.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServerFlags {
    /// Go through the `tollgate serve` at this URL (e.g. http://127.0.0.1:8080) as a user,
    /// instead of opening the database. The password comes from --password-file, else
    /// TOLLGATE_PASSWORD, else a prompt; TOLLGATE_TOKEN (an API token) replaces the login.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The user to log in as with --server (default: TOLLGATE_LOGIN, else admin).
    #[arg(long, requires = "server")]
    pub login: Option<String>,
    /// Read the --server user's password from this file (first line).
    #[arg(long, requires = "server")]
    pub password_file: Option<PathBuf>,
}

/// The address file of a database: `<db>.server`.
pub fn address_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".server");
    PathBuf::from(s)
}

/// What `tollgate serve` records beside its database.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Address {
    url: String,
    secret: String,
    pid: u32,
}

/// The address file a running server wrote; removed by [`Recorded::remove`] on clean
/// shutdown.
pub struct Recorded {
    path: PathBuf,
    text: String,
}

/// A fresh local operator's secret: 256 random bits as hex.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write `<db>.server` for a server listening on `addr` (plain HTTP) with `secret`, in a
/// file only its owner can read, replaced atomically (a stale one left by a crash is
/// overwritten).
pub fn record(db: &Path, addr: std::net::SocketAddr, secret: &str) -> Result<Recorded, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // A server on every address is reached on loopback.
    let host = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let address = Address {
        url: format!("http://{host}:{}", addr.port()),
        secret: secret.to_string(),
        pid: std::process::id(),
    };
    let text = serde_json::to_string(&address).map_err(|e| e.to_string())?;
    let path = address_path(db);
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(Recorded { path, text })
}

impl Recorded {
    /// Remove the address file, if it is still this server's.
    pub fn remove(self) {
        if std::fs::read_to_string(&self.path).is_ok_and(|t| t == self.text) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn getrandom(buf: &mut [u8]) -> Result<(), String> {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))
}

/// How the CLI proves who it is to a server.
enum Auth {
    /// The secret of the address file: the local operator.
    Local(String),
    /// A session opened by `auth.login`, closed when the command ends.
    Session(String),
    /// An API token (`Authorization: Bearer`).
    Bearer(String),
}

/// A server the command goes through.
pub struct Remote {
    agent: ureq::Agent,
    url: String,
    auth: Auth,
}

/// Why a call through the server failed before it had an envelope: the message for
/// standard error (exit 2).
pub type Failure = String;

/// A refusal in an envelope: (error code, message), printed as the direct command prints a
/// `tollgate::Error`.
pub type Refusal = (String, String);

/// What `rates.import` answered and the parser's messages.
pub type DeckAnswer = (Value, Vec<String>);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        // The server bounds each request (server/src/limits.rs: request_ms_max); a little
        // more here so that its own answer arrives first.
        .timeout_global(Some(Duration::from_millis(
            tollgate_server::limits::request_ms_max + 10_000,
        )))
        .build()
        .into()
}

/// The server to go through for `db`, or `None` to open the database directly: `--server`
/// when given (a login), else the server named by `<db>.server` when one answers there.
pub fn target(db: &Path, flags: &ServerFlags) -> Result<Option<Remote>, String> {
    if let Some(url) = &flags.server {
        return Remote::login(url, flags).map(Some);
    }
    let Ok(text) = std::fs::read_to_string(address_path(db)) else {
        return Ok(None);
    };
    let Ok(address) = serde_json::from_str::<Address>(&text) else {
        return Ok(None);
    };
    let remote = Remote {
        agent: agent(),
        url: address.url.trim_end_matches('/').to_string(),
        auth: Auth::Local(address.secret),
    };
    // The secret goes only to a Tollgate server that answers: a dead server's port may have
    // been taken by another program, and a stale file must not break the CLI.
    if remote.healthy() {
        Ok(Some(remote))
    } else {
        Ok(None)
    }
}

fn password(flags: &ServerFlags) -> Result<String, String> {
    if let Some(f) = &flags.password_file {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    if let Ok(p) = std::env::var("TOLLGATE_PASSWORD") {
        return Ok(p);
    }
    rpassword::prompt_password("Password: ").map_err(|e| format!("cannot read password: {e}"))
}

impl Remote {
    fn login(url: &str, flags: &ServerFlags) -> Result<Remote, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("--server {url}: an http:// or https:// URL"));
        }
        let mut remote = Remote {
            agent: agent(),
            url: url.trim_end_matches('/').to_string(),
            auth: Auth::Bearer(String::new()),
        };
        if let Ok(token) = std::env::var("TOLLGATE_TOKEN") {
            remote.auth = Auth::Bearer(token);
            return Ok(remote);
        }
        let login = flags
            .login
            .clone()
            .or_else(|| std::env::var("TOLLGATE_LOGIN").ok())
            .unwrap_or_else(|| "admin".to_string());
        let password = password(flags)?;
        let env = remote.send(
            tollgate::wire::LOGIN_METHOD,
            json!({"login": login, "password": password}),
        )?;
        match env["session_id"].as_str() {
            Some(sid) if env["code"] == true => {
                remote.auth = Auth::Session(sid.to_string());
                Ok(remote)
            }
            _ => {
                let (code, message) = first_error(&env);
                Err(format!(
                    "{}: login as '{login}' refused: {message} ({code})",
                    remote.url
                ))
            }
        }
    }

    /// Does a Tollgate server answer `/healthz` here?
    fn healthy(&self) -> bool {
        let Ok(mut r) = self.agent.get(format!("{}/healthz", self.url)).call() else {
            return false;
        };
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        r.status().is_success() && body["status"] == "ok"
    }

    /// Call `method` with `params` (an object) through the server: the envelope, as JSON,
    /// exactly as the engine would answer an open database.
    pub fn call(&self, method: &str, mut params: Value) -> Result<Value, Failure> {
        if let Auth::Session(sid) = &self.auth {
            if !tollgate::wire::has_credentials(method, &params) {
                params[tollgate::wire::SID_KEY] = Value::String(sid.clone());
            }
        }
        self.send(method, params)
    }

    fn send(&self, method: &str, params: Value) -> Result<Value, Failure> {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        if body.len() > tollgate_server::limits::body_bytes_max {
            return Err(format!(
                "the request is {} bytes; the server takes at most {} in one request",
                body.len(),
                tollgate_server::limits::body_bytes_max
            ));
        }
        let mut req = self
            .agent
            .post(format!("{}/jsonrpc/", self.url))
            .header("Content-Type", "application/json");
        match &self.auth {
            Auth::Local(secret) => req = req.header(tollgate_server::LOCAL_SECRET_HEADER, secret),
            Auth::Bearer(token) if !token.is_empty() => {
                req = req.header("Authorization", format!("Bearer {token}"))
            }
            _ => {}
        }
        let mut reply = req
            .send(body.as_str())
            .map_err(|e| format!("cannot reach the server at {}: {e}", self.url))?;
        let status = reply.status().as_u16();
        let text = reply
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .map_err(|e| format!("{}: HTTP {status}: {e}", self.url))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: HTTP {status}, not a JSON-RPC answer: {e}", self.url))?;
        if let Some(result) = v.get("result") {
            return Ok(result.clone());
        }
        let error = &v["error"];
        if error["code"] == tollgate::api::jsonrpc::METHOD_NOT_FOUND {
            // The envelope the engine gives an open database for an unknown method.
            let mut env = tollgate::Envelope::default();
            env.push_error(&tollgate::Error::UnknownMethod(tollgate::error::echoed(
                method,
            )));
            return Ok(env.to_json());
        }
        let code = error["data"]["code"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("JSON-RPC {}", error["code"]));
        Err(format!(
            "{}: {} ({code})",
            self.url,
            error["message"].as_str().unwrap_or("refused")
        ))
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Auth::Session(sid) = &self.auth {
            let _ = self.send("auth.logout", json!({ tollgate::wire::SID_KEY: sid }));
        }
    }
}

/// The first error of a failed envelope: (code, message).
pub fn first_error(env: &Value) -> Refusal {
    let e = &env["errors"][0];
    (
        e["code"]
            .as_str()
            .unwrap_or("api.malformed_request")
            .to_string(),
        e["message"].as_str().unwrap_or("refused").to_string(),
    )
}

/// Is this error code a refusal of the input (exit 1) rather than the engine's own failure
/// (exit 2)? As `refused` in main.rs, by the code's kind.
pub fn refused_code(code: &str) -> bool {
    tollgate::ErrorCode::from_str_code(code)
        .is_some_and(|c| c.kind() != tollgate::error::ErrorKind::Server)
}

/// `rates.import` of a whole deck in one request (all or nothing, as on an open database).
/// `Ok(Ok((answer, messages)))`, `Ok(Err((code, message)))` for a refused deck.
pub fn import_rates(
    remote: &Remote,
    table: i64,
    deck: &mut dyn Read,
    opts: &tollgate::ImportOptions,
) -> Result<Result<DeckAnswer, Refusal>, Failure> {
    // One request: the deck is imported in one transaction, so it cannot be split.
    let max = tollgate_server::limits::body_bytes_max as u64;
    let mut bytes = Vec::new();
    deck.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the deck: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "the deck is larger than one request to the server ({max} bytes): stop the \
             server and import on the database, or split the deck"
        ));
    }
    let csv = String::from_utf8(bytes).map_err(|_| "the deck is not UTF-8 text".to_string())?;
    let mut params = deck_params(opts);
    params["id_rate_tables"] = json!(table);
    params["csv"] = Value::String(csv);
    let env = remote.call("rates.import", params)?;
    if env["code"] == true {
        let messages = env["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Ok((env["return"].clone(), messages)))
    } else {
        Ok(Err(first_error(&env)))
    }
}

/// The params of `rates.import` for the options the CLI parsed from its flags, in the
/// method's own spellings (the CLI accepts a few more, e.g. `dd/mm/yyyy`).
fn deck_params(o: &tollgate::ImportOptions) -> Value {
    use tollgate::rating::DateFormat;
    use tollgate::ImportMode;
    let mut p = json!({
        "mode": match o.mode {
            ImportMode::Update => "update",
            ImportMode::Replace => "replace",
            ImportMode::Add => "add",
        },
        "date_format": match o.date_format {
            DateFormat::Iso => "YYYY-MM-DD",
            DateFormat::DayMonthYear => "DD/MM/YYYY",
            DateFormat::MonthDayYear => "MM/DD/YYYY",
        },
    });
    if let Some(t) = o.effective_from {
        p["effective_from"] = tollgate::clock::format_dt(t).into();
    }
    match o.separator {
        Some(b',') => p["separator"] = ",".into(),
        Some(b';') => p["separator"] = ";".into(),
        Some(b'\t') => p["separator"] = "tab".into(),
        _ => {}
    }
    if !o.columns.is_empty() {
        let map: serde_json::Map<String, Value> = o
            .columns
            .iter()
            .map(|(field, header)| (field.clone(), Value::from(header.as_str())))
            .collect();
        p["columns"] = Value::Object(map);
    }
    p
}

/// Raw CSV bytes of one request to `xdrs.import`. JSON escapes at most six bytes for one, so
/// a chunk stays well inside the server's body limit (4 MiB).
pub const CDR_CHUNK_BYTES: usize = 512 * 1024;

/// `xdrs.import` of a CDR file in chunks of whole CSV records (each at most
/// [`CDR_CHUNK_BYTES`], the tollgate format's header repeated in each), the line numbers of
/// the server's answers mapped back to the file's. Each call is idempotent on its call id,
/// so a chunk sent again adds nothing. `Err((code, message))`: the file was refused as a
/// whole (the tollgate format's header).
pub fn import_cdrs(
    remote: &Remote,
    input: &mut dyn Read,
    params: &Value,
    tollgate_format: bool,
    dry_run: bool,
) -> Result<Result<tollgate::CdrReport, Refusal>, Failure> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut total = tollgate::CdrReport::default();
    let mut refused: Vec<(u64, String, String)> = Vec::new();
    let mut header: Vec<u8> = Vec::new();
    let mut chunk = Chunk::default();
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    let mut sent_any = false;
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| format!("cannot read the file: {e}"))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let bytes = write_record(&record)?;
        if first && tollgate_format {
            first = false;
            header = bytes;
            continue;
        }
        first = false;
        if std::str::from_utf8(&bytes).is_err() || bytes.len() > CDR_CHUNK_BYTES {
            // Refused here, as the server's reader would (the request must be UTF-8 JSON).
            let why = if bytes.len() > CDR_CHUNK_BYTES {
                "the line is too long"
            } else {
                "invalid UTF-8"
            };
            let e = tollgate::Error::from(tollgate::error::ValidationError::invalid(
                "csv",
                format!("line {line}: {why}"),
            ));
            total.lines += 1;
            total.refused_count += 1;
            refused.push((line, e.code().as_str().to_string(), e.to_string()));
            continue;
        }
        if chunk.text.len() + bytes.len() > CDR_CHUNK_BYTES && !chunk.lines.is_empty() {
            if let Err(e) = send_chunk(remote, params, &header, &chunk, dry_run, &mut total)? {
                return Ok(Err(e));
            }
            sent_any = true;
            chunk = Chunk::default();
        }
        chunk.push(line, &bytes);
    }
    if !chunk.lines.is_empty() || !sent_any {
        if let Err(e) = send_chunk(remote, params, &header, &chunk, dry_run, &mut total)? {
            return Ok(Err(e));
        }
    }
    refused.append(&mut total.refused);
    refused.sort_by_key(|r| r.0);
    refused.truncate(tollgate::api::REFUSED_LISTED_MAX);
    total.refused = refused;
    Ok(Ok(total))
}

/// Records of one request, with the file line each starts on.
#[derive(Default)]
struct Chunk {
    text: Vec<u8>,
    /// (line in the chunk's text without the header, line in the file).
    lines: Vec<(u64, u64)>,
    /// Lines in `text` so far.
    newlines: u64,
}

impl Chunk {
    fn push(&mut self, file_line: u64, bytes: &[u8]) {
        self.lines.push((self.newlines + 1, file_line));
        self.newlines += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        self.text.extend_from_slice(bytes);
    }

    fn file_line(&self, chunk_line: u64, header_lines: u64) -> u64 {
        let at = chunk_line.saturating_sub(header_lines);
        match self.lines.binary_search_by_key(&at, |l| l.0) {
            Ok(i) => self.lines[i].1,
            Err(0) => chunk_line,
            Err(i) => self.lines[i - 1].1 + (at - self.lines[i - 1].0),
        }
    }
}

/// One record as CSV text ending in a newline.
fn write_record(record: &csv::ByteRecord) -> Result<Vec<u8>, Failure> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_byte_record(record)
        .map_err(|e| format!("cannot copy a line: {e}"))?;
    w.into_inner()
        .map_err(|e| format!("cannot copy a line: {e}"))
}

fn send_chunk(
    remote: &Remote,
    params: &Value,
    header: &[u8],
    chunk: &Chunk,
    dry_run: bool,
    total: &mut tollgate::CdrReport,
) -> Result<Result<(), Refusal>, Failure> {
    let mut text = header.to_vec();
    text.extend_from_slice(&chunk.text);
    let text = String::from_utf8(text).map_err(|_| "a line is not UTF-8".to_string())?;
    let mut params = params.clone();
    params["csv"] = Value::String(text);
    if dry_run {
        params["dry_run"] = json!(true);
    }
    let env = remote.call("xdrs.import", params)?;
    if env["code"] != true {
        return Ok(Err(first_error(&env)));
    }
    let r = &env["return"];
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    total.lines += n("lines");
    total.imported += n("imported");
    total.duplicates += n("duplicates");
    total.skipped += n("skipped");
    total.refused_count += n("refused_count");
    let header_lines = header.iter().filter(|b| **b == b'\n').count() as u64;
    for item in r["refused"].as_array().into_iter().flatten() {
        let line = chunk.file_line(item["line"].as_u64().unwrap_or(0), header_lines);
        total.refused.push((
            line,
            item["code"].as_str().unwrap_or_default().to_string(),
            item["error"].as_str().unwrap_or_default().to_string(),
        ));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_lines_map_back_to_the_file() {
        let mut c = Chunk::default();
        c.push(10, b"a,b\n");
        c.push(11, b"\"multi\nline\",x\n");
        c.push(13, b"c,d\n");
        // Without a header: chunk lines 1, 2 and 4 start the records.
        assert_eq!(c.file_line(1, 0), 10);
        assert_eq!(c.file_line(2, 0), 11);
        assert_eq!(c.file_line(4, 0), 13);
        // With one header line, every record is one line further down.
        assert_eq!(c.file_line(2, 1), 10);
        assert_eq!(c.file_line(5, 1), 13);
    }

    #[test]
    fn the_address_file_is_beside_the_database() {
        assert_eq!(
            address_path(Path::new("/var/lib/billing.db")),
            PathBuf::from("/var/lib/billing.db.server")
        );
    }
}

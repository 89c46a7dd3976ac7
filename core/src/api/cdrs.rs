//! `xdrs.import`: calls recorded by a softswitch (Asterisk `Master.csv`, FreeSWITCH
//! `mod_cdr_csv`, Tollgate's calls CSV), rated and charged as unreserved settles — the path
//! `core.settle` without a reservation takes — so each call's unique id is its idempotency
//! key (importing a file again adds nothing), its ledger entry, xDR and audit row are the
//! settle's own, and a call id seen with another duration is `idempotency.conflict` on its
//! line. A refused line never stops the others unless `all_or_nothing` is set.

use super::{ArgDef, Args, Ctx, Inner, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::auth::Principal;
use crate::charging::{SettleAuthor, SettleRequest};
use crate::error::{ChargeError, Error, Result, ValidationError};
use crate::limits;
use crate::model::FieldKind;
use crate::rating::cdr::{Cdr, CdrFormat, CdrOptions, CdrReader, Line, Zone, CDR_FORMATS};
use crate::store::{self, TxKind};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::io::Read;

/// Refused lines listed in an answer (all are counted).
pub const REFUSED_LISTED_MAX: usize = 1000;

/// Settles in flight at once: enough for group commit to share one fsync among them.
const WORKERS: usize = 16;

/// How to import a CDR file.
#[derive(Debug, Clone, Copy)]
pub struct CdrImport {
    /// How to read it.
    pub read: CdrOptions,
    /// Check every line (parse, account, rate, call id) and charge nothing.
    pub dry_run: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrReport {
    /// Lines read (calls, skipped and refused).
    pub lines: u64,
    /// Calls charged.
    pub imported: u64,
    /// Calls charged before (same call id and duration): nothing charged again.
    pub duplicates: u64,
    /// Unanswered calls (no answer time or 0 billable seconds): nothing charged.
    pub skipped: u64,
    /// Refused lines, counted.
    pub refused_count: u64,
    /// The first [`REFUSED_LISTED_MAX`] refused lines by line: (line, error code, message).
    pub refused: Vec<(u64, String, String)>,
}

impl CdrReport {
    fn refuse(&mut self, line: u64, e: &Error) {
        self.refused_count += 1;
        if self.refused.len() < REFUSED_LISTED_MAX {
            self.refused
                .push((line, e.code().as_str().to_string(), e.to_string()));
        }
    }

    /// The answer of `xdrs.import`.
    pub fn to_json(&self) -> Value {
        json!({
            "lines": self.lines,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "refused_count": self.refused_count,
            "refused": self.refused.iter().map(|(line, code, message)| json!({
                "line": line, "code": code, "error": message,
            })).collect::<Vec<_>>(),
        })
    }
}

fn request(c: &Cdr) -> SettleRequest {
    let (account, auth_type) = match &c.account {
        Some(a) => (a.clone(), None),
        None => (c.source.clone(), Some("ani".to_string())),
    };
    SettleRequest {
        reservation: None,
        call_id: c.call_id.clone(),
        duration: c.duration,
        account: Some(account),
        auth_type,
        destination: Some(c.destination.clone()),
        source: (!c.source.is_empty()).then(|| c.source.clone()),
        connect_time: Some(c.connect_time),
    }
}

/// A subtree-limited caller may charge only its own clients' calls.
fn check_scope(ctx: &Ctx<'_>, req: &SettleRequest) -> Result<()> {
    if crate::auth::permit::is_operator(ctx.principal) {
        return Ok(());
    }
    super::charging::check_account_scope(
        ctx,
        req.account.as_deref().unwrap_or_default(),
        req.auth_type.as_deref(),
    )
}

/// Would this call be charged? Everything a settle checks before writing: the account, a
/// rate at its connect time, and an earlier call with its id but another duration.
fn check_call(ctx: &Ctx<'_>, req: &SettleRequest) -> Result<bool> {
    check_scope(ctx, req)?;
    let rate = crate::charging::rate_file::RateRequest {
        account: req.account.as_deref().unwrap_or_default(),
        auth_type: req.auth_type.as_deref(),
        destination: req.destination.as_deref().unwrap_or_default(),
        connect_time: req.connect_time.unwrap_or(ctx.now),
        duration: req.duration,
    };
    crate::charging::rate_file::rate(&ctx.inner.charging, &rate, ctx.now)?;
    let hash = crate::ledger::request_hash(&[&req.call_id, &req.duration.to_string()]);
    let found = store::run(ctx.inner.store.as_ref(), TxKind::Read, |tx| {
        tx.xdrs_by_call_id(&req.call_id, None, ctx.principal.scope())
    })?;
    match found.first() {
        None => Ok(true),
        Some((_, h)) if *h == hash => Ok(false),
        Some(_) => Err(ChargeError::IdempotencyConflict(format!(
            "call_id {:?} was settled with different content",
            req.call_id
        ))
        .into()),
    }
}

/// Import `input`: every line is read, checked and (unless `dry_run`) charged; the lines a
/// settle refuses are reported, the others charged. Memory is bounded by the workers'
/// queue, not the file.
pub(crate) fn import(ctx: &Ctx<'_>, input: &mut dyn Read, opts: &CdrImport) -> Result<CdrReport> {
    let mut reader = CdrReader::new(input, opts.read);
    if let Some(e) = reader.fault() {
        return Err(e);
    }
    let report = Mutex::new(CdrReport::default());
    let author = SettleAuthor {
        id_users: ctx.principal.user_id(),
        login: ctx.principal.login().to_string(),
        id_sessions: ctx.principal.session_row(),
    };
    // Checks run on this thread (they need the call's context); the settles on workers, so
    // group commit writes many of them per fsync.
    let (inner, now, scope) = (ctx.inner, ctx.now, ctx.principal.scope());
    let settle_one = |line: u64, req: SettleRequest| {
        let outcome = inner
            .charging
            .settle(inner.store.as_ref(), &req, now, scope, &author)
            .map(|s| s.replayed);
        let mut r = report.lock();
        match outcome {
            Ok(true) => r.duplicates += 1,
            Ok(false) => r.imported += 1,
            Err(e) => r.refuse(line, &e),
        }
    };
    let (send, receive) = std::sync::mpsc::sync_channel::<(u64, SettleRequest)>(WORKERS * 64);
    let receive = Mutex::new(receive);
    std::thread::scope(|s| {
        if !opts.dry_run {
            for _ in 0..WORKERS {
                s.spawn(|| loop {
                    let next = receive.lock().recv();
                    let Ok((line, req)) = next else { break };
                    settle_one(line, req);
                });
            }
        }
        while let Some((line, parsed)) = reader.next_line() {
            report.lock().lines += 1;
            let cdr = match parsed {
                Line::Call(cdr) => cdr,
                Line::Skipped => {
                    report.lock().skipped += 1;
                    continue;
                }
                Line::Refused(e) => {
                    report.lock().refuse(line, &e);
                    continue;
                }
            };
            let req = request(&cdr);
            if opts.dry_run {
                let outcome = check_call(ctx, &req);
                let mut r = report.lock();
                match outcome {
                    Ok(true) => r.imported += 1,
                    Ok(false) => r.duplicates += 1,
                    Err(e) => r.refuse(line, &e),
                }
                continue;
            }
            if let Err(e) = check_scope(ctx, &req) {
                report.lock().refuse(line, &e);
                continue;
            }
            if send.send((line, req)).is_err() {
                break;
            }
        }
        drop(send);
    });
    let mut report = report.into_inner();
    report.refused.sort_by_key(|r| r.0);
    Ok(report)
}

/// The options of `xdrs.import` (and the CLI's `import-cdrs`).
pub fn cdr_options(
    format: &str,
    timezone: Option<&str>,
    loguniqueid: Option<bool>,
) -> Result<CdrOptions> {
    let format = CdrFormat::parse(format).ok_or_else(|| {
        ValidationError::invalid("format", format!("one of {}", CDR_FORMATS.join(", ")))
    })?;
    let zone = match timezone {
        Some(t) => Zone::parse(t)?,
        None => Zone::Utc,
    };
    Ok(CdrOptions {
        format,
        zone,
        loguniqueid,
    })
}

/// `xdrs.import` from a reader, as `principal` (the CLI's `import-cdrs`, `Engine::import_cdrs`).
pub(crate) fn import_reader(
    inner: &Inner,
    principal: &Principal,
    input: &mut dyn Read,
    opts: &CdrImport,
) -> Result<CdrReport> {
    crate::auth::permit::require(
        principal,
        crate::auth::rbac::Permission::new("xdrs", Verb::Billing),
    )?;
    let ctx = Ctx::new(inner, principal, inner.clock.now(), "xdrs.import");
    import(&ctx, input, opts)
}

fn import_method(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value> {
    let text = args.text("csv").unwrap_or_default();
    let read = cdr_options(
        args.text("format").unwrap_or_default(),
        args.text("timezone"),
        args.bool("loguniqueid"),
    )?;
    // A dry run checks every line and charges nothing: the CLI's `--all-or-nothing` checks
    // every chunk of a large file this way before importing any.
    if args.bool("dry_run") == Some(true) {
        let check = import(
            ctx,
            &mut text.as_bytes(),
            &CdrImport {
                read,
                dry_run: true,
            },
        )?;
        return Ok(check.to_json());
    }
    if args.bool("all_or_nothing") == Some(true) {
        let check = import(
            ctx,
            &mut text.as_bytes(),
            &CdrImport {
                read,
                dry_run: true,
            },
        )?;
        if check.refused_count > 0 {
            let mut v = check.to_json();
            v["imported"] = json!(0);
            v["duplicates"] = json!(0);
            ctx.messages
                .push("all_or_nothing: some lines were refused, so nothing was imported".into());
            return Ok(v);
        }
    }
    let report = import(
        ctx,
        &mut text.as_bytes(),
        &CdrImport {
            read,
            dry_run: false,
        },
    )?;
    Ok(report.to_json())
}

pub(super) fn register(r: &mut Registry) {
    let args = vec![
        ArgDef::field("format", FieldKind::Enum(CDR_FORMATS)).required(),
        ArgDef::field(
            "csv",
            FieldKind::Text {
                max: limits::request_size_bytes_max,
            },
        )
        .required(),
        ArgDef::field(
            "timezone",
            FieldKind::Text {
                max: limits::name_length_max,
            },
        ),
        ArgDef::field("loguniqueid", FieldKind::Bool),
        ArgDef::field("all_or_nothing", FieldKind::Bool),
        ArgDef::field("dry_run", FieldKind::Bool),
    ];
    r.add(MethodDef::new_direct(
        "xdrs",
        "import",
        Verb::Billing,
        args,
        Box::new(import_method),
    ));
}

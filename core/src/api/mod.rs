//! The Management API: one registry of methods (name, aliases, permission, argument schema,
//! handler) and one dispatcher that serves Rust, C, Python and HTTP callers alike.

mod accounts;
mod audit;
mod auth;
mod cdrs;
pub(crate) mod charging;
mod clients;
mod companies;
pub mod crud;
mod currencies;
mod custom_fields;
mod envelope;
mod invoice_pdf;
pub(crate) mod invoices;
pub mod jsonrpc;
mod packages;
mod provisioning;
mod rates;
mod reports;
mod rerate;
mod roles;
mod taxes;
mod transactions;
mod user_tokens;
mod users;
mod xdrs;

pub use crate::model::args::{self, ArgDef, ArgKind, ArgValue, Args};
use crate::model::catalog::{Change, MethodEvents, Object};

/// Everything a call needs: the engine's services and the registry of methods.
pub(crate) struct Inner {
    pub(crate) services: crate::services::Services,
    pub(crate) registry: Registry,
}

impl std::ops::Deref for Inner {
    type Target = crate::services::Services;

    fn deref(&self) -> &crate::services::Services {
        &self.services
    }
}
pub(crate) use cdrs::import_reader as import_cdrs_reader;
pub use cdrs::{cdr_options, CdrImport, CdrReport, REFUSED_LISTED_MAX};
pub use envelope::{ApiError, Envelope};
pub(crate) use rates::import_reader;
pub use rates::{ImportMode, ImportOptions};

use crate::auth::rbac::{Permission, Verb};
use crate::auth::Principal;
use crate::clock;
use crate::error::{Error, Result};
use crate::store::{self, AuditRow, StoreTx, TxKind};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// A method body: runs inside the call's transaction.
pub type Handler =
    Box<dyn Fn(&mut Ctx<'_>, &mut dyn StoreTx, &Args) -> Result<Value> + Send + Sync>;

/// A method body that manages its own transactions (see [`MethodDef::direct`]).
pub type DirectHandler = Box<dyn Fn(&mut Ctx<'_>, &Args) -> Result<Value> + Send + Sync>;

/// A method body that answers with a file streamed to `out` (see [`MethodDef::file`]).
pub type FileHandler =
    Box<dyn Fn(&mut Ctx<'_>, &Args, &mut dyn std::io::Write) -> Result<FileMeta> + Send + Sync>;

/// What a file method wrote: how to name and label it (an HTTP server sends these as
/// `Content-Disposition` and `Content-Type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Suggested file name, e.g. `xdrs-2026-01-15.csv`.
    pub name: String,
    /// MIME type, e.g. `text/csv`.
    pub content_type: String,
    /// The session a password login in params opened (send it as `SID` next time).
    pub session_id: Option<String>,
}

/// What a method needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated principal (`auth.login`, `auth.logout`).
    Authenticated,
    /// This right.
    Permission(Permission),
}

/// One registered method.
pub struct MethodDef {
    /// `module.action`.
    pub name: String,
    /// Other names it answers to.
    pub aliases: Vec<String>,
    /// The right it needs.
    pub access: Access,
    /// Argument schema.
    pub args: Vec<ArgDef>,
    /// Legacy arguments accepted and ignored.
    pub ignored: &'static [&'static str],
    /// Does it change state (write transaction and audit row)?
    pub writes: bool,
    /// The catalog events it causes (its `before` stage and its `after` events), if any:
    /// the one place that says which method raises which event.
    pub events: Option<MethodEvents>,
    /// The body.
    pub body: Body,
}

/// How a method's body runs.
pub enum Body {
    /// Inside one dispatcher transaction (write or read, per `writes`), with the audit row
    /// and the in-memory refresh.
    Tx(Handler),
    /// Outside any dispatcher transaction, because it commits its own (the softswitch calls:
    /// `core.settle` writes through group commit, `core.authorize` never touches the
    /// database).
    Direct(DirectHandler),
    /// Streams a file to the caller's writer instead of returning JSON (`xdrs.download`,
    /// later invoices). It reads in short transactions of its own, so no lock is held while
    /// the writer blocks. Reached only through the file entry point (`Engine::call_file`);
    /// the JSON one answers `api.wrong_endpoint`.
    File(FileHandler),
}

impl std::fmt::Debug for MethodDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodDef")
            .field("name", &self.name)
            .field("access", &self.access)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

impl MethodDef {
    /// `module.action`, needing `verb` on `module`.
    pub fn new(
        module: &'static str,
        action: &str,
        verb: Verb,
        writes: bool,
        args: Vec<ArgDef>,
        handler: Handler,
    ) -> MethodDef {
        MethodDef::with_body(module, action, verb, writes, args, Body::Tx(handler))
    }

    fn with_body(
        module: &'static str,
        action: &str,
        verb: Verb,
        writes: bool,
        args: Vec<ArgDef>,
        body: Body,
    ) -> MethodDef {
        MethodDef {
            name: format!("{module}.{action}"),
            aliases: Vec::new(),
            access: Access::Permission(Permission::new(module, verb)),
            args,
            ignored: &[],
            writes,
            events: None,
            body,
        }
    }

    /// Declare the events the method causes.
    pub fn with_events(mut self, object: Object, change: Change, before: &'static str) -> Self {
        self.events = Some(MethodEvents {
            object,
            change,
            before,
        });
        self
    }

    /// The module part of the name.
    pub fn module(&self) -> &str {
        self.name.split('.').next().unwrap_or(&self.name)
    }
}

/// The later JeraSoft API's method names that mean what an existing method does, as
/// `(newer name, method)`: registered as aliases, so there is still one registry and one
/// handler (docs/management-api.md, "Newer method names").
pub const NEWER_NAMES: &[(&str, &str)] = &[
    ("clients.get", "clients.editForm"),
    ("clients.create", "clients.add"),
    ("clients.update", "clients.edit"),
    ("clients.search", "clients.list"),
    ("accounts.search", "accounts.list"),
    ("rates.search", "rates.list"),
    ("transactions.search", "transactions.list"),
    ("reports.xdrs", "xdrs.list"),
    ("clients_packages.assign", "clients.packagesAdd"),
];

/// Every method, by name and alias.
#[derive(Default)]
pub struct Registry {
    methods: Vec<Arc<MethodDef>>,
    by_name: HashMap<String, Arc<MethodDef>>,
    /// File entry points named like a JSON method (`/admin/reports/summary` is the CSV of
    /// `reports.summary`): the name, and the file method that answers it there.
    file_routes: HashMap<String, String>,
}

impl Registry {
    /// The full registry of this build.
    pub fn build() -> Registry {
        let mut r = Registry::default();
        auth::register(&mut r);
        companies::register(&mut r);
        clients::register(&mut r);
        accounts::register(&mut r);
        currencies::register(&mut r);
        custom_fields::register(&mut r);
        audit::register(&mut r);
        users::register(&mut r);
        user_tokens::register(&mut r);
        roles::register(&mut r);
        rates::register(&mut r);
        transactions::register(&mut r);
        packages::register(&mut r);
        charging::register(&mut r);
        xdrs::register(&mut r);
        cdrs::register(&mut r);
        rerate::register(&mut r);
        provisioning::register(&mut r);
        taxes::register(&mut r);
        invoices::register(&mut r);
        reports::register(&mut r);
        r
    }

    /// On the file entry points (`Engine::call_file`, `/admin/<module>/<action>`), `name`
    /// runs the file method `file_method` (a JSON method keeps `name` on the JSON ones).
    pub fn add_file_route(&mut self, name: &str, file_method: &str) {
        assert!(
            self.by_name.contains_key(file_method),
            "file route {name} to the unknown method {file_method}"
        );
        let prev = self
            .file_routes
            .insert(name.to_string(), file_method.to_string());
        assert!(prev.is_none(), "file route {name} registered twice");
    }

    /// The method a file entry point runs for `name`.
    pub fn get_file(&self, name: &str) -> Option<&Arc<MethodDef>> {
        match self.file_routes.get(name) {
            Some(file_method) => self.by_name.get(file_method),
            None => self.by_name.get(name),
        }
    }

    /// Add a method. Panics on a duplicate name: that is a programming error caught by tests.
    /// The method also answers to its names of the later JeraSoft API ([`NEWER_NAMES`]).
    pub fn add(&mut self, mut m: MethodDef) {
        for (newer, name) in NEWER_NAMES {
            if *name == m.name && !m.aliases.iter().any(|a| a == newer) {
                m.aliases.push(newer.to_string());
            }
        }
        let m = Arc::new(m);
        for n in std::iter::once(&m.name).chain(m.aliases.iter()) {
            let prev = self.by_name.insert(n.clone(), Arc::clone(&m));
            assert!(prev.is_none(), "method {n} registered twice");
        }
        self.methods.push(m);
    }

    /// Find a method by name or alias.
    pub fn get(&self, name: &str) -> Option<&Arc<MethodDef>> {
        self.by_name.get(name)
    }

    /// Every method, in registration order.
    pub fn methods(&self) -> &[Arc<MethodDef>] {
        &self.methods
    }
}

/// What a handler sees of its call.
pub struct Ctx<'a> {
    pub(crate) inner: &'a Inner,
    /// Who is calling.
    pub principal: &'a Principal,
    /// The call's time.
    pub now: DateTime<Utc>,
    /// The method name as registered.
    pub method: &'a str,
    touched: RefCell<Vec<(&'static str, i64)>>,
    /// Success or warning messages for the envelope.
    pub messages: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn new(
        inner: &'a Inner,
        principal: &'a Principal,
        now: DateTime<Utc>,
        method: &'a str,
    ) -> Self {
        Ctx {
            inner,
            principal,
            now,
            method,
            touched: RefCell::new(Vec::new()),
            messages: Vec::new(),
        }
    }

    /// The call's time as stored (`YYYY-MM-DD HH:MM:SS+00`).
    pub fn now_str(&self) -> String {
        clock::format_dt(self.now)
    }

    /// Record an object the call changed (goes into the audit row, and refreshes the
    /// engine's in-memory state of it after commit).
    pub fn touch(&self, module: &'static str, id: i64) {
        self.touched.borrow_mut().push((module, id));
    }
}

/// Credentials found in params.
pub(crate) enum Credentials {
    Password {
        login: String,
        password: String,
    },
    Sid(String),
    /// An access token (`AUTH`, the newer JeraSoft spelling).
    Token(String),
    None,
}

/// The credentials of a call, by the one rule in [`crate::wire::credentials`].
pub(crate) fn credentials(method: &str, params: &Map<String, Value>) -> Result<Credentials> {
    use crate::wire::Credentials as C;
    Ok(match crate::wire::credentials(method, params)? {
        C::Password { login, password } => Credentials::Password {
            login: login.to_string(),
            password: password.to_string(),
        },
        C::Sid(s) => Credentials::Sid(s.to_string()),
        C::Token(t) => Credentials::Token(t.to_string()),
        C::None => Credentials::None,
    })
}

/// Run one Management API call. `as_principal` skips authentication (trusted callers).
pub(crate) fn dispatch(
    inner: &Inner,
    as_principal: Option<Principal>,
    method: &str,
    params: &Value,
) -> Envelope {
    let mut env = Envelope::default();
    match dispatch_inner(inner, as_principal, method, params, &mut env) {
        Ok(ret) => {
            env.code = true;
            env.ret = ret;
        }
        Err(e) => env.push_error(&e),
    }
    env
}

/// A call that passed every check of the dispatcher: method found, caller authenticated,
/// permission held, arguments valid.
struct Admitted<'a> {
    def: &'a MethodDef,
    principal: Principal,
    args: Args,
}

/// The checks every call passes before its body runs, whichever entry point it came by
/// (`file` tells which): the same for JSON and file methods.
fn admit<'a>(
    inner: &'a Inner,
    as_principal: Option<Principal>,
    method: &str,
    params: &Value,
    env: &mut Envelope,
    file: bool,
) -> Result<Admitted<'a>> {
    let empty = Map::new();
    let params = match params {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err(Error::Malformed("params must be an object".into())),
    };
    let def = if file {
        inner.registry.get_file(method)
    } else {
        inner.registry.get(method)
    }
    .ok_or_else(|| Error::UnknownMethod(crate::error::echoed(method)))?;
    let principal = match as_principal {
        Some(p) => p,
        None => {
            let (p, sid) = match credentials(&def.name, params)? {
                Credentials::Sid(sid) => (
                    crate::auth::session::authenticate_sid(&inner.realm(), &sid)?,
                    Some(sid),
                ),
                Credentials::Password { login, password } => {
                    let (p, sid) = crate::auth::session::login(&inner.realm(), &login, &password)?;
                    (p, Some(sid))
                }
                Credentials::Token(t) => (
                    crate::auth::session::authenticate_token(&inner.realm(), &t)?,
                    None,
                ),
                Credentials::None => return Err(crate::error::AuthError::Required.into()),
            };
            env.session_id = sid;
            p
        }
    };
    if let Access::Permission(p) = def.access {
        crate::auth::permit::require(&principal, p)?;
    }
    let args = args::check(&def.args, def.ignored, params)?;
    // Last, so that every entry point checks credentials, rights and arguments the same way.
    match (matches!(def.body, Body::File(_)), file) {
        (true, false) => {
            return Err(Error::WrongEndpoint(format!(
                "{} returns a file; use the file endpoint (Engine::call_file, /admin/{})",
                def.name,
                def.name.replacen('.', "/", 1)
            )))
        }
        (false, true) => {
            return Err(Error::WrongEndpoint(format!(
                "{} does not return a file; use the JSON entry point",
                def.name
            )))
        }
        _ => {}
    }
    Ok(Admitted {
        def,
        principal,
        args,
    })
}

fn dispatch_inner(
    inner: &Inner,
    as_principal: Option<Principal>,
    method: &str,
    params: &Value,
    env: &mut Envelope,
) -> Result<Value> {
    let Admitted {
        def,
        principal,
        args,
    } = admit(inner, as_principal, method, params, env, false)?;
    let now = inner.clock.now();
    let (value, messages) = match &def.body {
        Body::Tx(handler) if def.writes => {
            // `before` handlers run first, with no lock held; a refusal opens no transaction.
            let (args, before_logs) = crate::events::before::run(
                &inner.hub(),
                &principal,
                def.events.as_ref(),
                (&def.args, def.ignored),
                args,
                now,
            )?;
            let spec = def.events.as_ref();
            run_body(inner, &principal, &def.name, true, now, |ctx, tx| {
                use crate::outbox;
                let snap = spec.map(|s| outbox::snapshot(tx, s, &args)).transpose()?;
                let value = handler(ctx, tx, &args)?;
                if let (Some(s), Some(snap)) = (spec, snap) {
                    outbox::after_method(tx, s, &args, &value, snap, &ctx.now_str())?;
                }
                for log in &before_logs {
                    tx.insert(&crate::model::HANDLER_LOGS, log)?;
                }
                Ok(value)
            })?
        }
        Body::Tx(handler) => run_body(inner, &principal, &def.name, def.writes, now, |ctx, tx| {
            handler(ctx, tx, &args)
        })?,
        Body::Direct(direct) => {
            let mut ctx = Ctx::new(inner, &principal, now, &def.name);
            let value = direct(&mut ctx, &args)?;
            (value, ctx.messages)
        }
        Body::File(_) => return Err(Error::Internal(format!("{} is a file method", def.name))),
    };
    env.messages = ignored_messages(def, params).chain(messages).collect();
    Ok(value)
}

/// Vendor fields accepted but not acted on are named, once per call: no silent drop.
fn ignored_messages(def: &MethodDef, params: &Value) -> impl Iterator<Item = String> {
    params
        .as_object()
        .map(|p| args::ignored_fields(def.ignored, p))
        .unwrap_or_default()
        .into_iter()
        .map(|n| args::ignored_message(&n))
}

/// `core.settle` calls of one JSON-RPC batch (consecutive ones): each admitted as
/// [`dispatch`] admits a call, then all charged together so that they share group commits
/// (`Charging::settle_many`). One envelope per call, in order, each what `dispatch` would
/// have answered; not atomic. `calls`: the principal to act as (see `dispatch`) and the
/// params.
pub(crate) fn dispatch_settles(
    inner: &Inner,
    calls: &[(Option<Principal>, Value)],
) -> Vec<Envelope> {
    let now = inner.clock.now();
    let mut envs: Vec<Envelope> = calls.iter().map(|_| Envelope::default()).collect();
    let mut queued = Vec::new();
    let mut items = Vec::new();
    for (i, (principal, params)) in calls.iter().enumerate() {
        let env = &mut envs[i];
        let item =
            admit(inner, principal.clone(), SETTLE_METHOD, params, env, false).and_then(|a| {
                let ctx = Ctx::new(inner, &a.principal, now, &a.def.name);
                charging::settle_item(&ctx, &a.args).map(|item| (item, a.def))
            });
        match item {
            Ok((item, def)) => {
                env.messages = ignored_messages(def, params).collect();
                queued.push(i);
                items.push(item);
            }
            Err(e) => env.push_error(&e),
        }
    }
    for (i, result) in queued
        .into_iter()
        .zip(charging::settle_items(inner, &items, now))
    {
        match result {
            Ok(ret) => {
                envs[i].code = true;
                envs[i].ret = ret;
            }
            Err(e) => {
                envs[i].messages.clear();
                envs[i].push_error(&e);
            }
        }
    }
    envs
}

/// The method [`dispatch_settles`] runs.
pub(crate) const SETTLE_METHOD: &str = "core.settle";

/// Run a method body in one store transaction: for writes, with its audit row, and the
/// engine's in-memory state refreshed after commit. Returns the value and the messages.
pub(crate) fn run_body(
    inner: &Inner,
    principal: &Principal,
    method: &str,
    writes: bool,
    now: DateTime<Utc>,
    body: impl FnOnce(&mut Ctx<'_>, &mut dyn StoreTx) -> Result<Value>,
) -> Result<(Value, Vec<String>)> {
    let kind = if writes { TxKind::Write } else { TxKind::Read };
    let body = RefCell::new(Some(body));
    let (value, messages, _) = store::run_then(
        inner.store.as_ref(),
        kind,
        |tx| {
            let mut ctx = Ctx::new(inner, principal, now, method);
            let body = body
                .borrow_mut()
                .take()
                .ok_or_else(|| Error::Internal("method body run twice".into()))?;
            let value = body(&mut ctx, tx)?;
            let mut handlers_changed = false;
            let mut auth_changed = false;
            let mut sessions_changed = false;
            let refresh = if writes {
                write_audit(&ctx, tx)?;
                // Read the fresh state of what changed while the transaction still holds it.
                let touched = ctx.touched.borrow();
                handlers_changed = touched.iter().any(|(m, _)| *m == "provisioning");
                // Who an API token runs as is cached: a change to users, roles or tokens
                // (a block, a role's rights, a revocation) must apply to the next call.
                auth_changed = touched
                    .iter()
                    .any(|(m, _)| matches!(*m, "users" | "roles" | "api_tokens"));
                // So are live sessions: the same changes, and a logout, end or change them.
                sessions_changed = auth_changed || touched.iter().any(|(m, _)| *m == "sessions");
                Some(inner.charging.prepare(tx, &touched)?)
            } else {
                None
            };
            Ok((
                value,
                ctx.messages,
                (
                    RefCell::new(refresh),
                    handlers_changed,
                    auth_changed,
                    sessions_changed,
                ),
            ))
        },
        |(_, _, (refresh, handlers_changed, auth_changed, sessions_changed))| {
            if let Some(r) = refresh.borrow_mut().take() {
                inner.charging.apply(r);
            }
            if *auth_changed {
                inner.tokens.api.invalidate();
            }
            if *sessions_changed {
                inner.tokens.sessions.invalidate();
            }
            if writes {
                if *handlers_changed {
                    inner.events.invalidate();
                }
                // The change may have written outbox events: let the worker look now.
                inner.events.signal.wake();
            }
        },
    )?;
    Ok((value, messages))
}

/// Run a file method: the same checks as [`dispatch`], then the body streams to `out`.
/// Nothing is written to `out` unless every check passed. A failure after the first bytes
/// (a storage error, the writer failing) is still an `Err`: the caller must discard what
/// it received (an HTTP server aborts the response).
pub(crate) fn dispatch_file(
    inner: &Inner,
    as_principal: Option<Principal>,
    method: &str,
    params: &Value,
    out: &mut dyn std::io::Write,
) -> std::result::Result<FileMeta, Box<Envelope>> {
    let mut env = Envelope::default();
    let run = |env: &mut Envelope| -> Result<FileMeta> {
        let Admitted {
            def,
            principal,
            args,
        } = admit(inner, as_principal, method, params, env, true)?;
        let Body::File(body) = &def.body else {
            return Err(Error::Internal(format!("{} has no file body", def.name)));
        };
        let mut ctx = Ctx::new(inner, &principal, inner.clock.now(), &def.name);
        let mut meta = body(&mut ctx, &args, out)?;
        meta.session_id = env.session_id.clone();
        Ok(meta)
    };
    match run(&mut env) {
        Ok(meta) => Ok(meta),
        Err(e) => {
            env.push_error(&e);
            Err(Box::new(env))
        }
    }
}

fn write_audit(ctx: &Ctx<'_>, tx: &mut dyn StoreTx) -> Result<()> {
    // A write call that changed nothing (an idempotent replay, archiving what is already
    // archived) leaves no audit row: the trail records changes.
    if ctx.touched.borrow().is_empty() {
        return Ok(());
    }
    let mut objects: Vec<Value> = Vec::new();
    for (m, id) in ctx.touched.borrow().iter() {
        let o = serde_json::json!({"module": m, "id": id});
        // An object touched twice by one call (added, then activated) is listed once.
        if !objects.contains(&o) {
            objects.push(o);
        }
    }
    let objects = Value::Array(objects).to_string();
    let dt = ctx.now_str();
    tx.audit(&AuditRow {
        dt: &dt,
        id_users: ctx.principal.user_id(),
        login: ctx.principal.login(),
        id_sessions: ctx.principal.session_row(),
        id_companies: ctx.principal.company(),
        method: ctx.method,
        objects: &objects,
        outcome: "ok",
        call_id: None,
    })
}

impl MethodDef {
    /// A method whose body runs outside the dispatcher's transaction (see [`MethodDef::direct`]).
    pub fn new_direct(
        module: &'static str,
        action: &str,
        verb: Verb,
        args: Vec<ArgDef>,
        body: DirectHandler,
    ) -> MethodDef {
        MethodDef::with_body(module, action, verb, false, args, Body::Direct(body))
    }

    /// A method that answers with a file streamed to the caller's writer (see
    /// [`MethodDef::file`]).
    pub fn new_file(
        module: &'static str,
        action: &str,
        verb: Verb,
        args: Vec<ArgDef>,
        body: FileHandler,
    ) -> MethodDef {
        MethodDef::with_body(module, action, verb, false, args, Body::File(body))
    }
}

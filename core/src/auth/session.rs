//! Session ids: `1-` + 26 characters of `[a-z0-9]` from the OS-seeded CSPRNG (about 134 bits),
//! stored only as a SHA-256 hash.
//!
//! A session id is checked from memory once it has been checked against the store
//! ([`Sessions`]): the cache holds what the store path read (the session's expiry and
//! last-seen time, the principal built from its user and role) and applies the same checks to
//! it, so its answers are the store's. It is emptied after every committed change that can
//! end a session or change its principal (users, roles, API tokens, sessions: the
//! dispatcher; a refresh token's use or replay; a login, which prunes the user's sessions),
//! so a logout, a revocation, a blocked or deleted user or a changed role applies to the next
//! call. The last-seen time is still written at most once per
//! `limits::session_touch_interval_seconds`, and the cache's copy of it is only ever what was
//! written: after a restart the store decides exactly as the cache did.

use super::token::{Claims, AUDIENCE, REALM};
use super::{Principal, UserPrincipal};
use crate::auth::rbac::Grants;
use crate::clock;
use crate::error::{AuthError, Error, Result};
use crate::limits;
use crate::store::{self, AuditRow, SessionRow, StoreTx, TxKind, UserAuth};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// What sessions and tokens need of an engine.
pub(crate) struct Realm<'a> {
    pub(crate) store: &'a dyn crate::store::Store,
    pub(crate) clock: &'a dyn crate::clock::Clock,
    pub(crate) config: &'a crate::config::EngineConfig,
    pub(crate) tokens: &'a super::token::Keys,
}

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Random characters after the `1-` prefix.
pub const SID_RANDOM_CHARS: usize = 26;

/// A new session id.
pub fn new_sid() -> String {
    let mut out = String::with_capacity(2 + SID_RANDOM_CHARS);
    out.push_str("1-");
    let mut filled = 0;
    while filled < SID_RANDOM_CHARS {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        for b in bytes {
            // Rejection sampling keeps every character equally likely: 252 = 7 * 36.
            if b < 252 && filled < SID_RANDOM_CHARS {
                out.push(char::from(ALPHABET[usize::from(b % 36)]));
                filled += 1;
            }
        }
    }
    out
}

/// Does `s` look like a session id? (Checked before any lookup.)
pub fn looks_like_sid(s: &str) -> bool {
    let Some((prefix, rest)) = s.split_once('-') else {
        return false;
    };
    prefix.len() == 1
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && rest.len() == SID_RANDOM_CHARS
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The stored form of a secret token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(super) fn principal_for(
    tx: &dyn StoreTx,
    user: &UserAuth,
    session_id: Option<i64>,
) -> Result<Principal> {
    let perms = tx
        .role_permissions(user.id_roles)?
        .unwrap_or_else(|| "{}".into());
    let grants = serde_json::from_str(&perms)
        .ok()
        .and_then(|v| Grants::from_json(&v))
        .ok_or_else(|| {
            Error::Internal(format!("role {} has unreadable permissions", user.id_roles))
        })?;
    Ok(Principal::User(UserPrincipal {
        id: user.id,
        login: user.login.clone(),
        session_id,
        company: user.id_companies,
        grants,
    }))
}

/// Check a stored session is alive at `now` and build its principal. Returns the session id
/// to touch, if its last-seen time is due for an update.
fn check_session(
    realm: &Realm<'_>,
    tx: &dyn StoreTx,
    s: &SessionRow,
    now: i64,
) -> Result<(Principal, Option<i64>)> {
    if s.revoked {
        return Err(AuthError::SessionInvalid.into());
    }
    if now >= s.expires_at || now - s.last_seen >= realm.config.session_idle_seconds {
        return Err(AuthError::SessionExpired.into());
    }
    let user = tx
        .user_by_id(s.id_users)?
        .ok_or(AuthError::SessionInvalid)?;
    if user.status != "active" {
        return Err(AuthError::SessionInvalid.into());
    }
    let touch = (now - s.last_seen >= limits::session_touch_interval_seconds).then_some(s.id);
    Ok((principal_for(tx, &user, Some(s.id))?, touch))
}

fn touch(realm: &Realm<'_>, touch: Option<i64>, now: i64) -> Result<()> {
    if let Some(id) = touch {
        store::run(realm.store, TxKind::Write, |tx| tx.touch_session(id, now))?;
    }
    Ok(())
}

/// A session as the cache keeps it: what the store path read and built.
struct Live {
    principal: Principal,
    session: i64,
    expires_at: i64,
    /// The last-seen time as stored: advanced only together with a write of it.
    last_seen: AtomicI64,
}

/// Live sessions by the SHA-256 of their id, checked without the store. See the module
/// documentation for what empties it.
#[derive(Default)]
pub struct Sessions {
    cache: RwLock<HashMap<[u8; 32], Arc<Live>>>,
    /// Bumped by every invalidation: a check that read the store before an invalidation
    /// does not put what it read into the emptied cache.
    generation: AtomicU64,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the cached hashes.
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// Forget every cached session: called after a committed change that can end a session
    /// or change who it runs as.
    pub(crate) fn invalidate(&self) {
        let mut cache = self.cache.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.clear();
    }

    /// Forget the cached sessions of one user (a login pruned some of them).
    fn forget_user(&self, id_users: i64) {
        let mut cache = self.cache.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.retain(|_, live| live.principal.user_id() != id_users);
    }

    fn get(&self, key: &[u8; 32]) -> Option<Arc<Live>> {
        self.cache.read().get(key).cloned()
    }

    fn forget(&self, key: &[u8; 32]) {
        self.cache.write().remove(key);
    }

    /// Keep what a check read at `generation`, unless an invalidation came since.
    fn keep(&self, key: [u8; 32], live: Live, generation: u64) {
        let mut cache = self.cache.write();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if cache.len() >= limits::session_cache_entries_max {
            // Bounded: a full cache starts over rather than grow.
            cache.clear();
        }
        cache.insert(key, Arc::new(live));
    }

    /// How many sessions are cached (for tests).
    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache.read().len()
    }
}

/// What a cached session answers at `now`: `None` when the store must decide (the cache
/// would say expired; the store's answer is the one given, and it may know better, e.g.
/// after a refresh touched the session).
fn check_cached(realm: &Realm<'_>, key: &[u8; 32], now: i64) -> Option<Result<Principal>> {
    let sessions = &realm.tokens.sessions;
    let live = sessions.get(key)?;
    let seen = live.last_seen.load(Ordering::Acquire);
    // The same checks as `check_session`; a revoked session or an inactive user is never
    // cached (their changes empty the cache).
    if now >= live.expires_at || now - seen >= realm.config.session_idle_seconds {
        sessions.forget(key);
        return None;
    }
    // One caller takes the touch that is due; the others go on with the time it wrote.
    let due = now - seen >= limits::session_touch_interval_seconds;
    if due
        && live
            .last_seen
            .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    {
        if let Err(e) = touch(realm, Some(live.session), now) {
            // The cached time was not written: the store decides next time.
            sessions.forget(key);
            return Some(Err(e));
        }
    }
    Some(Ok(live.principal.clone()))
}

/// Resolve a session id to its principal, enforcing revocation, idle timeout and absolute
/// lifetime. Touches the session at most once a minute. From memory once checked
/// ([`Sessions`]).
pub(crate) fn authenticate_sid(realm: &Realm<'_>, sid: &str) -> Result<Principal> {
    if !looks_like_sid(sid) {
        return Err(AuthError::SessionInvalid.into());
    }
    let key: [u8; 32] = Sha256::digest(sid.as_bytes()).into();
    let now = realm.clock.now().timestamp();
    if let Some(answer) = check_cached(realm, &key, now) {
        return answer;
    }
    let sessions = &realm.tokens.sessions;
    let generation = sessions.generation.load(Ordering::Acquire);
    let hash = hex::encode(key);
    let (principal, due, row) = store::run(realm.store, TxKind::Read, |tx| {
        let s = tx
            .session_by_hash(&hash)?
            .ok_or(AuthError::SessionInvalid)?;
        let (p, due) = check_session(realm, tx, &s, now)?;
        Ok((p, due, s))
    })?;
    touch(realm, due, now)?;
    let last_seen = if due.is_some() { now } else { row.last_seen };
    sessions.keep(
        key,
        Live {
            principal: principal.clone(),
            session: row.id,
            expires_at: row.expires_at,
            last_seen: AtomicI64::new(last_seen),
        },
        generation,
    );
    Ok(principal)
}

/// Resolve an access token to its principal: signature and claims first (offline checks),
/// then the session named by `jti` must still be alive (logout, expiry and revocation apply).
/// An API token (`tg_…`, [`super::api_token`]) is checked as one, from memory.
pub(crate) fn authenticate_token(realm: &Realm<'_>, token: &str) -> Result<Principal> {
    if super::api_token::looks_like_api_token(token) {
        return super::api_token::authenticate(realm, token);
    }
    let now = realm.clock.now().timestamp();
    let claims = realm.tokens.verify(token, now)?;
    let (principal, due) = store::run(realm.store, TxKind::Read, |tx| {
        let s = tx
            .session_by_jti(&claims.jti)?
            .ok_or_else(|| AuthError::TokenInvalid("session is not valid".into()))?;
        if s.id_users != claims.i_user {
            return Err(AuthError::TokenInvalid("session is not valid".into()).into());
        }
        check_session(realm, tx, &s, now).map_err(|e| match e {
            Error::Auth(AuthError::SessionExpired) => {
                AuthError::TokenInvalid("session expired".into()).into()
            }
            Error::Auth(AuthError::SessionInvalid) => {
                AuthError::TokenInvalid("session is not valid".into()).into()
            }
            other => other,
        })
    })?;
    touch(realm, due, now)?;
    Ok(principal)
}

/// Tokens handed out by `Session/login` and `Session/refresh_access_token`.
#[derive(Clone)]
pub struct Issued {
    /// The RS256 JWT.
    pub access_token: String,
    /// Single-use refresh token.
    pub refresh_token: String,
    /// Unix seconds at which the access token expires.
    pub expires_at: i64,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// 256 random bits as 64 hex characters.
fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

fn scopes(g: &Grants) -> String {
    let mut words = Vec::new();
    if let Some(m) = g.to_json().as_object() {
        for (module, verbs) in m {
            for v in verbs.as_array().into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    words.push(format!("{module}:{v}"));
                }
            }
        }
    }
    words.join(" ")
}

fn claims_for(p: &Principal, jti: &str, now: i64, exp: i64) -> Claims {
    let (i_user, login, grants, company) = match p {
        Principal::User(u) => (u.id, u.login.clone(), u.grants.clone(), u.company),
        Principal::System => (0, "system".to_string(), Grants::all(), 1),
    };
    let is_super = grants == Grants::all() && company == crate::model::OPERATOR_COMPANY;
    Claims {
        exp,
        iat: now,
        nbf: None,
        jti: jti.to_string(),
        i_user,
        login,
        realm: REALM.into(),
        aud: AUDIENCE.iter().map(|s| s.to_string()).collect(),
        scopes: scopes(&grants),
        is_super_user: u8::from(is_super),
    }
}

/// Check a login and password and open a session. The password hash is checked outside the
/// store lock; unknown logins do the same work as wrong passwords; consecutive failures lock
/// the login. Returns the principal and the new session id.
pub(crate) fn login(realm: &Realm<'_>, login: &str, password: &str) -> Result<(Principal, String)> {
    let (p, sid, _) = open_session(realm, login, password, false)?;
    Ok((p, sid))
}

/// [`login`], also issuing an access token and a refresh token (REST `Session/login`).
pub(crate) fn login_with_tokens(
    realm: &Realm<'_>,
    login: &str,
    password: &str,
) -> Result<(Principal, String, Issued)> {
    let (p, sid, issued) = open_session(realm, login, password, true)?;
    let issued = issued.ok_or_else(|| Error::Internal("no tokens issued".into()))?;
    Ok((p, sid, issued))
}

/// The user a login and password name, after the brute-force rules: an unknown login does
/// the same work as a wrong password; the attempt is numbered before the password is checked.
fn check_password(realm: &Realm<'_>, login: &str, password: &str, now_s: &str) -> Result<UserAuth> {
    let cfg = &realm.config;
    // A login that breaks the rule cannot exist: it is an unknown login, with the same work.
    let user = match super::normalize_login("login", login) {
        Err(_) => None,
        Ok(login) => store::run(realm.store, TxKind::Read, |tx| tx.user_by_login(&login))?,
    };
    let Some(user) = user else {
        super::password::burn()?;
        return Err(AuthError::Failed.into());
    };
    // The attempt is counted before the password is checked, in one statement: parallel
    // guesses each take a number, and only the first `login_failures_max` since the last
    // success are checked at all.
    let (attempt, locked) = store::run(realm.store, TxKind::Write, |tx| {
        tx.login_attempt(user.id, now_s)
    })?;
    if locked || attempt > cfg.login_failures_max {
        return Err(AuthError::Locked.into());
    }
    let ok = super::password::verify(password, &user.password_hash)?;
    if !ok || user.status != "active" {
        let now = realm.clock.now();
        let until = clock::format_dt(now + chrono::Duration::seconds(cfg.login_lock_seconds));
        store::run(realm.store, TxKind::Write, |tx| {
            tx.login_failed(user.id, attempt, cfg.login_failures_max, &until)
        })?;
        return Err(if attempt >= cfg.login_failures_max {
            AuthError::Locked
        } else {
            AuthError::Failed
        }
        .into());
    }
    Ok(user)
}

fn open_session(
    realm: &Realm<'_>,
    login: &str,
    password: &str,
    with_tokens: bool,
) -> Result<(Principal, String, Option<Issued>)> {
    let now_s = clock::format_dt(realm.clock.now());
    let user = check_password(realm, login, password, &now_s)?;
    start_session(realm, &user, with_tokens, true)
}

/// PortaBilling's `Session/login` with `{login, token}`: an API token of the user named by
/// `login` opens a session with access and refresh tokens, with no password hashing. A
/// token that does not belong to `login` is `auth.failed`, as a wrong password is; the
/// token's own refusals (revoked, blocked user, another realm) are `auth.token_invalid`.
pub(crate) fn login_with_api_token(
    realm: &Realm<'_>,
    login: &str,
    token: &str,
) -> Result<(Principal, String, Issued)> {
    let p = api_token_of(realm, login, token)?;
    let user = store::run(realm.store, TxKind::Read, |tx| tx.user_by_id(p.user_id()))?
        .ok_or(AuthError::Failed)?;
    let (p, sid, issued) = start_session(realm, &user, true, false)?;
    let issued = issued.ok_or_else(|| Error::Internal("no tokens issued".into()))?;
    Ok((p, sid, issued))
}

/// The principal of an API token that must belong to `login` (REST `auth_info` and
/// `Session/login` with `{login, token}`).
pub(crate) fn api_token_of(realm: &Realm<'_>, login: &str, token: &str) -> Result<Principal> {
    if !super::api_token::looks_like_api_token(token) {
        return Err(AuthError::TokenInvalid("not an API token".into()).into());
    }
    let p = super::api_token::authenticate(realm, token)?;
    let same = super::normalize_login("login", login).is_ok_and(|l| l == p.login());
    if !same {
        return Err(AuthError::Failed.into());
    }
    Ok(p)
}

/// Open a session for `user`, whose credentials were checked (`password`: by password, so
/// a success resets the failure counter and a lock that raced with it still holds).
fn start_session(
    realm: &Realm<'_>,
    user: &UserAuth,
    with_tokens: bool,
    password: bool,
) -> Result<(Principal, String, Option<Issued>)> {
    let now = realm.clock.now();
    let now_s = clock::format_dt(now);
    let cfg = &realm.config;
    let sid = new_sid();
    let hash = token_hash(&sid);
    let ts = now.timestamp();
    // A token session lives at least as long as its first access token.
    let lifetime = if with_tokens {
        cfg.session_lifetime_seconds
            .max(cfg.access_token_lifetime_seconds)
    } else {
        cfg.session_lifetime_seconds
    };
    let jti = random_hex(16);
    let refresh = random_hex(32);
    // Pruning may close sessions of this user that the cache holds: they are forgotten on
    // commit.
    let forget = |_: &(Principal, i64)| realm.tokens.sessions.forget_user(user.id);
    let (principal, expires_at) = store::run_then(
        realm.store,
        TxKind::Write,
        |tx| {
            // Failures that raced with this success and locked the login keep it locked.
            if password && !tx.login_succeeded(user.id, &now_s)? {
                return Err(AuthError::Locked.into());
            }
            // An API token's user was checked from memory: the status is read again here.
            if !password && user_status_now(tx, user.id)? != "active" {
                return Err(
                    AuthError::TokenInvalid("the API token's user is blocked".into()).into(),
                );
            }
            tx.prune_sessions(
                user.id,
                ts,
                cfg.session_idle_seconds,
                limits::sessions_per_user_max - 1,
            )?;
            let expires_at = ts.saturating_add(lifetime);
            let session_row = tx.insert_session(&hash, user.id, ts, expires_at)?;
            if with_tokens {
                tx.set_session_jti(session_row, &jti)?;
                tx.insert_refresh_token(session_row, &token_hash(&refresh), ts)?;
            }
            let objects =
                serde_json::json!([{"module": "sessions", "id": session_row}]).to_string();
            tx.audit(&AuditRow {
                dt: &now_s,
                id_users: user.id,
                login: &user.login,
                id_sessions: Some(session_row),
                id_companies: user.id_companies,
                method: "auth.login",
                objects: &objects,
                outcome: "ok",
                call_id: None,
            })?;
            Ok((principal_for(tx, user, Some(session_row))?, expires_at))
        },
        forget,
    )?;
    let issued = if with_tokens {
        let exp = ts
            .saturating_add(cfg.access_token_lifetime_seconds)
            .min(expires_at);
        let access_token = realm.tokens.sign(&claims_for(&principal, &jti, ts, exp))?;
        Some(Issued {
            access_token,
            refresh_token: refresh,
            expires_at: exp,
        })
    } else {
        None
    };
    Ok((principal, sid, issued))
}

fn user_status_now(tx: &dyn StoreTx, id: i64) -> Result<String> {
    Ok(tx.user_by_id(id)?.map(|u| u.status).unwrap_or_default())
}

enum Refreshed {
    Issued(Principal, String, i64, i64),
    Replayed,
}

/// Trade a refresh token for a new access token and a new refresh token. Each refresh token
/// works once; presenting a spent one revokes its whole session (RFC 9700 §4.14.2).
pub(crate) fn refresh(realm: &Realm<'_>, refresh_token: &str) -> Result<Issued> {
    let refuse = || AuthError::TokenInvalid("refresh failed".into());
    if refresh_token.is_empty() || refresh_token.len() > limits::refresh_token_length_max {
        return Err(refuse().into());
    }
    let now = realm.clock.now();
    let ts = now.timestamp();
    let old_hash = token_hash(refresh_token);
    let next = random_hex(32);
    let next_hash = token_hash(&next);
    // The session is revoked (a replay) or touched outside the cache: forgotten on commit.
    let forget = |_: &Refreshed| realm.tokens.sessions.invalidate();
    let outcome = store::run_then(
        realm.store,
        TxKind::Write,
        |tx| {
            let (rt_id, session_id, used) =
                tx.refresh_token_by_hash(&old_hash)?.ok_or_else(refuse)?;
            if used || !tx.spend_refresh_token(rt_id, ts)? {
                tx.revoke_session(session_id)?;
                tx.audit(&AuditRow {
                    dt: &clock::format_dt(now),
                    id_users: 0,
                    login: "system",
                    id_sessions: Some(session_id),
                    id_companies: crate::model::OPERATOR_COMPANY,
                    method: "auth.refresh_reuse_revoked",
                    objects: &serde_json::json!([{"module": "sessions", "id": session_id}])
                        .to_string(),
                    outcome: "revoked",
                    call_id: None,
                })?;
                // Commit the revocation, then refuse.
                return Ok(Refreshed::Replayed);
            }
            let (row, jti) = tx.session_by_id(session_id)?.ok_or_else(refuse)?;
            let jti = jti.ok_or_else(refuse)?;
            let (principal, _) = check_session(realm, tx, &row, ts).map_err(|_| refuse())?;
            tx.insert_refresh_token(session_id, &next_hash, ts)?;
            tx.touch_session(session_id, ts)?;
            Ok(Refreshed::Issued(principal, jti, row.expires_at, ts))
        },
        forget,
    )?;
    match outcome {
        Refreshed::Replayed => Err(refuse().into()),
        Refreshed::Issued(principal, jti, session_expires, ts) => {
            let exp = ts
                .saturating_add(realm.config.access_token_lifetime_seconds)
                .min(session_expires);
            let access_token = realm.tokens.sign(&claims_for(&principal, &jti, ts, exp))?;
            Ok(Issued {
                access_token,
                refresh_token: next,
                expires_at: exp,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn live(user: i64) -> Live {
        Live {
            principal: Principal::User(UserPrincipal {
                id: user,
                login: format!("u{user}"),
                session_id: Some(user),
                company: 1,
                grants: Grants::default(),
            }),
            session: user,
            expires_at: 100,
            last_seen: AtomicI64::new(0),
        }
    }

    #[test]
    fn a_check_that_raced_an_invalidation_keeps_nothing() {
        let s = Sessions::default();
        let generation = s.generation.load(Ordering::Acquire);
        s.keep([1; 32], live(1), generation);
        assert_eq!(s.cached(), 1);
        // Read before the invalidation, kept after it: dropped.
        let stale = s.generation.load(Ordering::Acquire);
        s.invalidate();
        s.keep([2; 32], live(2), stale);
        assert_eq!(s.cached(), 0);
        let now = s.generation.load(Ordering::Acquire);
        s.keep([2; 32], live(2), now);
        s.keep([3; 32], live(3), now);
        // A login's prune forgets its user's sessions only, and races like an invalidation.
        s.forget_user(2);
        assert_eq!(s.cached(), 1);
        assert!(s.get(&[3; 32]).is_some());
        s.keep([4; 32], live(4), now);
        assert_eq!(s.cached(), 1);
        assert!(!format!("{s:?}").contains('['));
    }

    #[test]
    fn sids_have_the_vendor_shape_and_do_not_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let s = new_sid();
            assert!(looks_like_sid(&s), "{s}");
            assert!(seen.insert(s));
        }
        assert!(looks_like_sid("1-dsglnqr4qnsdihr8djj6da7qr4"));
        assert!(!looks_like_sid("1-DSGLNQR4QNSDIHR8DJJ6DA7QR4"));
        assert!(!looks_like_sid("1-short"));
        assert_ne!(token_hash("a"), token_hash("b"));
    }
}

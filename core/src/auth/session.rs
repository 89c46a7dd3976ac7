//! Session ids: `1-` + 26 characters of `[a-z0-9]` from the OS-seeded CSPRNG (about 134 bits),
//! stored only as a SHA-256 hash.

use super::{Principal, UserPrincipal};
use crate::clock;
use crate::engine::Inner;
use crate::error::{AuthError, Error, Result};
use crate::limits;
use crate::rbac::Grants;
use crate::store::{self, AuditRow, StoreTx, TxKind, UserAuth};
use sha2::{Digest, Sha256};

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

fn principal_for(tx: &dyn StoreTx, user: &UserAuth, session_id: Option<i64>) -> Result<Principal> {
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

/// Resolve a session id to its principal, enforcing revocation, idle timeout and absolute
/// lifetime. Touches the session at most once a minute.
pub(crate) fn authenticate_sid(inner: &Inner, sid: &str) -> Result<Principal> {
    if !looks_like_sid(sid) {
        return Err(AuthError::SessionInvalid.into());
    }
    let hash = token_hash(sid);
    let now = inner.clock.now().timestamp();
    let cfg = &inner.config;
    let (principal, touch) = store::run(inner.store.as_ref(), TxKind::Read, |tx| {
        let s = tx
            .session_by_hash(&hash)?
            .ok_or(AuthError::SessionInvalid)?;
        if s.revoked {
            return Err(AuthError::SessionInvalid.into());
        }
        if now >= s.expires_at || now - s.last_seen >= cfg.session_idle_seconds {
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
    })?;
    if let Some(id) = touch {
        store::run(inner.store.as_ref(), TxKind::Write, |tx| {
            tx.touch_session(id, now)
        })?;
    }
    Ok(principal)
}

/// Check a login and password and open a session. The password hash is checked outside the
/// store lock; unknown logins do the same work as wrong passwords; consecutive failures lock
/// the login. Returns the principal and the new session id.
pub(crate) fn login(inner: &Inner, login: &str, password: &str) -> Result<(Principal, String)> {
    let now = inner.clock.now();
    let now_s = clock::format_dt(now);
    let cfg = &inner.config;
    let user = if login.len() > limits::login_length_max {
        None
    } else {
        store::run(inner.store.as_ref(), TxKind::Read, |tx| {
            tx.user_by_login(login)
        })?
    };
    let Some(user) = user else {
        super::password::burn();
        return Err(AuthError::Failed.into());
    };
    let locked = user
        .locked_until
        .as_deref()
        .is_some_and(|until| until > now_s.as_str());
    let ok = super::password::verify(password, &user.password_hash);
    if locked {
        return Err(AuthError::Locked.into());
    }
    if !ok || user.status != "active" {
        let until = clock::format_dt(now + chrono::Duration::seconds(cfg.login_lock_seconds));
        let failures = store::run(inner.store.as_ref(), TxKind::Write, |tx| {
            tx.login_failed(user.id, &now_s, cfg.login_failures_max, &until)
        })?;
        return Err(if failures >= cfg.login_failures_max {
            AuthError::Locked
        } else {
            AuthError::Failed
        }
        .into());
    }
    let sid = new_sid();
    let hash = token_hash(&sid);
    let ts = now.timestamp();
    let principal = store::run(inner.store.as_ref(), TxKind::Write, |tx| {
        tx.login_succeeded(user.id)?;
        tx.prune_sessions(
            user.id,
            ts,
            cfg.session_idle_seconds,
            limits::sessions_per_user_max - 1,
        )?;
        let session_row =
            tx.insert_session(&hash, user.id, ts, ts + cfg.session_lifetime_seconds)?;
        let objects = serde_json::json!([{"module": "sessions", "id": session_row}]).to_string();
        tx.audit(&AuditRow {
            dt: &now_s,
            id_users: user.id,
            login: &user.login,
            id_sessions: Some(session_row),
            id_companies: user.id_companies,
            method: "auth.login",
            objects: &objects,
            outcome: "ok",
        })?;
        principal_for(tx, &user, Some(session_row))
    })?;
    Ok((principal, sid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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

//! API tokens (PortaBilling's "login and API token", the later JeraSoft API's `AUTH`): long
//! lived secrets a user hands a program (a softswitch, a provisioning script) instead of a
//! password.
//!
//! A token is `tg_<realm>_` + 40 characters of `[a-z0-9]` from the CSPRNG (about 206 bits).
//! It is shown once, when it is made; the store keeps only its HMAC-SHA256 under a key of
//! the engine's own (a random secret of this strength needs no password hashing, and the key
//! makes a stolen database useless for checking guesses offline). A token runs as its user:
//! the user's role and company subtree, read when the token is checked, so a role change
//! applies at once.
//!
//! Checks run from memory: a verified token's principal is cached by its hash, so a switch
//! asking on every INVITE pays one HMAC and a map lookup, no Argon2 and no session. The cache
//! is emptied after every committed change to users, roles or API tokens
//! ([`ApiTokens::invalidate`], called by the dispatcher), so a revoked token or a blocked
//! user stops working with the next call.

use super::session::Realm;
use super::token::REALM;
use super::Principal;
use crate::error::{AuthError, Error, Result};
use crate::limits;
use crate::store::{self, TxKind};
use aws_lc_rs::hmac;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// What every API token starts with.
pub const PREFIX: &str = "tg_";
/// Random characters after `tg_<realm>_`.
pub const RANDOM_CHARS: usize = 40;
/// Characters of the random part kept as the token's hint (shown in lists).
pub const HINT_CHARS: usize = 6;
/// `meta` key holding the HMAC key (hex).
pub(crate) const META_HMAC_KEY: &str = "api_token_hmac_key";

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Does `s` look like an API token (rather than a signed access token)? Only the prefix is
/// looked at: anything with it is checked, and refused, as an API token.
pub fn looks_like_api_token(s: &str) -> bool {
    s.starts_with(PREFIX)
}

/// Does `s` have the shape of an API token (whatever its realm)?
pub fn well_formed(s: &str) -> bool {
    parse(s).is_ok()
}

/// A new token for `realm`, and its hint.
pub(crate) fn new_token(realm: &str) -> (String, String) {
    let mut random = String::with_capacity(RANDOM_CHARS);
    while random.len() < RANDOM_CHARS {
        let mut bytes = [0u8; 64];
        rand::fill(&mut bytes);
        for b in bytes {
            // Rejection sampling keeps every character equally likely: 252 = 7 * 36.
            if b < 252 && random.len() < RANDOM_CHARS {
                random.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    let hint = format!("{PREFIX}{realm}_{}", &random[..HINT_CHARS]);
    (format!("{PREFIX}{realm}_{random}"), hint)
}

/// The realm a token names, after checking its shape: `tg_<realm>_<40 × [a-z0-9]>`.
fn parse(token: &str) -> Result<&str> {
    let malformed = || Error::from(AuthError::TokenInvalid("malformed API token".into()));
    if token.len() > limits::api_token_length_max {
        return Err(malformed());
    }
    let rest = token.strip_prefix(PREFIX).ok_or_else(malformed)?;
    let (realm, random) = rest.rsplit_once('_').ok_or_else(malformed)?;
    let realm_ok = !realm.is_empty()
        && realm.len() <= limits::realm_length_max
        && realm.bytes().all(|b| b.is_ascii_lowercase());
    let random_ok = random.len() == RANDOM_CHARS
        && random
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(realm_ok && random_ok) {
        return Err(malformed());
    }
    Ok(realm)
}

/// A verified token, as the cache keeps it.
#[derive(Clone)]
struct Verified {
    principal: Principal,
}

/// The engine's API-token key and its cache of verified tokens.
pub struct ApiTokens {
    key: hmac::Key,
    cache: RwLock<HashMap<String, Verified>>,
    /// Bumped by every invalidation: a check that read the store before an invalidation
    /// does not put what it read into the emptied cache.
    generation: AtomicU64,
}

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key or the cached hashes.
        f.debug_struct("ApiTokens").finish_non_exhaustive()
    }
}

impl ApiTokens {
    /// Tokens hashed under `key`.
    pub(crate) fn new(key: &[u8]) -> ApiTokens {
        ApiTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// A fresh random key, as hex (stored once per database).
    pub(crate) fn new_key_hex() -> String {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        hex::encode(k)
    }

    /// The stored form of a token.
    pub(crate) fn hash(&self, token: &str) -> String {
        hex::encode(hmac::sign(&self.key, token.as_bytes()).as_ref())
    }

    /// Forget every verified token: called after a committed change to users, roles or API
    /// tokens.
    pub(crate) fn invalidate(&self) {
        let mut cache = self.cache.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.clear();
    }

    /// How many verified tokens are cached (for tests).
    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache.read().len()
    }
}

/// The principal an API token runs as. Refusals, each `auth.token_invalid` with its reason:
/// a malformed token, a token of another realm, an unknown or revoked one, one whose user is
/// blocked or gone.
pub(crate) fn authenticate(realm: &Realm<'_>, token: &str) -> Result<Principal> {
    let named = parse(token)?;
    if named != REALM {
        return Err(AuthError::TokenInvalid(format!(
            "the API token is for realm '{named}', not '{REALM}'"
        ))
        .into());
    }
    let tokens = &realm.tokens.api;
    let hash = tokens.hash(token);
    let generation = tokens.generation.load(Ordering::Acquire);
    if let Some(v) = tokens.cache.read().get(&hash) {
        return Ok(v.principal.clone());
    }
    let principal = store::run(realm.store, TxKind::Read, |tx| {
        let refuse = |why: &str| Error::from(AuthError::TokenInvalid(why.into()));
        let row = tx
            .api_token_by_hash(&hash)?
            .ok_or_else(|| refuse("unknown API token"))?;
        if row.revoked_at.is_some() {
            return Err(refuse("the API token was revoked"));
        }
        if row.realm != REALM {
            return Err(refuse("the API token is for another realm"));
        }
        let user = tx
            .user_by_id(row.id_users)?
            .ok_or_else(|| refuse("the API token's user no longer exists"))?;
        if user.status != "active" {
            return Err(refuse("the API token's user is blocked"));
        }
        super::session::principal_for(tx, &user, None)
    })?;
    let mut cache = tokens.cache.write();
    if tokens.generation.load(Ordering::Acquire) == generation {
        if cache.len() >= limits::api_token_cache_entries_max {
            // Bounded: a full cache starts over rather than grow.
            cache.clear();
        }
        cache.insert(
            hash,
            Verified {
                principal: principal.clone(),
            },
        );
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_their_shape_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_000 {
            let (t, hint) = new_token(REALM);
            assert_eq!(parse(&t).unwrap(), REALM);
            assert!(t.starts_with(&hint), "{t} {hint}");
            assert_eq!(t.len(), PREFIX.len() + REALM.len() + 1 + RANDOM_CHARS);
            assert!(seen.insert(t));
        }
        let (t, _) = new_token("customer");
        assert_eq!(parse(&t).unwrap(), "customer");
        for bad in [
            "",
            "tg_",
            "tg_admin_",
            "tg_admin_short",
            &format!("tg_admin_{}", "A".repeat(RANDOM_CHARS)),
            &format!("tg__{}", "a".repeat(RANDOM_CHARS)),
            &format!("xx_admin_{}", "a".repeat(RANDOM_CHARS)),
            &format!("tg_adm1n_{}", "a".repeat(RANDOM_CHARS)),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_are_keyed_and_invalidation_empties_the_cache() {
        let a = ApiTokens::new(b"key a");
        let b = ApiTokens::new(b"key b");
        assert_ne!(a.hash("tg_admin_x"), b.hash("tg_admin_x"));
        assert_eq!(a.hash("tg_admin_x"), a.hash("tg_admin_x"));
        assert_eq!(a.hash("t").len(), 64);
        a.cache.write().insert(
            "h".into(),
            Verified {
                principal: Principal::System,
            },
        );
        assert_eq!(a.cached(), 1);
        a.invalidate();
        assert_eq!(a.cached(), 0);
        assert_eq!(a.generation.load(Ordering::Acquire), 1);
        assert!(!format!("{a:?}").contains("key"));
    }
}

//! PortaBilling-style access tokens: RS256 JWTs signed with an RSA-2048 key the engine makes
//! once and keeps in its database (never returned by any API). Anyone holding the exported
//! public key (PEM or JWKS) can verify a token offline; the engine additionally refuses tokens
//! whose session was logged out, expired or revoked (it looks the session up by `jti`).
//!
//! Signing and verification go through `jsonwebtoken` with its `aws-lc-rs` backend; key
//! generation uses `aws-lc-rs` directly. The verifier accepts exactly one algorithm (RS256), so
//! `alg: none` and HS/RS key confusion are refused before any signature check. Time checks use
//! the engine's clock, not the system's, so tests can drive expiry.

use crate::error::{AuthError, Error, Result};
use crate::limits;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The audiences every token carries; the engine requires the first.
pub const AUDIENCE: [&str; 2] = ["portabilling-api", "tollgate-api"];
/// The realm of Management API users.
pub const REALM: &str = "admin";
/// `meta` key holding the private key (PKCS#8 PEM).
pub(crate) const META_PRIVATE_KEY: &str = "token_signing_key_pkcs8";

/// The claims of an access token (DESIGN §6, PortaBilling's `PortaToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Expiry, Unix seconds (exclusive).
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The session's public identifier (not a credential).
    pub jti: String,
    /// User id.
    pub i_user: i64,
    /// User login.
    pub login: String,
    /// `admin`.
    pub realm: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// The role's grants as space-separated `module:verb` words.
    pub scopes: String,
    /// 1 for an operator user holding every right, else 0.
    pub is_super_user: u8,
}

/// The engine's signing key and its public forms.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    public_pem: String,
    jwks: Value,
    /// The key API tokens are hashed under, and the cache of verified ones.
    pub(crate) api: super::api_token::ApiTokens,
    /// Sessions checked from memory ([`super::session::Sessions`]).
    pub(crate) sessions: super::session::Sessions,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Keys").field("kid", &self.kid).finish()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn internal(what: &str) -> Error {
    Error::Internal(format!("token key: {what}"))
}

/// Make a new RSA-2048 private key, as PKCS#8 PEM.
pub(crate) fn generate_private_pem() -> Result<String> {
    let kp = KeyPair::generate(KeySize::Rsa2048).map_err(|_| internal("generation failed"))?;
    let der = kp
        .as_der()
        .map_err(|_| internal("PKCS#8 encoding failed"))?;
    Ok(pem("PRIVATE KEY", der.as_ref()))
}

fn pem_body(pem_text: &str) -> Result<Vec<u8>> {
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| internal("stored key is not PEM"))
}

impl Keys {
    /// Load the keys from the stored private key.
    pub(crate) fn from_private_pem(private_pem: &str) -> Result<Keys> {
        let der = pem_body(private_pem)?;
        let kp = KeyPair::from_pkcs8(&der).map_err(|_| internal("stored key rejected"))?;
        let public = kp.public_key();
        let spki = public
            .as_der()
            .map_err(|_| internal("public key encoding failed"))?;
        let public_pem = pem("PUBLIC KEY", spki.as_ref());
        let kid = hex::encode(&Sha256::digest(spki.as_ref())[..8]);
        let n = public.modulus();
        let e = public.exponent();
        let jwks = json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": b64url(n.big_endian_without_leading_zero()),
            "e": b64url(e.big_endian_without_leading_zero()),
        }]});
        let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map_err(|_| internal("signing key rejected"))?;
        let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .map_err(|_| internal("verifying key rejected"))?;
        Ok(Keys {
            encoding,
            decoding,
            kid,
            public_pem,
            jwks,
            // A key of its own for the engine's life; `load_or_create` sets the stored one.
            api: super::api_token::ApiTokens::new(
                super::api_token::ApiTokens::new_key_hex().as_bytes(),
            ),
            sessions: super::session::Sessions::default(),
        })
    }

    /// The public key, SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The public key as a JSON Web Key Set.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The key id carried in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Sign claims into a compact JWT.
    pub(crate) fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("token signing failed: {e}")))
    }

    /// Verify a token's signature and claims at `now` (Unix seconds). The error never
    /// repeats the token.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let refuse = |why: &str| AuthError::TokenInvalid(why.to_string());
        if token.is_empty() || token.len() > limits::access_token_length_max {
            return Err(refuse("malformed"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| refuse("malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(refuse("algorithm not accepted"));
        }
        if header.typ.as_deref() != Some("JWT") {
            return Err(refuse("wrong token type"));
        }
        if header.kid.as_deref().is_some_and(|k| k != self.kid) {
            return Err(refuse("unknown key"));
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[AUDIENCE[0]]);
        v.set_required_spec_claims(&["exp", "aud"]);
        // Time is checked below against the engine's clock.
        v.validate_exp = false;
        v.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidAudience => refuse("wrong audience"),
                ErrorKind::InvalidSignature => refuse("bad signature"),
                ErrorKind::InvalidAlgorithm => refuse("algorithm not accepted"),
                _ => refuse("malformed"),
            }
        })?;
        let c = data.claims;
        let skew = limits::token_clock_skew_seconds;
        if now >= c.exp {
            return Err(refuse("expired"));
        }
        if c.nbf.is_some_and(|nbf| nbf > now + skew) || c.iat > now + skew {
            return Err(refuse("not valid yet"));
        }
        if c.realm != REALM {
            return Err(refuse("wrong realm"));
        }
        Ok(c)
    }
}

/// The engine's keys: loaded from the database, or made and stored on first use (a new
/// database, or one migrated from a version without tokens).
pub(crate) fn load_or_create(store: &dyn crate::store::Store) -> Result<Keys> {
    use crate::store::{self, TxKind};
    let stored = store::run(store, TxKind::Read, |tx| tx.meta(META_PRIVATE_KEY))?;
    let pem_text = match stored {
        Some(p) => p,
        None => {
            let fresh = generate_private_pem()?;
            store::run(store, TxKind::Write, |tx| {
                // Another opener may have stored one meanwhile: keep the first.
                match tx.meta(META_PRIVATE_KEY)? {
                    Some(p) => Ok(p),
                    None => {
                        tx.set_meta(META_PRIVATE_KEY, &fresh)?;
                        Ok(fresh.clone())
                    }
                }
            })?
        }
    };
    let mut keys = Keys::from_private_pem(&pem_text)?;
    keys.api = super::api_token::ApiTokens::new(
        load_or_create_meta(
            store,
            super::api_token::META_HMAC_KEY,
            super::api_token::ApiTokens::new_key_hex,
        )?
        .as_bytes(),
    );
    Ok(keys)
}

/// A stored secret, made and stored on first use (another opener's, if it stored one first).
fn load_or_create_meta(
    store: &dyn crate::store::Store,
    key: &str,
    make: impl Fn() -> String,
) -> Result<String> {
    use crate::store::{self, TxKind};
    if let Some(v) = store::run(store, TxKind::Read, |tx| tx.meta(key))? {
        return Ok(v);
    }
    let fresh = make();
    store::run(store, TxKind::Write, |tx| match tx.meta(key)? {
        Some(v) => Ok(v),
        None => {
            tx.set_meta(key, &fresh)?;
            Ok(fresh.clone())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            exp: now + 3600,
            iat: now,
            nbf: None,
            jti: "abc".into(),
            i_user: 7,
            login: "bob".into(),
            realm: REALM.into(),
            aud: AUDIENCE.iter().map(|s| s.to_string()).collect(),
            scopes: "clients:read".into(),
            is_super_user: 0,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let keys = Keys::from_private_pem(&generate_private_pem().unwrap()).unwrap();
        let now = 1_700_000_000;
        let t = keys.sign(&claims(now)).unwrap();
        assert_eq!(keys.verify(&t, now).unwrap(), claims(now));
        assert!(keys
            .public_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(keys.jwks()["keys"][0]["e"], "AQAB");
        // Expired at exp, not valid before nbf.
        assert!(keys.verify(&t, now + 3600).is_err());
        let mut c = claims(now);
        c.nbf = Some(now + 600);
        assert!(keys.verify(&keys.sign(&c).unwrap(), now).is_err());
        let mut c = claims(now);
        c.aud = vec!["someone-else".into()];
        assert!(keys.verify(&keys.sign(&c).unwrap(), now).is_err());
        let mut c = claims(now);
        c.realm = "account".into();
        assert!(keys.verify(&keys.sign(&c).unwrap(), now).is_err());
        // Another engine's key.
        let other = Keys::from_private_pem(&generate_private_pem().unwrap()).unwrap();
        assert!(keys
            .verify(&other.sign(&claims(now)).unwrap(), now)
            .is_err());
        // Debug output carries no key material.
        assert!(!format!("{keys:?}").contains("BEGIN"));
    }
}

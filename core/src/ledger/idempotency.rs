//! Idempotency: the one rule for every request that carries a key (a payment's
//! `idempotency_key`, a package fee's period key, a settle's call id). The first request with a
//! key is done; a repeat with the same content answers the first result and does nothing; a
//! repeat with other content is `idempotency.conflict`. Keys are looked up only inside their
//! owner (a client, a company), so another tenant's key is simply unknown.

use crate::error::{ChargeError, Result};

/// What a key's lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The key is new: do the request.
    New,
    /// A repeat of the request recorded as this row: answer it, do nothing.
    Replay(i64),
}

/// Decide a request from what its key found: `found` is the row recorded under the key and
/// the content hash it was recorded with; `hash` is this request's (`None`: the key alone
/// decides, as for fees a clock may charge again after a crash). `conflict` says what a
/// conflict's message says.
pub fn decide(
    found: Option<(i64, String)>,
    hash: Option<&str>,
    conflict: impl FnOnce() -> String,
) -> Result<Seen> {
    match (found, hash) {
        (None, _) => Ok(Seen::New),
        (Some((id, _)), None) => Ok(Seen::Replay(id)),
        (Some((id, first)), Some(h)) if first == h => Ok(Seen::Replay(id)),
        (Some(_), Some(_)) => Err(ChargeError::IdempotencyConflict(conflict()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_replay_or_conflict() {
        let c = || "key k taken".to_string();
        assert_eq!(decide(None, Some("h"), c).unwrap(), Seen::New);
        assert_eq!(
            decide(Some((7, "h".into())), Some("h"), c).unwrap(),
            Seen::Replay(7)
        );
        assert_eq!(
            decide(Some((7, "h".into())), None, c).unwrap(),
            Seen::Replay(7)
        );
        let e = decide(Some((7, "h".into())), Some("other"), c).unwrap_err();
        assert_eq!(e.code().as_str(), "idempotency.conflict");
        assert!(e.to_string().contains("key k taken"));
    }
}

//! Argon2id password hashing with OWASP parameters, constant-time checks, and the same work
//! for unknown logins as for wrong passwords.

use crate::error::{AuthError, Error, Result, ValidationError};
use crate::limits;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use parking_lot::{Condvar, Mutex};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// OWASP's floor for Argon2id: 19 MiB, 2 passes, 1 lane.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Passes.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Lanes.
pub const ARGON2_PARALLELISM: u32 = 1;

fn hasher() -> Result<Argon2<'static>> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .map_err(|e| Error::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Check a new password against the length rules.
pub fn check_new(field: &str, password: &str) -> Result<()> {
    if password.chars().count() < limits::password_length_min {
        return Err(ValidationError::invalid(
            field,
            format!(
                "must be at least {} characters",
                limits::password_length_min
            ),
        )
        .into());
    }
    if password.len() > limits::password_length_max {
        return Err(ValidationError::TooLong {
            field: field.into(),
            max: limits::password_length_max,
        }
        .into());
    }
    Ok(())
}

/// Hash a password to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash(password: &str) -> Result<String> {
    let h = hasher()?
        .hash_password(password.as_bytes())
        .map_err(|e| Error::Internal(format!("argon2 hash: {e}")))?;
    Ok(h.to_string())
}

/// The process-wide budget of password checks running at once: Argon2id is deliberately
/// expensive, so an anonymous flood of logins must queue for a few permits (and be refused
/// after a bounded wait) instead of taking every core and all memory.
struct Budget {
    running: Mutex<usize>,
    freed: Condvar,
}

static BUDGET: Budget = Budget {
    running: Mutex::new(0),
    freed: Condvar::new(),
};

/// A permit to run one password check; returned on drop.
struct Permit;

impl Permit {
    fn take() -> Result<Permit> {
        let deadline = Instant::now() + Duration::from_millis(limits::password_check_wait_ms_max);
        let mut running = BUDGET.running.lock();
        while *running >= limits::password_checks_concurrent_max {
            if BUDGET.freed.wait_until(&mut running, deadline).timed_out()
                && *running >= limits::password_checks_concurrent_max
            {
                return Err(AuthError::Busy.into());
            }
        }
        *running += 1;
        Ok(Permit)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut running = BUDGET.running.lock();
        *running = running.saturating_sub(1);
        BUDGET.freed.notify_one();
    }
}

/// Verify a password against a stored PHC string in constant time. `Err(auth.busy)` when no
/// permit of the check budget came free in time.
pub fn verify(password: &str, phc: &str) -> Result<bool> {
    let _permit = Permit::take()?;
    if password.len() > limits::password_length_max {
        // Still do the work so the answer takes the usual time.
        burn_unbudgeted();
        return Ok(false);
    }
    Ok(match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .map(|h| h.verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false),
        Err(_) => false,
    })
}

/// Spend the same work as a real verification (for unknown logins), within the budget.
pub fn burn() -> Result<()> {
    let _permit = Permit::take()?;
    burn_unbudgeted();
    Ok(())
}

fn burn_unbudgeted() {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("tollgate-dummy-password").unwrap_or_default());
    if let Ok(parsed) = PasswordHash::new(phc) {
        if let Ok(h) = hasher() {
            let _ = h.verify_password(b"not-the-password", &parsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_use_owasp_parameters() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", &h).unwrap());
        assert!(!verify("correct horsE", &h).unwrap());
        assert!(!verify("correct horse", "not a hash").unwrap());
        assert_ne!(hash("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new("password", "short").is_err());
        assert!(check_new("password", &"x".repeat(limits::password_length_max + 1)).is_err());
        assert!(check_new("password", "long enough").is_ok());
    }
}

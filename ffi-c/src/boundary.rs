//! The boundary: panics caught, pointers checked, failures recorded as the calling thread's
//! last error for the handle they concern.
//!
//! Every exported function that can fail runs its body through [`guard`]; the others (close,
//! free, getters) use [`catch`]. No panic crosses into C: a caught panic becomes
//! `TG_RESULT_PANIC`.

use crate::result::tg_result;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a call failed: its result code and a message for `tg_engine_last_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) result: tg_result,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(result: tg_result, message: impl Into<String>) -> Failure {
        Failure {
            result,
            message: message.into(),
        }
    }

    pub(crate) fn null(name: &str) -> Failure {
        Failure::new(
            tg_result::NullParameter,
            format!("'{name}' must not be NULL"),
        )
    }

    pub(crate) fn internal(message: impl Into<String>) -> Failure {
        Failure::new(tg_result::Internal, message)
    }
}

impl From<tollgate_core::Error> for Failure {
    fn from(e: tollgate_core::Error) -> Failure {
        Failure::new(tg_result::from_code(e.code()), e.to_string())
    }
}

/// Which last-error slot a failure belongs to: an engine's serial, or [`NO_HANDLE`].
pub(crate) type Slot = u64;

/// The slot of calls that have no (valid) engine: open, create, or a NULL engine argument.
pub(crate) const NO_HANDLE: Slot = 0;

/// Run an exported body: `Ok` is `TG_RESULT_OK`; a failure or a panic is recorded in the
/// calling thread's last error for the slot the body chose (it sets `slot` once it has a
/// valid engine) and its code returned.
pub(crate) fn guard(body: impl FnOnce(&mut Slot) -> Result<(), Failure>) -> tg_result {
    let mut slot = NO_HANDLE;
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&mut slot)));
    match outcome {
        Ok(Ok(())) => tg_result::Ok,
        Ok(Err(f)) => {
            last_error::set(slot, &f.message);
            f.result
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            last_error::set(slot, &format!("internal error (panic caught): {what}"));
            tg_result::Panic
        }
    }
}

/// Run a body that cannot report failure (close, free, getters); a panic yields `fallback`.
pub(crate) fn catch<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A required input reference.
///
/// # Safety
/// `p` is NULL or points to a valid, initialised `T` that outlives the call.
pub(crate) unsafe fn input<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's contract; NULL is refused here.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null(name))
}

/// A required output location (written only on success, by the caller of this helper).
pub(crate) fn output<T>(p: *mut T, name: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        Err(Failure::null(name))
    } else {
        Ok(p)
    }
}

/// A required NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the call.
pub(crate) unsafe fn text<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        Failure::new(
            tg_result::InvalidUtf8,
            format!("'{name}' is not valid UTF-8 (byte {})", e.valid_up_to()),
        )
    })
}

/// An optional NUL-terminated UTF-8 string: NULL is `None`.
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn optional_text<'a>(
    p: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: as this function's contract.
        unsafe { text(p, name) }.map(Some)
    }
}

/// A library-owned C string for the caller to free with `tg_string_free`.
pub(crate) fn owned_string(s: String) -> Result<*mut c_char, Failure> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| Failure::internal("output contains a NUL byte"))
}

/// Copy `s` and a terminating NUL into a fixed buffer of a result struct.
pub(crate) fn fill<const N: usize>(s: &str, field: &str) -> Result<[c_char; N], Failure> {
    let mut buf = Fixed::<N>::new();
    if buf.push(s.as_bytes()) {
        Ok(buf.bytes)
    } else {
        Err(Failure::internal(format!(
            "'{field}' ({}) does not fit its {N}-byte buffer",
            tollgate_core::error::echoed(s)
        )))
    }
}

/// Bytes and a terminating NUL in a fixed buffer; refuses what does not fit, and a NUL
/// inside (it would cut the text short in C).
struct Fixed<const N: usize> {
    bytes: [c_char; N],
    len: usize,
}

impl<const N: usize> Fixed<N> {
    fn new() -> Self {
        Fixed {
            bytes: [0; N],
            len: 0,
        }
    }

    #[must_use]
    fn push(&mut self, s: &[u8]) -> bool {
        if self.len + s.len() >= N || s.contains(&0) {
            return false;
        }
        for (dst, src) in self.bytes[self.len..].iter_mut().zip(s) {
            *dst = *src as c_char;
        }
        self.len += s.len();
        true
    }
}

/// `d` as its `Display` text (`-1.50`, `0.0400`, `0`: every digit of its scale kept) and a
/// terminating NUL, written straight from the mantissa: the hot path formats three amounts
/// per authorization, and `Decimal`'s `Display` through `fmt` was ~10 % of a
/// `tg_authorize` + `tg_release` pair. The tests check it against `Display`.
pub(crate) fn decimal<const N: usize>(
    d: tollgate_core::Decimal,
    field: &str,
) -> Result<[c_char; N], Failure> {
    let mut digits = itoa::Buffer::new();
    let m = d.mantissa().unsigned_abs();
    // u64 digits when the mantissa fits (every amount a call carries): u128 division is
    // several times slower.
    let digits = match u64::try_from(m) {
        Ok(0) => "",
        Ok(small) => digits.format(small),
        Err(_) => digits.format(m),
    }
    .as_bytes();
    let scale = d.scale() as usize;
    let mut buf = Fixed::<N>::new();
    let mut ok = !d.is_sign_negative() || buf.push(b"-");
    if scale == 0 {
        ok &= buf.push(if digits.is_empty() { b"0" } else { digits });
    } else {
        const ZEROS: &[u8; 28] = b"0000000000000000000000000000";
        let (whole, frac_zeros, frac) = if digits.len() > scale {
            (
                &digits[..digits.len() - scale],
                0,
                &digits[digits.len() - scale..],
            )
        } else {
            (&b"0"[..], scale - digits.len(), digits)
        };
        // A scale is at most 28, so the zeros always fit; if not, the text fails loudly.
        ok &= ZEROS.get(..frac_zeros).is_some_and(|zeros| {
            buf.push(whole) && buf.push(b".") && buf.push(zeros) && buf.push(frac)
        });
    }
    if ok {
        Ok(buf.bytes)
    } else {
        Err(Failure::internal(format!(
            "'{field}' ({d}) does not fit its {N}-byte buffer"
        )))
    }
}

/// Per-thread last error messages, one per engine handle (and one for calls without one).
///
/// Thread-local, so a failure on one thread never overwrites what another thread is about to
/// read, and the hot path takes no lock. Bounded: a thread that has used many handles keeps
/// only the most recent `SLOTS_MAX`.
pub(crate) mod last_error {
    use super::*;

    /// Handles whose last error one thread remembers.
    const SLOTS_MAX: usize = tollgate_core::limits::c_last_error_slots_max;

    thread_local! {
        static LAST: RefCell<Vec<(Slot, CString)>> = const { RefCell::new(Vec::new()) };
    }

    /// Record `message` as the last error of `slot` on this thread.
    pub(crate) fn set(slot: Slot, message: &str) {
        let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
        // During thread teardown the slot may be gone; the message is then dropped.
        let _ = LAST.try_with(|cell| {
            let Ok(mut v) = cell.try_borrow_mut() else {
                return;
            };
            if let Some(i) = v.iter().position(|(s, _)| *s == slot) {
                v.remove(i);
            } else if v.len() >= SLOTS_MAX {
                v.remove(0);
            }
            v.push((slot, c));
        });
    }

    /// The last error of `slot` on this thread, or "" when there is none. The pointer stays
    /// valid until this thread's next failure on the same slot (or its exit).
    pub(crate) fn get(slot: Slot) -> *const c_char {
        LAST.try_with(|cell| {
            cell.try_borrow()
                .ok()
                .and_then(|v| v.iter().find(|(s, _)| *s == slot).map(|(_, m)| m.as_ptr()))
        })
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(slot: Slot) -> String {
        // SAFETY: `get` returns a NUL-terminated string valid until the next failure here.
        unsafe { CStr::from_ptr(last_error::get(slot)) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_result_and_a_message() {
        let r = guard(|slot| {
            *slot = 77;
            panic!("boom {}", 1);
        });
        assert_eq!(r, tg_result::Panic);
        assert!(last(77).contains("boom 1"), "{}", last(77));
    }

    #[test]
    fn last_errors_are_per_slot_and_per_thread() {
        assert_eq!(last(1001), "");
        let r = guard(|slot| {
            *slot = 1001;
            Err(Failure::null("x"))
        });
        assert_eq!(r, tg_result::NullParameter);
        assert_eq!(last(1001), "'x' must not be NULL");
        assert_eq!(last(1002), "");
        std::thread::spawn(|| assert_eq!(last(1001), ""))
            .join()
            .unwrap();
        // A success does not clear it.
        assert_eq!(
            guard(|slot| {
                *slot = 1001;
                Ok(())
            }),
            tg_result::Ok
        );
        assert_eq!(last(1001), "'x' must not be NULL");
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_slots() {
        for slot in 5000..5000 + 40 {
            last_error::set(slot, &format!("e{slot}"));
        }
        assert_eq!(last(5000), "");
        assert_eq!(last(5039), "e5039");
        assert_eq!(last(5039 - 15), format!("e{}", 5039 - 15));
        assert_eq!(last(5039 - 16), "");
    }

    #[test]
    fn fill_refuses_what_does_not_fit() {
        let b: [c_char; 4] = fill("abc", "f").unwrap();
        assert_eq!(b, [97, 98, 99, 0]);
        assert!(fill::<4>("abcd", "f").is_err());
        assert!(fill::<8>("a\0b", "f").is_err());
        let d: [c_char; 8] = decimal(tollgate_core::Decimal::new(-12345, 2), "f").unwrap();
        assert_eq!(d, [45, 49, 50, 51, 46, 52, 53, 0]);
        assert!(decimal::<7>(tollgate_core::Decimal::new(-12345, 2), "f").is_err());
    }

    /// The text `decimal` writes is `Decimal`'s `Display`, byte for byte, for every sign,
    /// scale (0..=28) and size of mantissa, negative zero included; what does not fit is
    /// refused, never cut.
    #[test]
    fn decimal_text_is_display_text() {
        use tollgate_core::Decimal;
        fn text<const N: usize>(b: &[c_char; N]) -> String {
            let end = b.iter().position(|&c| c == 0).unwrap();
            b[..end].iter().map(|&c| c as u8 as char).collect()
        }
        let mut cases = vec![
            Decimal::ZERO,
            Decimal::new(0, 4),
            -Decimal::new(0, 2),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::new(1, 28),
            Decimal::new(-1, 28),
            Decimal::new(5, 1),
            Decimal::new(-12345, 2),
            Decimal::new(12345, 5),
            Decimal::new(12345, 6),
        ];
        // A deterministic spread of mantissas and scales (xorshift).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let lo = x as u32;
            let mid = (x >> 32) as u32;
            let hi = if x % 3 == 0 { (x >> 7) as u32 } else { 0 };
            let (lo, mid) = if x % 5 == 0 {
                (lo % 1000, 0)
            } else {
                (lo, mid)
            };
            let scale = (x % 29) as u32;
            cases.push(Decimal::from_parts(lo, mid, hi, x % 2 == 0, scale));
        }
        for d in cases {
            let want = d.to_string();
            let got: [c_char; 64] = decimal(d, "f").unwrap();
            assert_eq!(text(&got), want, "{d:?}");
            // A 16-byte buffer takes the text and its NUL exactly when they fit, never cut.
            match decimal::<16>(d, "f") {
                Ok(b) => assert_eq!(text(&b), want),
                Err(_) => assert!(want.len() >= 16, "{want} fits in 16 bytes"),
            }
        }
    }
}

//! Money: exact decimal amounts, parsed without ever passing through a float, with checked
//! arithmetic and rounding only where a rule names it.

use crate::error::{MoneyError, Result};
use crate::limits;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use std::str::FromStr;

pub use rust_decimal::Decimal as Amount;

/// How a computed amount is rounded to a precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// Half away from zero (0.125 -> 0.13, -0.125 -> -0.13). The default.
    #[default]
    HalfUp,
    /// Half to even, banker's rounding (0.125 -> 0.12).
    HalfEven,
    /// Toward positive infinity (any remainder rounds a cost up).
    Ceiling,
    /// Toward negative infinity.
    Floor,
}

impl Rounding {
    /// Every mode with its API name.
    pub const ALL: &'static [(&'static str, Rounding)] = &[
        ("half_up", Rounding::HalfUp),
        ("half_even", Rounding::HalfEven),
        ("ceiling", Rounding::Ceiling),
        ("floor", Rounding::Floor),
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, r)| *r == self)
            .map(|(n, _)| *n)
            .unwrap_or("half_up")
    }

    /// Parse an API name.
    pub fn parse(s: &str) -> Option<Rounding> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, r)| *r)
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Ceiling => RoundingStrategy::ToPositiveInfinity,
            Rounding::Floor => RoundingStrategy::ToNegativeInfinity,
        }
    }
}

/// Round `amount` to `dp` decimal places with `mode`.
pub fn round(amount: Decimal, dp: u32, mode: Rounding) -> Decimal {
    amount.round_dp_with_strategy(dp, mode.strategy())
}

/// Decimal text read exactly, before it becomes a `Decimal`: `±digits · 10^-scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exact {
    negative: bool,
    /// The digits, without leading zeros (empty for zero).
    digits: String,
    /// Decimal places: the written ones, or for an exponent spelling the exact shift with
    /// trailing zeros dropped (`1.50e1` is 15). Never negative.
    scale: u32,
}

impl Exact {
    /// Digits before the decimal point (0 below 1).
    fn integer_digits(&self) -> usize {
        self.digits.len().saturating_sub(self.scale as usize)
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The `Decimal`, when it fits (at most 28 places, a mantissa below 2^96).
    fn to_decimal(&self, field: &str) -> Result<Decimal, MoneyError> {
        if self.scale > MAX_SCALE {
            return Err(MoneyError::Invalid {
                field: field.to_string(),
                reason: format!("more than {MAX_SCALE} decimal places"),
            });
        }
        if self.digits.len() > 39 {
            return Err(MoneyError::Overflow);
        }
        let m: u128 = if self.digits.is_empty() {
            0
        } else {
            self.digits.parse().map_err(|_| MoneyError::Overflow)?
        };
        let m = i128::try_from(m).map_err(|_| MoneyError::Overflow)?;
        let m = if self.negative { -m } else { m };
        let d =
            Decimal::try_from_i128_with_scale(m, self.scale).map_err(|_| MoneyError::Overflow)?;
        // Keep the sign of a written "-0" as Decimal's own parser does.
        Ok(if self.negative && m == 0 { -d } else { d })
    }
}

/// Largest scale a `Decimal` holds.
const MAX_SCALE: u32 = 28;

/// Read decimal text exactly: `12`, `-0.5`, `+3.25`, `1e-3`, `1.5E+2`. The exponent is applied
/// to the digit string, never through a float or a rounding parser, so every spelling of one
/// value gives the same digits.
// Long: one pass over the characters of a number (sign, digits, point, exponent) with its checks.
fn parse_exact(field: &str, text: &str) -> Result<Exact, MoneyError> {
    let t = text.trim();
    let invalid = |reason: &str| MoneyError::Invalid {
        field: field.to_string(),
        reason: reason.to_string(),
    };
    if t.is_empty() {
        return Err(invalid("empty"));
    }
    if t.len() > limits::amount_text_length_max {
        return Err(invalid("too many digits"));
    }
    let (negative, body) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (number, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(invalid("not a decimal number"));
    }
    // The exponent, saturated far beyond any value a Decimal holds (the text is ≤ 64 bytes).
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (neg, digits) = match e.as_bytes().first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if digits.is_empty() || !all_digits(digits) {
                return Err(invalid("not a decimal number"));
            }
            let digits = digits.trim_start_matches('0');
            let v = if digits.is_empty() {
                0
            } else if digits.len() > 6 {
                1_000_000
            } else {
                digits.parse::<i64>().unwrap_or(1_000_000)
            };
            if neg {
                -v
            } else {
                v
            }
        }
    };
    let mut digits: String = int.chars().chain(frac.chars()).collect();
    // frac is at most 64 bytes and |exp| ≤ 10^6: no overflow.
    let mut scale = frac.len() as i64 - exp;
    let lead = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..lead);
    if digits.is_empty() {
        // Zero: a plain spelling keeps its places ("0.00"), an exponent one is normalized.
        let scale = if exponent.is_some() { 0 } else { scale };
        return Ok(Exact {
            negative,
            digits,
            scale: u32::try_from(scale.clamp(0, i64::from(MAX_SCALE))).unwrap_or(0),
        });
    }
    if exponent.is_some() {
        // Normalize exactly: drop trailing zeros of the fraction.
        while scale > 0 && digits.ends_with('0') {
            digits.pop();
            scale -= 1;
        }
    }
    if scale < 0 {
        // A positive exponent past the last digit: append zeros, unless the value is so large
        // that no Decimal holds it.
        let zeros = scale.unsigned_abs();
        if digits.len() as u64 + zeros > 40 {
            return Err(MoneyError::Overflow);
        }
        digits.push_str(&"0".repeat(zeros as usize));
        scale = 0;
    }
    // 0 ≤ scale ≤ 64 + 10^6 here; saturate anyway (more places than any field allows).
    let scale = u32::try_from(scale).unwrap_or(u32::MAX);
    Ok(Exact {
        negative,
        digits,
        scale,
    })
}

/// Parse an amount from decimal text exactly. Accepts `12`, `-0.5`, `1e-3`, `+3.25`.
/// A value that no `Decimal` holds is refused (`money.overflow`, or `money.invalid` beyond
/// 28 places); nothing is ever rounded.
pub fn parse_str(field: &str, text: &str) -> Result<Decimal, MoneyError> {
    parse_exact(field, text)?.to_decimal(field)
}

fn json_text<'a>(field: &str, value: &'a Value) -> Result<std::borrow::Cow<'a, str>, MoneyError> {
    match value {
        // With serde_json's arbitrary_precision the number keeps its source text.
        Value::Number(n) => Ok(std::borrow::Cow::Owned(n.to_string())),
        Value::String(s) => Ok(std::borrow::Cow::Borrowed(s)),
        _ => Err(MoneyError::Invalid {
            field: field.to_string(),
            reason: "expected a number or a decimal string".into(),
        }),
    }
}

/// Parse an amount from a JSON value (number or string), exactly.
pub fn parse_json(field: &str, value: &Value) -> Result<Decimal, MoneyError> {
    parse_str(field, &json_text(field, value)?)
}

/// Check that `amount` has at most `max_dp` decimal places (trailing zeros ignored).
pub fn check_scale(field: &str, amount: Decimal, max_dp: u32) -> Result<Decimal, MoneyError> {
    let n = amount.normalize();
    if n.scale() > max_dp {
        return Err(MoneyError::Precision {
            field: field.to_string(),
            max: max_dp,
        });
    }
    Ok(amount)
}

/// Parse a JSON amount: exactly, then the same checks whatever the spelling — at most
/// [`limits::amount_scale_max`] places (`money.precision`) and `|x| <
/// 10^`[`limits::amount_integer_digits_max`] (`money.out_of_range`).
pub fn parse_amount(field: &str, value: &Value) -> Result<Decimal, MoneyError> {
    let text = json_text(field, value)?;
    let exact = match parse_exact(field, &text) {
        // Too large for any Decimal: far out of range.
        Err(MoneyError::Overflow) => {
            return Err(out_of_range(field, limits::amount_integer_digits_max))
        }
        r => r?,
    };
    if exact.integer_digits() > limits::amount_integer_digits_max as usize {
        return Err(out_of_range(field, limits::amount_integer_digits_max));
    }
    if !exact.is_zero() {
        // Trailing zeros of a plain spelling do not count ("1.50" has 1 place of substance).
        let significant = exact.digits.trim_end_matches('0').len();
        let places = i64::from(exact.scale) - (exact.digits.len() - significant) as i64;
        if places > i64::from(limits::amount_scale_max) {
            return Err(MoneyError::Precision {
                field: field.to_string(),
                max: limits::amount_scale_max,
            });
        }
    }
    let d = exact.to_decimal(field)?;
    check_scale(field, d, limits::amount_scale_max)
}

fn out_of_range(field: &str, integer_digits: u32) -> MoneyError {
    MoneyError::OutOfRange {
        field: field.to_string(),
        reason: format!("the magnitude must be below 10^{integer_digits}"),
    }
}

/// `10^n` as a `Decimal` (`n ≤ 28`).
fn pow10_dec(n: u32) -> Decimal {
    Decimal::from_i128_with_scale(10i128.pow(n.min(MAX_SCALE)), 0)
}

/// Check `|x| < 10^integer_digits` (`money.out_of_range`, naming `field`).
pub fn check_magnitude(
    field: &str,
    x: Decimal,
    integer_digits: u32,
) -> Result<Decimal, MoneyError> {
    if x.abs() >= pow10_dec(integer_digits) {
        return Err(out_of_range(field, integer_digits));
    }
    Ok(x)
}

/// Check an amount or a balance against [`limits::amount_integer_digits_max`].
pub fn check_amount(field: &str, x: Decimal) -> Result<Decimal, MoneyError> {
    check_magnitude(field, x, limits::amount_integer_digits_max)
}

/// Check a rate per minute or a setup fee against [`limits::rate_integer_digits_max`] (its
/// places are checked against the currency's rates precision by the caller).
pub fn check_rate(field: &str, x: Decimal) -> Result<Decimal, MoneyError> {
    check_magnitude(field, x, limits::rate_integer_digits_max)
}

/// Check an exchange rate: `0 < r < 10^`[`limits::exchange_rate_integer_digits_max`], at most
/// [`limits::exchange_rate_scale_max`] places and [`limits::exchange_rate_digits_max`]
/// significant digits. Positivity is the caller's (`validation.out_of_range`).
pub fn check_exchange_rate(field: &str, r: Decimal) -> Result<Decimal, MoneyError> {
    check_magnitude(field, r, limits::exchange_rate_integer_digits_max)?;
    let n = r.normalize();
    if n.scale() > limits::exchange_rate_scale_max {
        return Err(MoneyError::Precision {
            field: field.to_string(),
            max: limits::exchange_rate_scale_max,
        });
    }
    let digits = n
        .mantissa()
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |l| l + 1);
    if digits > limits::exchange_rate_digits_max {
        return Err(MoneyError::OutOfRange {
            field: field.to_string(),
            reason: format!(
                "at most {} significant digits",
                limits::exchange_rate_digits_max
            ),
        });
    }
    Ok(r)
}

/// An amount as an exact JSON number.
pub fn to_json(amount: Decimal) -> Value {
    match serde_json::Number::from_str(&amount.to_string()) {
        Ok(n) => Value::Number(n),
        // Decimal's Display is always a valid JSON number; keep the text if that ever fails.
        Err(_) => Value::String(amount.to_string()),
    }
}

/// 2^96: mantissas of `Decimal` are below it.
const MANTISSA_LIMIT: i128 = 1 << 96;

/// `m · 10^-scale` as a `Decimal`, exactly: trailing zeros are dropped while the mantissa is
/// too wide; if it still does not fit the value has no exact `Decimal` (`money.overflow`).
fn exact_from_parts(mut m: i128, mut scale: u32) -> Result<Decimal, MoneyError> {
    while (m.unsigned_abs() >= MANTISSA_LIMIT as u128 || scale > MAX_SCALE)
        && scale > 0
        && m % 10 == 0
    {
        m /= 10;
        scale -= 1;
    }
    if m.unsigned_abs() >= MANTISSA_LIMIT as u128 || scale > MAX_SCALE {
        return Err(MoneyError::Overflow);
    }
    Decimal::try_from_i128_with_scale(m, scale).map_err(|_| MoneyError::Overflow)
}

/// Exact addition. `Decimal::checked_add` only fails when the integer part overflows: when
/// the exact sum needs more than 28 digits it silently rounds. This computes the sum on the
/// aligned mantissas in `i128` and refuses (`money.overflow`) any sum that has no exact
/// `Decimal`. The scale is the larger of the two (`1.50 + 1 = 2.50`).
pub fn exact_add(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    let scale = a.scale().max(b.scale());
    let align = |d: Decimal| {
        10i128
            .checked_pow(scale - d.scale())
            .and_then(|f| d.mantissa().checked_mul(f))
            .ok_or(MoneyError::Overflow)
    };
    let sum = align(a)?
        .checked_add(align(b)?)
        .ok_or(MoneyError::Overflow)?;
    exact_from_parts(sum, scale)
}

/// Exact subtraction (see [`exact_add`]).
pub fn exact_sub(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    exact_add(a, -b)
}

/// Exact multiplication: the product of the mantissas at scale `sa + sb`, refused
/// (`money.overflow`) when it has no exact `Decimal` — never cut to 28 digits.
pub fn exact_mul(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    let negative = a.is_sign_negative() != b.is_sign_negative();
    let mut m = wide::mul(a.mantissa().unsigned_abs(), b.mantissa().unsigned_abs());
    let mut scale = a.scale() + b.scale();
    let fits =
        |m: wide::U256, scale: u32| m.0 == 0 && m.1 < MANTISSA_LIMIT as u128 && scale <= MAX_SCALE;
    // Drop trailing zeros (exactly) while the product is too wide or too precise.
    while !fits(m, scale) && scale > 0 {
        let (q, r) = wide::divrem(m, 10);
        if r != 0 {
            break;
        }
        m = q;
        scale -= 1;
    }
    if !fits(m, scale) {
        return Err(MoneyError::Overflow);
    }
    // m < 2^96 fits i128.
    let m = m.1 as i128;
    let d = Decimal::try_from_i128_with_scale(if negative { -m } else { m }, scale)
        .map_err(|_| MoneyError::Overflow)?;
    Ok(d)
}

/// The exact sum of amounts.
pub fn exact_sum<I: IntoIterator<Item = Decimal>>(items: I) -> Result<Decimal, MoneyError> {
    items.into_iter().try_fold(Decimal::ZERO, exact_add)
}

/// `a · b` rounded **once** to `dp` places with `mode`: the product is formed exactly in
/// 256-bit integers (two 96-bit mantissas), so the rounding sees the true value. For rules
/// that round a product (conversion at an exchange rate).
pub fn mul_round(a: Decimal, b: Decimal, dp: u32, mode: Rounding) -> Result<Decimal, MoneyError> {
    let negative = a.is_sign_negative() != b.is_sign_negative();
    let num = wide::mul(a.mantissa().unsigned_abs(), b.mantissa().unsigned_abs());
    let scale = a.scale() + b.scale();
    let pow = |n: u32| 10u128.checked_pow(n).ok_or(MoneyError::Overflow);
    let (num, den) = if scale >= dp {
        (num, pow(scale - dp)?)
    } else {
        (
            wide::mul_small(num, pow(dp - scale)?).ok_or(MoneyError::Overflow)?,
            1,
        )
    };
    wide::round_div(num, den, negative, dp, mode)
}

/// `a / b` rounded **once** to `dp` places with `mode`, exactly (`b ≠ 0`): for rules that
/// round a quotient (conversion through the inverse of an exchange rate).
pub fn div_round(a: Decimal, b: Decimal, dp: u32, mode: Rounding) -> Result<Decimal, MoneyError> {
    if b.is_zero() {
        return Err(MoneyError::Overflow);
    }
    let negative = a.is_sign_negative() != b.is_sign_negative();
    // a/b · 10^dp = a_m · 10^(sb + dp − sa) / b_m
    let (am, bm) = (a.mantissa().unsigned_abs(), b.mantissa().unsigned_abs());
    let shift = i64::from(b.scale()) + i64::from(dp) - i64::from(a.scale());
    let (num, den) = if shift >= 0 {
        let f = 10u128
            .checked_pow(u32::try_from(shift).map_err(|_| MoneyError::Overflow)?)
            .ok_or(MoneyError::Overflow)?;
        (wide::mul(am, f), bm)
    } else {
        let f = 10u128
            .checked_pow(u32::try_from(-shift).map_err(|_| MoneyError::Overflow)?)
            .ok_or(MoneyError::Overflow)?;
        (
            wide::mul(am, 1),
            bm.checked_mul(f).ok_or(MoneyError::Overflow)?,
        )
    };
    wide::round_div(num, den, negative, dp, mode)
}

/// Just enough 256-bit unsigned arithmetic for an exact product or quotient and one rounding.
mod wide {
    use super::{Decimal, MoneyError, Rounding, MANTISSA_LIMIT};

    /// `(high, low)` 128-bit halves.
    pub(super) type U256 = (u128, u128);

    const LOW64: u128 = (1 << 64) - 1;

    /// The full product of two `u128`.
    pub(super) fn mul(a: u128, b: u128) -> U256 {
        let (a1, a0) = (a >> 64, a & LOW64);
        let (b1, b0) = (b >> 64, b & LOW64);
        let p00 = a0 * b0;
        let p01 = a0 * b1;
        let p10 = a1 * b0;
        let p11 = a1 * b1;
        let mid = (p00 >> 64) + (p01 & LOW64) + (p10 & LOW64);
        let low = (p00 & LOW64) | ((mid & LOW64) << 64);
        let high = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
        (high, low)
    }

    /// `x · f`, or `None` past 256 bits.
    pub(super) fn mul_small(x: U256, f: u128) -> Option<U256> {
        let (h1, l) = mul(x.1, f);
        let (h2, hl) = mul(x.0, f);
        if h2 != 0 {
            return None;
        }
        Some((hl.checked_add(h1)?, l))
    }

    /// `x / d` and `x % d` for `0 < d < 2^127` (bit-by-bit long division).
    pub(super) fn divrem(x: U256, d: u128) -> (U256, u128) {
        let mut q: U256 = (0, 0);
        let mut r: u128 = 0;
        for i in (0..256).rev() {
            let bit = if i >= 128 {
                (x.0 >> (i - 128)) & 1
            } else {
                (x.1 >> i) & 1
            };
            r = (r << 1) | bit;
            if r >= d {
                r -= d;
                if i >= 128 {
                    q.0 |= 1 << (i - 128);
                } else {
                    q.1 |= 1 << i;
                }
            }
        }
        (q, r)
    }

    /// `±num / den` rounded to an integer with `mode`, as a `Decimal` of scale `dp`.
    pub(super) fn round_div(
        num: U256,
        den: u128,
        negative: bool,
        dp: u32,
        mode: Rounding,
    ) -> Result<Decimal, MoneyError> {
        if den == 0 || den >= 1 << 127 {
            return Err(MoneyError::Overflow);
        }
        let (q, r) = divrem(num, den);
        if q.0 != 0 {
            return Err(MoneyError::Overflow);
        }
        let q = q.1;
        // Rounding the magnitude: does it move away from zero?
        let up = r != 0
            && match mode {
                Rounding::Floor => negative,
                Rounding::Ceiling => !negative,
                Rounding::HalfUp => r * 2 >= den,
                Rounding::HalfEven => r * 2 > den || (r * 2 == den && q % 2 == 1),
            };
        let q = if up { q + 1 } else { q };
        if q >= MANTISSA_LIMIT as u128 {
            return Err(MoneyError::Overflow);
        }
        // q < 2^96 fits i128.
        let m = q as i128;
        Decimal::try_from_i128_with_scale(if negative { -m } else { m }, dp)
            .map_err(|_| MoneyError::Overflow)
    }
}

/// The inverse of an exchange rate, for display on an entry (`1 / r` to `Decimal`'s 28
/// significant digits). Amounts are never computed from it: see [`div_round`].
pub fn inverse_rate(r: Decimal) -> Result<Decimal, MoneyError> {
    Decimal::ONE.checked_div(r).ok_or(MoneyError::Overflow)
}

/// A currency's precisions, as in JeraSoft: rates, per-call details and totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    /// Row id.
    pub id: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub code: String,
    /// Decimal places of rates (default 4).
    pub rates_precision: u32,
    /// Decimal places of per-call costs (default 4).
    pub details_precision: u32,
    /// Decimal places of totals and invoices (default 2).
    pub totals_precision: u32,
}

impl Currency {
    /// Round a per-call cost to the details precision.
    pub fn round_details(&self, amount: Decimal, mode: Rounding) -> Decimal {
        round(amount, self.details_precision, mode)
    }

    /// Round a total to the totals precision.
    pub fn round_totals(&self, amount: Decimal, mode: Rounding) -> Decimal {
        round(amount, self.totals_precision, mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).expect("test JSON")
    }

    #[test]
    fn point_one_plus_point_two_is_exactly_point_three() {
        let a = parse_json("a", &json("0.1")).unwrap();
        let b = parse_json("b", &json("0.2")).unwrap();
        assert_eq!(exact_add(a, b).unwrap(), Decimal::from_str("0.3").unwrap());
        assert_eq!(to_json(exact_add(a, b).unwrap()).to_string(), "0.3");
    }

    #[test]
    fn twenty_eight_digits_survive_a_round_trip() {
        for text in [
            "1234567890123456789012345678",
            "0.1234567890123456789012345678",
            "-9999999999999999999999999999",
        ] {
            let d = parse_json("x", &json(text)).unwrap();
            assert_eq!(to_json(d).to_string(), text);
            let s = parse_json("x", &Value::String(text.into())).unwrap();
            assert_eq!(s, d);
        }
    }

    #[test]
    fn strings_and_numbers_parse_the_same() {
        assert_eq!(
            parse_json("x", &json("\"12.50\"")).unwrap(),
            parse_json("x", &json("12.50")).unwrap()
        );
        assert_eq!(
            parse_json("x", &json("1e-3")).unwrap(),
            Decimal::from_str("0.001").unwrap()
        );
        assert_eq!(
            to_json(parse_json("x", &json("12.50")).unwrap()).to_string(),
            "12.50"
        );
    }

    #[test]
    fn bad_amounts_are_refused() {
        for bad in [
            "\"abc\"",
            "\"\"",
            "true",
            "null",
            "[1]",
            "\"1.2.3\"",
            "\"0x10\"",
            "\"NaN\"",
            "\"inf\"",
        ] {
            let e = parse_json("amount", &json(bad)).unwrap_err();
            assert!(matches!(e, MoneyError::Invalid { .. }), "{bad}: {e:?}");
        }
        assert_eq!(
            parse_json("x", &json("1e40")).unwrap_err(),
            MoneyError::Overflow
        );
        assert!(matches!(
            parse_amount("x", &json("1e40")).unwrap_err(),
            MoneyError::OutOfRange { .. }
        ));
        assert_eq!(
            parse_json("x", &json("99999999999999999999999999999999")).unwrap_err(),
            MoneyError::Overflow
        );
        assert!(matches!(
            parse_amount("x", &json("0.0000000000001")).unwrap_err(),
            MoneyError::Precision { .. }
        ));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert_eq!(
            exact_add(Decimal::MAX, Decimal::ONE).unwrap_err(),
            MoneyError::Overflow
        );
        assert_eq!(
            exact_sub(Decimal::MIN, Decimal::ONE).unwrap_err(),
            MoneyError::Overflow
        );
        assert_eq!(
            exact_mul(Decimal::MAX, Decimal::TWO).unwrap_err(),
            MoneyError::Overflow
        );
        assert_eq!(
            div_round(Decimal::ONE, Decimal::ZERO, 2, Rounding::HalfUp).unwrap_err(),
            MoneyError::Overflow
        );
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn exact_add_refuses_what_checked_add_rounds() {
        // The fuzzer's case: Decimal's own addition drops the 0.01 and says nothing.
        let big = d("7922816251426433759354395033");
        assert_eq!(
            big.checked_add(d("0.01")),
            Some(d("7922816251426433759354395033"))
        );
        assert_eq!(exact_add(big, d("0.01")).unwrap_err(), MoneyError::Overflow);
        assert_eq!(exact_sub(big, d("0.01")).unwrap_err(), MoneyError::Overflow);
        // Exact sums keep the larger scale, like Decimal's exact ones.
        assert_eq!(exact_add(d("1.50"), d("1")).unwrap().to_string(), "2.50");
        assert_eq!(exact_add(d("0.5"), d("-0.5")).unwrap(), Decimal::ZERO);
        // A sum whose digits exceed 96 bits only through trailing zeros is still exact.
        let x = exact_add(
            d("39614081257132168796771975168"),
            d("39614081257132168796771975168"),
        );
        assert_eq!(x.unwrap_err(), MoneyError::Overflow);
        assert_eq!(
            exact_add(d("7922816251426433759354395033.0"), d("0.0")).unwrap(),
            d("7922816251426433759354395033")
        );
    }

    #[test]
    fn exact_mul_refuses_what_checked_mul_rounds() {
        // 27 digits at rate 1.1: Decimal rounds the 29-digit product to 28 digits.
        let a = d("792281625142643375935439503.3");
        let rate = d("1.1");
        // Decimal's product is cut to 28 digits: 871509787656907713528983453.6(3).
        assert_eq!(
            a.checked_mul(rate),
            Some(d("871509787656907713528983453.6"))
        );
        assert_eq!(exact_mul(a, rate).unwrap_err(), MoneyError::Overflow);
        assert_eq!(
            exact_mul(d("10.00"), d("0.92")).unwrap().to_string(),
            "9.2000"
        );
        assert_eq!(exact_mul(d("-2"), d("0.5")).unwrap(), d("-1"));
        // Trailing zeros are dropped only when needed, and only exactly.
        let tiny = d("0.0000000000000001");
        assert_eq!(exact_mul(tiny, tiny).unwrap_err(), MoneyError::Overflow);
        assert_eq!(
            exact_mul(d("0.00000000000020"), d("0.000000000000050")).unwrap(),
            d("0.00000000000000000000000001")
        );
    }

    #[test]
    fn mul_round_and_div_round_round_once_from_the_exact_value() {
        let a = d("154936145641283625241288791.2");
        // Exact: 170429760205411987765417670.32, rounded once.
        assert_eq!(
            mul_round(a, d("1.1"), 1, Rounding::HalfUp).unwrap(),
            d("170429760205411987765417670.3")
        );
        assert_eq!(
            mul_round(d("0.125"), d("1"), 2, Rounding::HalfEven).unwrap(),
            d("0.12")
        );
        assert_eq!(
            mul_round(d("-0.125"), d("1"), 2, Rounding::HalfUp).unwrap(),
            d("-0.13")
        );
        assert_eq!(
            mul_round(d("-0.121"), d("1"), 2, Rounding::Floor).unwrap(),
            d("-0.13")
        );
        assert_eq!(
            mul_round(d("10"), d("1.1"), 4, Rounding::HalfUp)
                .unwrap()
                .to_string(),
            "11.0000"
        );
        // A product wider than 128 bits is still exact before its one rounding.
        let m = d("999999999999999.999999999999");
        assert_eq!(
            mul_round(m, d("99999999.9999"), 4, Rounding::HalfUp).unwrap(),
            d("99999999999899999999999.9999")
        );
        // Inside the limits: the exact product …7334|4999999999|99 has 30 digits; Decimal's
        // own multiplication cuts it to …7334|5000000000, which then rounds the wrong way.
        let (a, r) = (d("100000005583154.567"), d("0.987654321097"));
        let cut = a.checked_mul(r).unwrap();
        assert_eq!(round(cut, 4, Rounding::HalfUp), d("98765437623926.7335"));
        assert_eq!(
            mul_round(a, r, 4, Rounding::HalfUp).unwrap(),
            d("98765437623926.7334")
        );
        assert_eq!(exact_mul(a, r).unwrap_err(), MoneyError::Overflow);
        // 0.03 / 3 is exactly 0.01: no 0.00999… on the way, so floor keeps it.
        assert_eq!(
            div_round(d("0.03"), d("3"), 4, Rounding::Floor).unwrap(),
            d("0.0100")
        );
        assert_eq!(
            div_round(d("1"), d("3"), 4, Rounding::HalfUp).unwrap(),
            d("0.3333")
        );
        assert_eq!(
            div_round(d("2"), d("3"), 4, Rounding::Floor).unwrap(),
            d("0.6666")
        );
        assert_eq!(
            div_round(d("-2"), d("3"), 4, Rounding::Ceiling).unwrap(),
            d("-0.6666")
        );
    }

    #[test]
    fn every_spelling_parses_by_one_exact_rule() {
        let s = |t: &str| parse_str("x", t);
        assert_eq!(s("1.5e1").unwrap().to_string(), "15");
        assert_eq!(s("150e-2").unwrap().to_string(), "1.5");
        assert_eq!(s("1e0").unwrap(), d("1"));
        assert_eq!(s("0e99999999").unwrap(), Decimal::ZERO);
        assert_eq!(s("-2.5E+1").unwrap(), d("-25"));
        // rust_decimal's from_scientific rounds these to 1; the exact rule never does.
        assert_ne!(
            s("1.00000000000000000000000000001e0").ok(),
            Some(Decimal::ONE)
        );
        assert_ne!(
            s("1.0000000000000000000000000000001e0").ok(),
            Some(Decimal::ONE)
        );
        let a = |t: &str| parse_amount("x", &Value::String(t.into()));
        for t in [
            "1.0000000000000000000000000000001e0",
            "1.0000000000000000000000000000001",
            "1.00000000000000000000000000001e0",
            "100000000000000000000000000001e-29",
            "0.0000000000001",
            "1e-13",
        ] {
            assert!(
                matches!(a(t).unwrap_err(), MoneyError::Precision { .. }),
                "{t}"
            );
        }
        for t in [
            "1e15",
            "1000000000000000",
            "-1e15",
            "1e40",
            "99999999999999999999999999999999",
            "7922816251426433759354395033",
        ] {
            assert!(
                matches!(a(t).unwrap_err(), MoneyError::OutOfRange { .. }),
                "{t}"
            );
        }
        assert_eq!(
            a("999999999999999.999999999999").unwrap(),
            d("999999999999999.999999999999")
        );
        assert_eq!(
            a("9.99999999999999999999999999e14").unwrap(),
            d("999999999999999.999999999999")
        );
        assert_eq!(a("1.000000000000e0").unwrap(), d("1"));
        assert_eq!(a("1.50").unwrap().to_string(), "1.50");
        assert_eq!(a("0.000000000000").unwrap(), Decimal::ZERO);
    }

    #[test]
    fn exchange_rates_are_bounded() {
        assert!(check_exchange_rate("rate", d("42105.123456")).is_ok());
        assert!(check_exchange_rate("rate", d("0.000000000001")).is_ok());
        assert!(check_exchange_rate("rate", d("999999999.999")).is_ok());
        assert!(matches!(
            check_exchange_rate("rate", d("1000000000")).unwrap_err(),
            MoneyError::OutOfRange { .. }
        ));
        assert!(matches!(
            check_exchange_rate("rate", d("1.0000000000001")).unwrap_err(),
            MoneyError::Precision { .. }
        ));
        assert!(matches!(
            check_exchange_rate("rate", d("1234.567890123")).unwrap_err(),
            MoneyError::OutOfRange { .. }
        ));
    }

    #[test]
    fn rounding_modes_at_the_midpoint() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(round(d("0.125"), 2, Rounding::HalfUp), d("0.13"));
        assert_eq!(round(d("-0.125"), 2, Rounding::HalfUp), d("-0.13"));
        assert_eq!(round(d("0.125"), 2, Rounding::HalfEven), d("0.12"));
        assert_eq!(round(d("0.121"), 2, Rounding::Ceiling), d("0.13"));
        assert_eq!(round(d("0.129"), 2, Rounding::Floor), d("0.12"));
        for (name, mode) in Rounding::ALL {
            assert_eq!(Rounding::parse(name), Some(*mode));
            assert_eq!(mode.as_str(), *name);
        }
    }

    proptest! {
        #[test]
        fn exact_helpers_agree_with_i128_arithmetic(
            a in -10i64.pow(15)..10i64.pow(15), sa in 0u32..=12,
            b in any::<i64>(), sb in 0u32..=12,
        ) {
            let (x, y) = (Decimal::new(a, sa), Decimal::new(b, sb));
            // Sum at the common scale, in i128: always exact here.
            // The exact value m · 10^-sc with trailing zeros dropped, or None if no Decimal
            // holds it.
            let exact = |mut m: i128, mut sc: u32| {
                while sc > 0 && m % 10 == 0 {
                    m /= 10;
                    sc -= 1;
                }
                Decimal::try_from_i128_with_scale(m, sc).ok()
            };
            let s = sa.max(sb);
            let sum = i128::from(a) * 10i128.pow(s - sa) + i128::from(b) * 10i128.pow(s - sb);
            prop_assert_eq!(exact_add(x, y).ok(), exact(sum, s));
            prop_assert_eq!(exact_sub(x, -y).ok(), exact(sum, s));
            let p = i128::from(a) * i128::from(b);
            prop_assert_eq!(exact_mul(x, y).ok(), exact(p, sa + sb));
        }

        #[test]
        fn exponent_spellings_equal_plain_ones(m in any::<i64>(), scale in 0u32..=12, shift in -20i32..20) {
            let d = Decimal::new(m, scale);
            let plain = d.to_string();
            // m · 10^-scale written as (m · 10^-(scale+shift)) e shift.
            let digits = m.unsigned_abs().to_string();
            let sign = if m < 0 { "-" } else { "" };
            let text = format!("{sign}{digits}e{}", -(scale as i32));
            prop_assert_eq!(parse_str("x", &text).unwrap(), parse_str("x", &plain).unwrap());
            let shifted = format!("{sign}0.{digits}e{}", digits.len() as i32 - scale as i32);
            prop_assert_eq!(parse_str("x", &shifted).unwrap(), d);
            let _ = shift;
        }

        #[test]
        fn text_round_trip_is_exact(units in any::<i64>(), scale in 0u32..12) {
            let d = Decimal::new(units, scale);
            let back = parse_json("x", &to_json(d)).unwrap();
            prop_assert_eq!(back, d);
            prop_assert_eq!(back.to_string(), d.to_string());
        }

        #[test]
        fn sum_of_cents_matches_integer_sum(cents in proptest::collection::vec(-1_000_000i64..1_000_000, 0..50)) {
            let total = exact_sum(cents.iter().map(|c| Decimal::new(*c, 2))).unwrap();
            prop_assert_eq!(total, Decimal::new(cents.iter().sum::<i64>(), 2));
        }
    }
}

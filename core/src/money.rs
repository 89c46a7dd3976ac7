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

/// Parse an amount from decimal text exactly. Accepts `12`, `-0.5`, `1e-3`, `+3.25`.
pub fn parse_str(field: &str, text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    let invalid = |reason: &str| MoneyError::Invalid {
        field: field.to_string(),
        reason: reason.to_string(),
    };
    if t.is_empty() {
        return Err(invalid("empty"));
    }
    if t.len() > 64 {
        return Err(invalid("too many digits"));
    }
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return Err(invalid("not a decimal number"));
    }
    let parsed = if t.contains(['e', 'E']) {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str_exact(t)
    };
    match parsed {
        Ok(d) => Ok(d.normalize_scale_keep(t)),
        Err(rust_decimal::Error::ExceedsMaximumPossibleValue)
        | Err(rust_decimal::Error::LessThanMinimumPossibleValue) => Err(MoneyError::Overflow),
        Err(rust_decimal::Error::ScaleExceedsMaximumPrecision(_))
            if t.rsplit(['e', 'E'])
                .next()
                .is_some_and(|exp| !exp.starts_with('-')) =>
        {
            // A large positive exponent: the value is too big, not too precise.
            Err(MoneyError::Overflow)
        }
        Err(rust_decimal::Error::Underflow)
        | Err(rust_decimal::Error::ScaleExceedsMaximumPrecision(_)) => {
            Err(invalid("more than 28 decimal places"))
        }
        Err(_) => {
            let int_digits = body
                .split('.')
                .next()
                .map(|i| i.trim_start_matches('0').len())
                .unwrap_or(0);
            if !t.contains(['e', 'E'])
                && int_digits > 28
                && body.chars().all(|c| c.is_ascii_digit() || c == '.')
            {
                Err(MoneyError::Overflow)
            } else {
                Err(invalid("not a decimal number"))
            }
        }
    }
}

trait KeepScale {
    fn normalize_scale_keep(self, text: &str) -> Self;
}

impl KeepScale for Decimal {
    // Keep the scale the caller wrote ("1.50" stays 1.50); only scientific input is normalized.
    fn normalize_scale_keep(self, text: &str) -> Self {
        if text.contains(['e', 'E']) {
            self.normalize()
        } else {
            self
        }
    }
}

/// Parse an amount from a JSON value (number or string), exactly.
pub fn parse_json(field: &str, value: &Value) -> Result<Decimal, MoneyError> {
    match value {
        // With serde_json's arbitrary_precision the number keeps its source text.
        Value::Number(n) => parse_str(field, &n.to_string()),
        Value::String(s) => parse_str(field, s),
        _ => Err(MoneyError::Invalid {
            field: field.to_string(),
            reason: "expected a number or a decimal string".into(),
        }),
    }
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

/// Parse a JSON amount and check its scale against [`limits::amount_scale_max`].
pub fn parse_amount(field: &str, value: &Value) -> Result<Decimal, MoneyError> {
    let d = parse_json(field, value)?;
    check_scale(field, d, limits::amount_scale_max)
}

/// An amount as an exact JSON number.
pub fn to_json(amount: Decimal) -> Value {
    match serde_json::Number::from_str(&amount.to_string()) {
        Ok(n) => Value::Number(n),
        // Decimal's Display is always a valid JSON number; keep the text if that ever fails.
        Err(_) => Value::String(amount.to_string()),
    }
}

/// Checked addition: overflow is `money.overflow`, never a wrap or a panic.
pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    a.checked_add(b).ok_or(MoneyError::Overflow)
}

/// Checked subtraction.
pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    a.checked_sub(b).ok_or(MoneyError::Overflow)
}

/// Checked multiplication.
pub fn mul(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    a.checked_mul(b).ok_or(MoneyError::Overflow)
}

/// Checked division (division by zero is an overflow: it has no finite answer).
pub fn div(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    a.checked_div(b).ok_or(MoneyError::Overflow)
}

/// The sum of amounts, checked.
pub fn sum<I: IntoIterator<Item = Decimal>>(items: I) -> Result<Decimal, MoneyError> {
    items.into_iter().try_fold(Decimal::ZERO, add)
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
        assert_eq!(add(a, b).unwrap(), Decimal::from_str("0.3").unwrap());
        assert_eq!(to_json(add(a, b).unwrap()).to_string(), "0.3");
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
            add(Decimal::MAX, Decimal::ONE).unwrap_err(),
            MoneyError::Overflow
        );
        assert_eq!(
            sub(Decimal::MIN, Decimal::ONE).unwrap_err(),
            MoneyError::Overflow
        );
        assert_eq!(
            mul(Decimal::MAX, Decimal::TWO).unwrap_err(),
            MoneyError::Overflow
        );
        assert_eq!(
            div(Decimal::ONE, Decimal::ZERO).unwrap_err(),
            MoneyError::Overflow
        );
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
        fn text_round_trip_is_exact(units in any::<i64>(), scale in 0u32..12) {
            let d = Decimal::new(units, scale);
            let back = parse_json("x", &to_json(d)).unwrap();
            prop_assert_eq!(back, d);
            prop_assert_eq!(back.to_string(), d.to_string());
        }

        #[test]
        fn sum_of_cents_matches_integer_sum(cents in proptest::collection::vec(-1_000_000i64..1_000_000, 0..50)) {
            let total = sum(cents.iter().map(|c| Decimal::new(*c, 2))).unwrap();
            prop_assert_eq!(total, Decimal::new(cents.iter().sum::<i64>(), 2));
        }
    }
}

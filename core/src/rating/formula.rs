//! The rating formula of DESIGN §7: billed seconds, the cost of a call, and the longest call a
//! given amount of money pays for.
//!
//! Costs are computed as an exact rational number and rounded **once**, to the details
//! precision, with the rate table's [`Rounding`]. Nothing is divided before rounding, so the
//! rounding sees the true value (`rate · 31 / 60` is not first cut to 28 digits).
//! [`max_seconds`] evaluates the very same integer arithmetic as [`cost`], so the two can
//! never disagree by a cent.

use crate::error::{MoneyError, RatingError, Result, ValidationError};
use crate::limits;
use crate::money::Rounding;
use rust_decimal::Decimal;

/// Seconds per minute: rates are quoted per minute, durations are counted in seconds.
const SECONDS_PER_MINUTE: i128 = 60;

/// The terms of one rate: the price per minute and how seconds are counted.
///
/// Fields are public so callers can build terms from storage; every function here checks them
/// with [`RateTerms::validate`] before using them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateTerms {
    /// Price per full minute (≥ 0), in the rate table's currency.
    pub rate: Decimal,
    /// Minimum billed time in seconds: a call that is billed at all is billed at least this.
    pub min_volume: u32,
    /// Billing step in seconds once the minimum is used up (≥ 1).
    pub interval: u32,
    /// Free time in seconds: a call lasting at most this costs nothing, setup fee included.
    pub grace_volume: u32,
    /// Per-call fee (≥ 0), charged on every call that is billed (longer than the grace).
    pub setup_fee: Decimal,
}

impl RateTerms {
    /// Terms after [`validate`](RateTerms::validate).
    pub fn new(
        rate: Decimal,
        min_volume: u32,
        interval: u32,
        grace_volume: u32,
        setup_fee: Decimal,
    ) -> Result<RateTerms> {
        let terms = RateTerms {
            rate,
            min_volume,
            interval,
            grace_volume,
            setup_fee,
        };
        terms.validate()?;
        Ok(terms)
    }

    /// Check the terms: `interval ≥ 1`, `rate ≥ 0`, `setup_fee ≥ 0`
    /// (`rating.invalid_terms`, naming the field).
    pub fn validate(&self) -> Result<(), RatingError> {
        let bad = |field: &str, reason: &str| {
            Err(RatingError::InvalidTerms {
                field: field.to_string(),
                reason: reason.to_string(),
            })
        };
        if self.interval == 0 {
            return bad("interval", "must be at least 1 second");
        }
        if self.rate.is_sign_negative() && !self.rate.is_zero() {
            return bad("rate", "must not be negative");
        }
        if self.setup_fee.is_sign_negative() && !self.setup_fee.is_zero() {
            return bad("setup_fee", "must not be negative");
        }
        Ok(())
    }
}

/// Seconds billed for a call of `duration_s` seconds.
///
/// 0 when `d == 0` or `d ≤ grace`; `min_volume` when `d ≤ min_volume`; otherwise
/// `min_volume + ceil((d − min_volume) / interval) · interval`.
/// Terms should be valid; an `interval` of 0 (refused by [`RateTerms::validate`]) counts as 1
/// here so this never divides by zero. The result saturates at `u64::MAX`, which only a
/// duration beyond [`limits::rated_duration_seconds_max`] (refused by [`cost`]) can reach.
pub fn billed_seconds(terms: &RateTerms, duration_s: u64) -> u64 {
    let a = u64::from(terms.min_volume);
    let b = u64::from(terms.interval.max(1));
    if duration_s == 0 || duration_s <= u64::from(terms.grace_volume) {
        return 0;
    }
    if duration_s <= a {
        return a;
    }
    let over = duration_s - a;
    let steps = over / b + u64::from(over % b != 0);
    steps
        .checked_mul(b)
        .and_then(|s| s.checked_add(a))
        .unwrap_or(u64::MAX)
}

/// The cost of a call of `duration_s` seconds: `setup_fee + rate · billed / 60` (zero within
/// the grace, setup fee included), rounded once to `precision` decimal places with `rounding`.
///
/// Errors: invalid terms (`rating.invalid_terms`), a duration above
/// [`limits::rated_duration_seconds_max`] or a precision above
/// [`limits::rating_precision_max`] (`validation.out_of_range`), a result too large for a
/// `Decimal` (`money.overflow`).
pub fn cost(
    terms: &RateTerms,
    duration_s: u64,
    precision: u32,
    rounding: Rounding,
) -> Result<Decimal> {
    cost_after_volume(terms, duration_s, 0, precision, rounding)
}

/// The money part of a call that draws on `volume_s` included (bundled) seconds: the bundle
/// covers the first `min(billed, volume_s)` billed seconds and the rest costs
/// `rate · (billed − covered) / 60`, rounded once. A call that draws on a bundle pays no setup
/// fee. `volume_s = 0` is exactly [`cost`].
///
/// Errors as [`cost`].
pub fn cost_after_volume(
    terms: &RateTerms,
    duration_s: u64,
    volume_s: u64,
    precision: u32,
    rounding: Rounding,
) -> Result<Decimal> {
    check_duration("duration", duration_s)?;
    let pricer = Pricer::new(terms, precision, rounding)?.with_volume(volume_s);
    let units = pricer.units(billed_seconds(terms, duration_s))?;
    Ok(pricer.to_decimal(units)?)
}

/// Billed seconds of a call of `duration_s` that a bundle of `volume_s` seconds covers.
pub fn volume_covered(terms: &RateTerms, duration_s: u64, volume_s: u64) -> u64 {
    billed_seconds(terms, duration_s).min(volume_s)
}

/// The longest duration `d ≤ cap_seconds` whose [`cost`] (rounded, as charged) is at most
/// `available`.
///
/// Rules, all following from "`cost(d) ≤ available` must hold":
/// - `available < 0`: 0, meaning no call at all — even a free (grace) call would leave the
///   account below what it has, and the caller has nothing to grant. (`cost(0) = 0` is above a
///   negative amount, so 0 here means "refuse", not "a zero-second call fits".)
/// - `available ≥ 0`: at least `min(grace_volume, cap)`, since calls within the grace cost 0.
/// - The cost only changes where the billed time does, so the answer is `cap`, the grace, or
///   the last second of a billing step (`min_volume` or `min_volume + k·interval`): one second
///   more costs more than `available`.
/// - Rate 0: every billed call costs the setup fee, so the answer is `cap` when the fee fits and
///   the grace otherwise.
/// - Rounding: the comparison is on the rounded cost, which is what is charged; a rounded cost
///   can fit where the unrounded one is a hair above.
///
/// Runs in O(log n) cost evaluations around a closed-form estimate, never by scanning seconds.
/// Errors as [`cost`] (the cap is checked like a duration); a cost too large to compute counts
/// as "does not fit", not as an error.
pub fn max_seconds(
    terms: &RateTerms,
    available: Decimal,
    precision: u32,
    rounding: Rounding,
    cap_seconds: u64,
) -> Result<u64> {
    max_seconds_with_volume(terms, available, 0, precision, rounding, cap_seconds)
}

/// [`max_seconds`] for a call that may draw on `volume_s` included seconds first: the
/// longest `d ≤ cap_seconds` with `cost_after_volume(d, volume_s) ≤ available`. Included
/// seconds are prepaid, so with `volume_s > 0` a negative `available` counts as zero: the
/// bundle alone still carries a call.
pub fn max_seconds_with_volume(
    terms: &RateTerms,
    available: Decimal,
    volume_s: u64,
    precision: u32,
    rounding: Rounding,
    cap_seconds: u64,
) -> Result<u64> {
    check_duration("cap_seconds", cap_seconds)?;
    let pricer = Pricer::new(terms, precision, rounding)?.with_volume(volume_s);
    let available = if volume_s > 0 && available.is_sign_negative() {
        Decimal::ZERO
    } else {
        available
    };
    if available.is_sign_negative() && !available.is_zero() {
        return Ok(0);
    }
    let grace = u64::from(terms.grace_volume);
    if cap_seconds <= grace {
        return Ok(cap_seconds);
    }
    let budget = pricer.budget_units(available);
    let fits = |billed: u64| pricer.units(billed).is_ok_and(|u| u <= budget);
    if fits(billed_seconds(terms, cap_seconds)) {
        return Ok(cap_seconds);
    }
    // The billing steps above the grace end at a + k·b for k in k_first..=k_last (k = 0 is the
    // minimum block itself). Every d in a step costs what its end costs, so the answer is the
    // end of the last affordable step below the cap, or the grace when none is affordable.
    let a = u64::from(terms.min_volume);
    let b = u64::from(terms.interval);
    let k_first = if a > grace { 0 } else { (grace - a) / b + 1 };
    // cap > grace and cap is not affordable, so only ends strictly below the cap count.
    let below_cap = cap_seconds - 1;
    if below_cap < a {
        return Ok(grace);
    }
    let k_last = (below_cap - a) / b;
    if k_last < k_first {
        return Ok(grace);
    }
    let end = |k: u64| a + k * b; // ≤ cap_seconds - 1: no overflow.
    let pred = |k: u64| fits(end(k));
    let guess = pricer
        .estimate_steps(a, b, budget)
        .unwrap_or(k_first)
        .clamp(k_first, k_last);
    Ok(match last_true(k_first, k_last, guess, pred) {
        Some(k) => end(k),
        None => grace,
    })
}

/// The largest `k` in `lo..=hi` with `pred(k)`, for a `pred` that is true up to some point and
/// false after it; `None` when `pred(lo)` is false. Gallops from `guess` so that a good guess
/// costs O(log error) calls, then bisects.
fn last_true(lo: u64, hi: u64, guess: u64, pred: impl Fn(u64) -> bool) -> Option<u64> {
    // Invariant for the bisection: pred(t) is true (or t = lo - 1) and pred(f) false (or f = hi + 1),
    // kept as Options to avoid stepping outside u64.
    let (mut t, mut f): (Option<u64>, Option<u64>);
    if pred(guess) {
        t = Some(guess);
        f = None;
        let mut step = 1u64;
        loop {
            let probe = guess.saturating_add(step).min(hi);
            if probe == t.unwrap_or(lo) {
                break; // Reached hi: everything up to hi is true.
            }
            if pred(probe) {
                t = Some(probe);
                step = step.saturating_mul(2);
            } else {
                f = Some(probe);
                break;
            }
        }
    } else {
        f = Some(guess);
        t = None;
        let mut step = 1u64;
        loop {
            if guess == lo || f == Some(lo) {
                break;
            }
            let probe = guess.saturating_sub(step).max(lo);
            if pred(probe) {
                t = Some(probe);
                break;
            }
            f = Some(probe);
            if probe == lo {
                break;
            }
            step = step.saturating_mul(2);
        }
    }
    let Some(mut yes) = t else {
        return None; // pred(lo) is false.
    };
    let Some(mut no) = f else {
        return Some(yes); // pred(hi) is true.
    };
    while no - yes > 1 {
        let mid = yes + (no - yes) / 2;
        if pred(mid) {
            yes = mid;
        } else {
            no = mid;
        }
    }
    Some(yes)
}

fn check_duration(field: &str, seconds: u64) -> Result<(), ValidationError> {
    if seconds > limits::rated_duration_seconds_max {
        return Err(ValidationError::OutOfRange {
            field: field.to_string(),
            reason: format!("at most {} seconds", limits::rated_duration_seconds_max),
        });
    }
    Ok(())
}

/// The terms as integers at one decimal scale, so a cost is an exact integer fraction:
/// `cost = (setup60 + rate · billed) / (60 · 10^scale)`, rounded to `precision` places.
struct Pricer {
    /// `60 · setup_fee · 10^scale`.
    setup60: i128,
    /// `rate · 10^scale`.
    rate: i128,
    /// Multiply the numerator by this before dividing (`10^(precision − scale)`, or 1).
    num_factor: i128,
    /// `60 · 10^(scale − precision)`, or 60.
    den: i128,
    precision: u32,
    rounding: Rounding,
    /// Included seconds the call draws on first (0: none, and the setup fee applies).
    volume: u64,
}

impl Pricer {
    fn new(terms: &RateTerms, precision: u32, rounding: Rounding) -> Result<Pricer> {
        terms.validate()?;
        if precision > limits::rating_precision_max {
            return Err(ValidationError::OutOfRange {
                field: "precision".into(),
                reason: format!("at most {} decimal places", limits::rating_precision_max),
            }
            .into());
        }
        let scale = terms.rate.scale().max(terms.setup_fee.scale());
        let rate = at_scale(terms.rate, scale)?;
        let setup60 = at_scale(terms.setup_fee, scale)?
            .checked_mul(SECONDS_PER_MINUTE)
            .ok_or(MoneyError::Overflow)?;
        let (num_factor, den) = if precision >= scale {
            (pow10(precision - scale)?, SECONDS_PER_MINUTE)
        } else {
            let den = pow10(scale - precision)?
                .checked_mul(SECONDS_PER_MINUTE)
                .ok_or(MoneyError::Overflow)?;
            (1, den)
        };
        Ok(Pricer {
            setup60,
            rate,
            num_factor,
            den,
            precision,
            rounding,
            volume: 0,
        })
    }

    fn with_volume(self, volume: u64) -> Pricer {
        Pricer { volume, ..self }
    }

    /// The rounded cost of `billed` seconds, in units of `10^-precision`.
    fn units(&self, billed: u64) -> Result<i128, MoneyError> {
        if billed == 0 {
            return Ok(0); // Within the grace: no setup fee either.
        }
        // A call on a bundle pays only for what the bundle does not cover, and no setup fee.
        let (paid, setup60) = if self.volume > 0 {
            (billed.saturating_sub(self.volume), 0)
        } else {
            (billed, self.setup60)
        };
        let num = self
            .rate
            .checked_mul(i128::from(paid))
            .and_then(|v| v.checked_add(setup60))
            .and_then(|v| v.checked_mul(self.num_factor))
            .ok_or(MoneyError::Overflow)?;
        round_div(num, self.den, self.rounding)
    }

    fn to_decimal(&self, units: i128) -> Result<Decimal, MoneyError> {
        Decimal::try_from_i128_with_scale(units, self.precision).map_err(|_| MoneyError::Overflow)
    }

    /// `floor(available · 10^precision)`: a cost of `u` units fits iff `u ≤ budget`, since
    /// costs are whole units. An amount too large to scale exceeds every computable cost.
    fn budget_units(&self, available: Decimal) -> i128 {
        let m = available.mantissa();
        let s = available.scale();
        let scaled = if self.precision >= s {
            pow10(self.precision - s)
                .ok()
                .and_then(|f| m.checked_mul(f))
        } else {
            pow10(s - self.precision).ok().map(|f| m.div_euclid(f))
        };
        scaled.unwrap_or(i128::MAX)
    }

    /// A guess of the last affordable step `k` (billed `a + k·b`) from the unrounded cost,
    /// only used to start the search near the answer: `None` when it cannot be computed.
    fn estimate_steps(&self, a: u64, b: u64, budget: i128) -> Option<u64> {
        // setup60·f + rate·(a + k·b)·f ≤ budget·den  ⇒  k ≤ (budget·den/f − setup60 − rate·a) / (rate·b)
        if self.rate <= 0 {
            return None;
        }
        let limit = budget.checked_mul(self.den)? / self.num_factor;
        let fixed = if self.volume > 0 {
            self.rate
                .checked_mul(i128::from(a))?
                .checked_sub(self.rate.checked_mul(i128::from(self.volume))?)?
        } else {
            self.setup60
                .checked_add(self.rate.checked_mul(i128::from(a))?)?
        };
        let spare = limit.checked_sub(fixed)?;
        if spare < 0 {
            return Some(0);
        }
        let k = spare / self.rate.checked_mul(i128::from(b))?;
        Some(u64::try_from(k).unwrap_or(u64::MAX))
    }
}

/// `d`'s mantissa at `scale` decimal places (`scale ≥ d.scale()`).
fn at_scale(d: Decimal, scale: u32) -> Result<i128, MoneyError> {
    d.mantissa()
        .checked_mul(pow10(scale - d.scale())?)
        .ok_or(MoneyError::Overflow)
}

fn pow10(exp: u32) -> Result<i128, MoneyError> {
    10i128.checked_pow(exp).ok_or(MoneyError::Overflow)
}

/// `num / den` rounded to an integer with `mode`; `den > 0`. Matches
/// [`crate::money::round`] on the exact quotient.
fn round_div(num: i128, den: i128, mode: Rounding) -> Result<i128, MoneyError> {
    debug_assert!(den > 0);
    let q = num.div_euclid(den); // floor
    let r = num.rem_euclid(den); // 0 ≤ r < den
    if r == 0 {
        return Ok(q);
    }
    // Compare the remainder with half the divisor without overflowing: 2r vs den.
    let twice = r.checked_mul(2).ok_or(MoneyError::Overflow)?;
    let up = match mode {
        Rounding::Floor => false,
        Rounding::Ceiling => true,
        Rounding::HalfUp => {
            // Half away from zero: a tie goes up for positive, down (toward −∞) for negative.
            twice > den || (twice == den && num > 0)
        }
        Rounding::HalfEven => twice > den || (twice == den && q % 2 != 0),
    };
    if up {
        q.checked_add(1).ok_or(MoneyError::Overflow)
    } else {
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorCode};
    use crate::money;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    fn terms(rate: &str, min: u32, interval: u32, grace: u32, setup: &str) -> RateTerms {
        RateTerms::new(d(rate), min, interval, grace, d(setup)).expect("valid test terms")
    }

    fn cost4(t: &RateTerms, secs: u64) -> Decimal {
        cost(t, secs, 4, Rounding::HalfUp).expect("cost")
    }

    #[test]
    fn vendor_example_rate_1_min_30_interval_1_grace_2_setup_0_3() {
        let t = terms("1", 30, 1, 2, "0.3");
        for secs in 0..=2 {
            assert_eq!(billed_seconds(&t, secs), 0, "{secs}s");
            assert_eq!(cost4(&t, secs), d("0"), "{secs}s is within grace");
        }
        for secs in 3..=30 {
            assert_eq!(billed_seconds(&t, secs), 30);
            assert_eq!(cost4(&t, secs), d("0.8"), "{secs}s bills the 30 s minimum");
        }
        // 0.3 + 31/60 = 0.816666… → 0.8167; 0.3 + 60/60 = 1.3; 0.3 + 61/60 = 1.31666… → 1.3167
        assert_eq!(billed_seconds(&t, 31), 31);
        assert_eq!(cost4(&t, 31), d("0.8167"));
        assert_eq!(cost4(&t, 60), d("1.3"));
        assert_eq!(cost4(&t, 61), d("1.3167"));
        assert_eq!(cost4(&t, 3600), d("60.3"));
    }

    #[test]
    fn industry_increment_examples() {
        // syncswitch: pulse 6, a 43 s call bills 48 s.
        assert_eq!(billed_seconds(&terms("1", 0, 6, 0, "0"), 43), 48);
        // Kolmisoft: 15 s with increment 10 bills 20 s.
        assert_eq!(billed_seconds(&terms("1", 0, 10, 0, "0"), 15), 20);
        // 60/60: whole minutes.
        let t = terms("0.6", 60, 60, 0, "0");
        assert_eq!(billed_seconds(&t, 1), 60);
        assert_eq!(billed_seconds(&t, 60), 60);
        assert_eq!(billed_seconds(&t, 61), 120);
        assert_eq!(cost4(&t, 61), d("1.2"));
        // 1/1: per second.
        let t = terms("0.6", 1, 1, 0, "0");
        assert_eq!(billed_seconds(&t, 1), 1);
        assert_eq!(billed_seconds(&t, 61), 61);
        assert_eq!(cost4(&t, 61), d("0.61"));
        // 30/6: a 30 s block, then 6 s steps.
        let t = terms("0.6", 30, 6, 0, "0");
        assert_eq!(billed_seconds(&t, 5), 30);
        assert_eq!(billed_seconds(&t, 30), 30);
        assert_eq!(billed_seconds(&t, 31), 36);
        assert_eq!(billed_seconds(&t, 36), 36);
        assert_eq!(billed_seconds(&t, 37), 42);
        assert_eq!(cost4(&t, 37), d("0.42"));
        // Zero duration is never billed, even with a minimum and no grace.
        assert_eq!(billed_seconds(&t, 0), 0);
        assert_eq!(cost4(&terms("1", 30, 6, 0, "0.5"), 0), d("0"));
    }

    #[test]
    fn setup_fee_is_charged_from_the_first_second_past_grace() {
        let t = terms("0", 0, 1, 5, "0.25");
        assert_eq!(cost4(&t, 5), d("0"));
        assert_eq!(cost4(&t, 6), d("0.25"));
        let t = terms("0", 0, 1, 0, "0.25");
        assert_eq!(cost4(&t, 1), d("0.25"));
    }

    #[test]
    fn rounding_modes_at_precision_4() {
        // 0.0003 per minute for 30 s = 0.00015: an exact midpoint at 4 places.
        let t = terms("0.0003", 1, 1, 0, "0");
        assert_eq!(cost(&t, 30, 4, Rounding::HalfUp).unwrap(), d("0.0002"));
        assert_eq!(cost(&t, 30, 4, Rounding::HalfEven).unwrap(), d("0.0002"));
        assert_eq!(cost(&t, 30, 4, Rounding::Ceiling).unwrap(), d("0.0002"));
        assert_eq!(cost(&t, 30, 4, Rounding::Floor).unwrap(), d("0.0001"));
        // 0.0005 per minute for 30 s = 0.00025: half-even goes down to the even 2.
        let t = terms("0.0005", 1, 1, 0, "0");
        assert_eq!(cost(&t, 30, 4, Rounding::HalfUp).unwrap(), d("0.0003"));
        assert_eq!(cost(&t, 30, 4, Rounding::HalfEven).unwrap(), d("0.0002"));
        assert_eq!(cost(&t, 30, 4, Rounding::Ceiling).unwrap(), d("0.0003"));
        assert_eq!(cost(&t, 30, 4, Rounding::Floor).unwrap(), d("0.0002"));
        // 1 per minute for 31 s = 0.51666…: not a midpoint, ceiling still rounds up.
        let t = terms("1", 1, 1, 0, "0");
        assert_eq!(cost(&t, 31, 4, Rounding::HalfUp).unwrap(), d("0.5167"));
        assert_eq!(cost(&t, 31, 4, Rounding::HalfEven).unwrap(), d("0.5167"));
        assert_eq!(cost(&t, 31, 4, Rounding::Ceiling).unwrap(), d("0.5167"));
        assert_eq!(cost(&t, 31, 4, Rounding::Floor).unwrap(), d("0.5166"));
        // 1 per minute for 1 s = 0.01666…; at 2 places ceiling gives 0.02, floor 0.01.
        assert_eq!(cost(&t, 1, 2, Rounding::Ceiling).unwrap(), d("0.02"));
        assert_eq!(cost(&t, 1, 2, Rounding::Floor).unwrap(), d("0.01"));
        assert_eq!(cost(&t, 1, 0, Rounding::HalfUp).unwrap(), d("0"));
    }

    #[test]
    fn rounding_is_once_on_the_exact_value_even_for_huge_costs() {
        // The quotient has 22 integer digits, so a Decimal division would keep only 6 of its
        // decimals; the exact fraction does not depend on that.
        let t = terms("1000000000000000000000", 1, 1, 0, "0");
        let c = cost(&t, 61, 4, Rounding::Ceiling).unwrap();
        // 10^21 · 61 / 60 = 1016666666666666666666.666…
        assert_eq!(c, d("1016666666666666666666.6667"));
        let c = cost(&t, 61, 4, Rounding::Floor).unwrap();
        assert_eq!(c, d("1016666666666666666666.6666"));
    }

    #[test]
    fn invalid_terms_are_refused_with_stable_codes() {
        let cases = [
            (RateTerms::new(d("1"), 0, 0, 0, d("0")), "interval"),
            (RateTerms::new(d("-0.01"), 0, 1, 0, d("0")), "rate"),
            (RateTerms::new(d("1"), 0, 1, 0, d("-1")), "setup_fee"),
        ];
        for (r, field) in cases {
            let e = r.unwrap_err();
            assert_eq!(e.code(), ErrorCode::RatingInvalidTerms);
            assert_eq!(e.field(), Some(field));
        }
        // Hand-built invalid terms are refused by cost and max_seconds too.
        let bad = RateTerms {
            rate: d("1"),
            min_volume: 0,
            interval: 0,
            grace_volume: 0,
            setup_fee: d("0"),
        };
        assert_eq!(billed_seconds(&bad, 7), 7, "never divides by zero");
        let e = cost(&bad, 7, 4, Rounding::HalfUp).unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingInvalidTerms);
        let e = max_seconds(&bad, d("1"), 4, Rounding::HalfUp, 60).unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingInvalidTerms);
        // Negative zero is zero, not negative.
        assert!(RateTerms::new(d("-0"), 0, 1, 0, d("-0.00")).is_ok());
    }

    #[test]
    fn out_of_range_durations_and_precisions_are_errors() {
        let t = terms("1", 0, 1, 0, "0");
        let too_long = limits::rated_duration_seconds_max + 1;
        for e in [
            cost(&t, too_long, 4, Rounding::HalfUp).unwrap_err(),
            cost(&t, 1, limits::rating_precision_max + 1, Rounding::HalfUp).unwrap_err(),
            max_seconds(&t, d("1"), 4, Rounding::HalfUp, too_long).unwrap_err(),
        ] {
            assert_eq!(e.code(), ErrorCode::ValidationOutOfRange, "{e}");
        }
        assert!(cost(&t, limits::rated_duration_seconds_max, 4, Rounding::HalfUp).is_ok());
    }

    #[test]
    fn huge_rates_overflow_as_errors_not_panics() {
        let t = terms("79228162514264337593543950335", 0, 1, 0, "0");
        let e = cost(&t, 3600, 4, Rounding::HalfUp).unwrap_err();
        assert!(matches!(e, Error::Money(MoneyError::Overflow)), "{e:?}");
        assert_eq!(e.code(), ErrorCode::MoneyOverflow);
        // A rate with 28 decimals next to a huge setup fee cannot be put on one scale.
        let t = terms(
            "0.0000000000000000000000000001",
            0,
            1,
            0,
            "7922816251426433759354395033",
        );
        assert_eq!(
            cost(&t, 1, 4, Rounding::HalfUp).unwrap_err().code(),
            ErrorCode::MoneyOverflow
        );
        // max_seconds treats an uncomputable cost as "does not fit".
        let t = terms("79228162514264337593543950335", 0, 1, 3, "0");
        assert_eq!(
            max_seconds(&t, d("100"), 4, Rounding::HalfUp, 10_800).unwrap(),
            3
        );
    }

    #[test]
    fn max_seconds_edges() {
        let m = |t: &RateTerms, avail: &str, cap: u64| {
            max_seconds(t, d(avail), 4, Rounding::HalfUp, cap).unwrap()
        };
        let vendor = terms("1", 30, 1, 2, "0.3");
        // Nothing available: no call, not even a grace call.
        assert_eq!(m(&vendor, "-0.01", 10_800), 0);
        // Zero available: the grace is free.
        assert_eq!(m(&vendor, "0", 10_800), 2);
        assert_eq!(m(&vendor, "0.7999", 10_800), 2);
        // The minimum block costs 0.8: all of it fits.
        assert_eq!(m(&vendor, "0.8", 10_800), 30);
        assert_eq!(m(&vendor, "0.8166", 10_800), 30);
        assert_eq!(m(&vendor, "0.8167", 10_800), 31);
        assert_eq!(m(&vendor, "1.3", 10_800), 60);
        assert_eq!(m(&vendor, "1000", 10_800), 10_800);
        // The cap wins, and a cap inside the grace is free.
        assert_eq!(m(&vendor, "1.3", 45), 45);
        assert_eq!(m(&vendor, "0", 1), 1);
        assert_eq!(m(&vendor, "-1", 1), 0);
        // Rate 0: the setup fee decides.
        let free = terms("0", 0, 1, 0, "0.5");
        assert_eq!(m(&free, "0.5", 10_800), 10_800);
        assert_eq!(m(&free, "0.4999", 10_800), 0);
        assert_eq!(m(&terms("0", 0, 1, 0, "0"), "0", 10_800), 10_800);
        // 60/60: whole minutes only.
        let t = terms("1", 60, 60, 0, "0");
        assert_eq!(m(&t, "2.5", 10_800), 120);
        // Rounding decides: 1 s at 0.0001/min is 0.0000016… → 0 half-up, so everything up to
        // 29 s rounds to 0 at 4 places; 30 s is 0.00005 → 0.0001.
        let t = terms("0.0001", 0, 1, 0, "0");
        assert_eq!(m(&t, "0", 10_800), 29);
        let c = max_seconds(&t, d("0"), 4, Rounding::Ceiling, 10_800).unwrap();
        assert_eq!(c, 0);
        let c = max_seconds(&t, d("0"), 4, Rounding::HalfEven, 10_800).unwrap();
        assert_eq!(c, 30, "0.00005 rounds half-even to 0.0000");
    }

    #[test]
    fn last_true_finds_the_boundary_from_any_guess() {
        for boundary in 0u64..40 {
            for guess in 3u64..=30 {
                let got = last_true(3, 30, guess, |k| k <= boundary);
                let want = if boundary < 3 {
                    None
                } else {
                    Some(boundary.min(30))
                };
                assert_eq!(got, want, "boundary {boundary} guess {guess}");
            }
        }
    }

    #[test]
    fn exact_rounding_matches_money_round_where_division_is_exact() {
        for (num, den) in [
            (15i128, 10i128),
            (25, 10),
            (-15, 10),
            (-25, 10),
            (7, 60),
            (-7, 60),
        ] {
            for (_, mode) in Rounding::ALL {
                let exact = Decimal::from_i128_with_scale(num, 0) / Decimal::from(den);
                let want = money::round(exact, 0, *mode);
                let got = Decimal::from(round_div(num, den, *mode).unwrap());
                assert_eq!(got, want, "{num}/{den} {mode:?}");
            }
        }
    }

    fn arb_terms() -> impl Strategy<Value = RateTerms> {
        (
            0i64..100_000_000,
            0u32..=6,
            0u32..=120,
            1u32..=120,
            0u32..=10,
            0i64..10_000,
        )
            .prop_map(|(rate, rate_dp, min, interval, grace, setup)| RateTerms {
                rate: Decimal::new(rate, rate_dp),
                min_volume: min,
                interval,
                grace_volume: grace,
                setup_fee: Decimal::new(setup, 4),
            })
    }

    fn arb_rounding() -> impl Strategy<Value = Rounding> {
        prop::sample::select(Rounding::ALL.iter().map(|(_, r)| *r).collect::<Vec<_>>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn cost_never_decreases_as_duration_grows(
            t in arb_terms(), d1 in 0u64..20_000, extra in 0u64..5_000,
            p in 0u32..=6, r in arb_rounding(),
        ) {
            let c1 = cost(&t, d1, p, r).unwrap();
            let c2 = cost(&t, d1 + extra, p, r).unwrap();
            prop_assert!(c1 <= c2, "{c1} > {c2}");
            prop_assert!(c1 >= Decimal::ZERO);
        }

        #[test]
        fn billed_covers_duration_outside_grace(t in arb_terms(), secs in 0u64..1_000_000) {
            let billed = billed_seconds(&t, secs);
            if secs == 0 || secs <= u64::from(t.grace_volume) {
                prop_assert_eq!(billed, 0);
            } else {
                prop_assert!(billed >= secs);
                prop_assert!(billed >= u64::from(t.min_volume));
                // Never more than one step (or the minimum) beyond the duration.
                prop_assert!(billed < secs + u64::from(t.interval) || billed == u64::from(t.min_volume));
            }
        }

        #[test]
        fn cost_matches_decimal_arithmetic(
            t in arb_terms(), secs in 0u64..100_000, p in 0u32..=6, r in arb_rounding(),
        ) {
            // Decimal division keeps 28 significant digits: plenty for these magnitudes, so
            // the naive formula must agree with the exact one.
            let billed = billed_seconds(&t, secs);
            let naive = if billed == 0 {
                Decimal::ZERO
            } else {
                t.setup_fee + t.rate * Decimal::from(billed) / Decimal::from(60)
            };
            prop_assert_eq!(cost(&t, secs, p, r).unwrap(), money::round(naive, p, r));
        }

        #[test]
        fn max_seconds_is_the_exact_boundary(
            t in arb_terms(), avail_units in -1_000i64..5_000_000, avail_dp in 0u32..=6,
            p in 0u32..=6, r in arb_rounding(), cap in 0u64..20_000,
        ) {
            let avail = Decimal::new(avail_units, avail_dp);
            let max = max_seconds(&t, avail, p, r, cap).unwrap();
            prop_assert!(max <= cap);
            if avail < Decimal::ZERO {
                prop_assert_eq!(max, 0);
            } else {
                let c = cost(&t, max, p, r).unwrap();
                prop_assert!(c <= avail, "cost({max}) = {c} > {avail}");
                if max < cap {
                    let next = cost(&t, max + 1, p, r).unwrap();
                    prop_assert!(next > avail, "cost({}) = {next} <= {avail}", max + 1);
                }
                prop_assert!(max >= cap.min(u64::from(t.grace_volume)));
            }
        }

        #[test]
        fn a_bundle_never_costs_more_and_never_decreases_with_duration(
            t in arb_terms(), d1 in 0u64..20_000, extra in 0u64..5_000, v in 1u64..5_000,
            p in 0u32..=6, r in arb_rounding(),
        ) {
            let c1 = cost_after_volume(&t, d1, v, p, r).unwrap();
            let c2 = cost_after_volume(&t, d1 + extra, v, p, r).unwrap();
            prop_assert!(c1 <= c2, "{c1} > {c2}");
            prop_assert!(c1 <= cost(&t, d1, p, r).unwrap());
            // Wholly covered: free. Otherwise the rate on what the bundle left over.
            let billed = billed_seconds(&t, d1);
            let paid = billed - volume_covered(&t, d1, v);
            let naive = t.rate * Decimal::from(paid) / Decimal::from(60);
            prop_assert_eq!(c1, money::round(naive, p, r));
        }

        #[test]
        fn max_seconds_with_a_bundle_is_the_exact_boundary(
            t in arb_terms(), avail_units in -1_000i64..5_000_000, avail_dp in 0u32..=6,
            v in 0u64..5_000, p in 0u32..=6, r in arb_rounding(), cap in 0u64..20_000,
        ) {
            let avail = Decimal::new(avail_units, avail_dp);
            let max = max_seconds_with_volume(&t, avail, v, p, r, cap).unwrap();
            prop_assert!(max <= cap);
            prop_assert!(max >= max_seconds(&t, avail, p, r, cap).unwrap());
            let budget = if v > 0 { avail.max(Decimal::ZERO) } else { avail };
            if budget >= Decimal::ZERO {
                let c = cost_after_volume(&t, max, v, p, r).unwrap();
                prop_assert!(c <= budget, "cost({max}) = {c} > {budget}");
                if max < cap {
                    let next = cost_after_volume(&t, max + 1, v, p, r).unwrap();
                    prop_assert!(next > budget, "cost({}) = {next} <= {budget}", max + 1);
                }
            }
            // The bundle alone carries at least what it covers.
            if v > 0 {
                let mut covered_only = 0;
                for d in [max, max + 1] {
                    if d <= cap && billed_seconds(&t, d) <= v { covered_only = d; }
                }
                prop_assert!(max >= covered_only);
            }
        }

        #[test]
        fn huge_terms_never_panic(
            rate in any::<u64>(), scale in 0u32..=28, setup in any::<u64>(),
            secs in 0u64..=limits::rated_duration_seconds_max, p in 0u32..=10,
        ) {
            let t = RateTerms {
                rate: Decimal::from_i128_with_scale(i128::from(rate) << 32, scale),
                min_volume: 0, interval: 1, grace_volume: 0,
                setup_fee: Decimal::from_i128_with_scale(i128::from(setup) << 30, 28 - scale),
            };
            let _ = cost(&t, secs, p, Rounding::HalfUp);
            let _ = max_seconds(&t, Decimal::MAX, p, Rounding::Ceiling, secs);
        }
    }
}

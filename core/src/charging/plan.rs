//! Pricing: rate tables, currencies and exchange rates, and the plan a call is charged by.

use super::state::{all, AccountState, ClientState};
use super::{Charging, HashMap};
use crate::clock;
use crate::error::{ChargeError, Error, Result, ValidationError};
use crate::limits;
use crate::model::{dec, int, text, Record, Val, CURRENCIES, EXCHANGE_RATES, RATES};
use crate::money::{self, Rounding};
use crate::rating::{RateIndex, RateTerms, Timed};
use crate::store::{ListQuery, StoreTx};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;

#[derive(Debug, Clone)]
struct RateEntry {
    code_name: Arc<str>,
    terms: RateTerms,
}

#[derive(Debug)]
pub(super) struct Table {
    currency: i64,
    rounding: Rounding,
    index: RateIndex<RateEntry>,
}

#[derive(Debug, Clone)]
pub(super) struct ExchangeRow {
    from: i64,
    to: i64,
    rate: Decimal,
    effective_from: DateTime<Utc>,
}

/// How one call is priced: everything `settle` needs, fixed at `authorize`.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) account: i64,
    pub(super) client: i64,
    /// The client's company: the scope of the call's id.
    pub(super) company: i64,
    pub(super) companies: Chain,
    pub(super) table: i64,
    /// The matched code is the first `code_len` digits of `destination` (no shared string
    /// touched per call).
    code_len: usize,
    pub(super) code_name: Arc<str>,
    pub(super) terms: RateTerms,
    pub(super) precision: u32,
    pub(super) rounding: Rounding,
    pub(super) currency: i64,
    pub(super) destination: String,
    pub(super) source: Option<String>,
    pub(super) connect_time: DateTime<Utc>,
}

impl Plan {
    pub(super) fn code(&self) -> &str {
        self.destination.get(..self.code_len).unwrap_or_default()
    }
}

impl Plan {
    /// The plan as an open reservation's stored row carries it (exact: amounts as strings),
    /// serialised straight to text by `serde` (no `serde_json::Value` tree per call).
    pub(super) fn stored(&self) -> StoredPlan<'_> {
        StoredPlan {
            account: self.account,
            client: self.client,
            company: self.company,
            companies: self.companies.as_slice(),
            table: self.table,
            code_len: self.code_len,
            code_name: &self.code_name,
            rate: Exact(self.terms.rate),
            min_volume: self.terms.min_volume,
            interval: self.terms.interval,
            grace_volume: self.terms.grace_volume,
            setup_fee: Exact(self.terms.setup_fee),
            precision: self.precision,
            rounding: self.rounding.as_str(),
            currency: self.currency,
            destination: &self.destination,
            source: self.source.as_deref(),
            connect_time: ExactTime(self.connect_time),
        }
    }

    /// A plan read back from a stored reservation; any missing or malformed part is an error
    /// (a stored reservation is never half restored).
    pub(super) fn from_json(v: &serde_json::Value) -> Result<Plan> {
        let bad = |what: &str| Error::Internal(format!("stored reservation: bad {what}"));
        let i = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_i64)
                .ok_or_else(|| bad(k))
        };
        let u32_of = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(k))
        };
        let s = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad(k))
        };
        let d = |k: &str| s(k).and_then(|t| money::parse_str(k, t).map_err(|_| bad(k)));
        let mut companies = Chain::default();
        for c in v
            .get("companies")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| bad("companies"))?
        {
            companies.push(c.as_i64().ok_or_else(|| bad("companies"))?)?;
        }
        let destination = s("destination")?.to_string();
        let code_len = v
            .get("code_len")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= destination.len())
            .ok_or_else(|| bad("code_len"))?;
        let terms = RateTerms::new(
            d("rate")?,
            u32_of("min_volume")?,
            u32_of("interval")?,
            u32_of("grace_volume")?,
            d("setup_fee")?,
        )?;
        Ok(Plan {
            account: i("account")?,
            client: i("client")?,
            company: i("company")?,
            companies,
            table: i("table")?,
            code_len,
            code_name: Arc::from(s("code_name")?),
            terms,
            precision: u32_of("precision")?,
            rounding: Rounding::parse(s("rounding")?).ok_or_else(|| bad("rounding"))?,
            currency: i("currency")?,
            destination,
            source: match v.get("source") {
                None | Some(serde_json::Value::Null) => None,
                Some(x) => Some(x.as_str().ok_or_else(|| bad("source"))?.to_string()),
            },
            connect_time: clock::parse_dt(s("connect_time")?).ok_or_else(|| bad("connect_time"))?,
        })
    }
}

/// A plan as a stored reservation keeps it: the keys and values `from_json` reads back.
#[derive(serde::Serialize)]
pub(super) struct StoredPlan<'a> {
    account: i64,
    client: i64,
    company: i64,
    companies: &'a [i64],
    table: i64,
    code_len: usize,
    code_name: &'a str,
    rate: Exact,
    min_volume: u32,
    interval: u32,
    grace_volume: u32,
    setup_fee: Exact,
    precision: u32,
    rounding: &'static str,
    currency: i64,
    destination: &'a str,
    source: Option<&'a str>,
    connect_time: ExactTime,
}

/// An amount stored exactly: its decimal text, scale kept (`Decimal`'s `Display`).
pub(super) struct Exact(pub(super) Decimal);

impl serde::Serialize for Exact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A time stored to the nanosecond ([`exact_time`]).
pub(super) struct ExactTime(pub(super) DateTime<Utc>);

impl serde::Serialize for ExactTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&exact_time(self.0))
    }
}

/// A time as a stored reservation keeps it: RFC 3339 to the nanosecond (read by
/// `clock::parse_dt`), so a restored reservation is the one acknowledged, to the instant.
pub(super) fn exact_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A company and its ancestors, nearest first, without a heap allocation per call.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Chain {
    ids: [i64; limits::company_depth_max + 1],
    len: usize,
}

impl Chain {
    fn push(&mut self, id: i64) -> Result<()> {
        let slot = self
            .ids
            .get_mut(self.len)
            .ok_or_else(|| Error::Internal("company tree is too deep".into()))?;
        *slot = id;
        self.len += 1;
        Ok(())
    }

    pub(super) fn as_slice(&self) -> &[i64] {
        &self.ids[..self.len]
    }
}

fn seconds(r: &Record, k: &str) -> u32 {
    int(r, k).and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

fn dt(r: &Record, k: &str) -> Option<DateTime<Utc>> {
    r.get(k).and_then(Val::as_text).and_then(clock::parse_dt)
}

pub(super) fn load_table(tx: &dyn StoreTx, table: &Record) -> Result<Table> {
    let id = int(table, "id").unwrap_or_default();
    let mut items = Vec::new();
    let q = ListQuery::everything(vec![("id_rate_tables", Val::Int(id))]);
    crate::store::each_row(tx, &RATES, &q, |r| {
        let r = &r;
        let terms = RateTerms {
            rate: dec(r, "rate"),
            min_volume: seconds(r, "min_volume"),
            interval: seconds(r, "interval").max(1),
            grace_volume: seconds(r, "grace_volume"),
            setup_fee: dec(r, "setup_fee"),
        };
        let from = dt(r, "effective_from").ok_or_else(|| {
            Error::Internal(format!("rate {:?} has no effective_from", int(r, "id")))
        })?;
        let timed = Timed {
            effective_from: from,
            effective_till: dt(r, "effective_till"),
            value: RateEntry {
                code_name: Arc::from(text(r, "code_name")),
                terms,
            },
        };
        items.push((text(r, "code").to_string(), timed));
        Ok(())
    })?;
    Ok(Table {
        currency: int(table, "id_currencies").unwrap_or(1),
        rounding: Rounding::parse(text(table, "rounding")).unwrap_or_default(),
        index: RateIndex::build(items)?,
    })
}

pub(super) fn load_currencies(tx: &dyn StoreTx) -> Result<(HashMap<i64, u32>, Vec<ExchangeRow>)> {
    let precisions = all(tx, &CURRENCIES)?
        .iter()
        .map(|c| {
            (
                int(c, "id").unwrap_or_default(),
                u32::try_from(int(c, "details_precision").unwrap_or(4)).unwrap_or(4),
            )
        })
        .collect();
    let mut rows: Vec<ExchangeRow> = all(tx, &EXCHANGE_RATES)?
        .iter()
        .filter_map(|r| {
            Some(ExchangeRow {
                from: int(r, "id_currencies")?,
                to: int(r, "id_currencies_to")?,
                rate: dec(r, "rate"),
                effective_from: dt(r, "effective_from")?,
            })
        })
        .collect();
    rows.sort_by_key(|r| r.effective_from);
    Ok((precisions, rows))
}

impl Charging {
    pub(super) fn company_chain(&self, company: i64) -> Result<Chain> {
        let map = self.companies.read();
        let mut chain = Chain::default();
        let mut at = Some(company);
        while let Some(id) = at {
            if chain.len > limits::company_depth_max {
                return Err(Error::Internal("company tree has a cycle".into()));
            }
            let c = map
                .get(&id)
                .ok_or_else(|| Error::Internal(format!("company {id} not loaded")))?;
            if !c.active {
                return Err(ChargeError::CompanyBlocked(id).into());
            }
            chain.push(id)?;
            at = c.parent;
        }
        Ok(chain)
    }

    /// The exchange rate from `from` to `to` in force at `at`: the direct rate, else the
    /// opposite one to divide by.
    fn exchange_rate(&self, from: i64, to: i64, at: DateTime<Utc>) -> Result<Exchange> {
        if from == to {
            return Ok(Exchange::Multiply(Decimal::ONE));
        }
        let rows = self.exchange.read();
        let newest = |f: i64, t: i64| {
            rows.iter()
                .rev()
                .find(|r| r.from == f && r.to == t && r.effective_from <= at)
                .map(|r| r.rate)
        };
        if let Some(r) = newest(from, to) {
            return Ok(Exchange::Multiply(r));
        }
        if let Some(r) = newest(to, from) {
            return Ok(Exchange::Divide(r));
        }
        Err(crate::error::MoneyError::NoExchangeRate {
            from: from.to_string(),
            to: to.to_string(),
        }
        .into())
    }

    /// A rate's terms in the client's `currency` (converted at the exchange rate in force at
    /// `at` when the table's currency differs), and that currency's precision.
    fn terms_in(
        &self,
        table: &Table,
        terms: &RateTerms,
        currency: i64,
        at: DateTime<Utc>,
    ) -> Result<(RateTerms, u32)> {
        let terms = if table.currency == currency {
            *terms
        } else {
            let x = self.exchange_rate(table.currency, currency, at)?;
            RateTerms {
                rate: x.apply(terms.rate)?,
                setup_fee: x.apply(terms.setup_fee)?,
                ..*terms
            }
        };
        let precision = self.precisions.read().get(&currency).copied().unwrap_or(4);
        Ok((terms, precision))
    }

    /// Price a call: the plan `settle` will charge by. Runs under the client's lock.
    pub(super) fn plan(
        &self,
        account: &AccountState,
        client: &ClientState,
        destination: &str,
        source: Option<&str>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Plan> {
        check_number("destination", destination)?;
        let table_id = account
            .rate_table
            .or(client.rate_table)
            .ok_or_else(|| ChargeError::NoRate(format!("{destination} (no rate table)")))?;
        let table = self.tables.read().get(&table_id).cloned().ok_or_else(|| {
            ChargeError::NoRate(format!("{destination} (rate table {table_id} missing)"))
        })?;
        let (code, timed) = table
            .index
            .lookup_at(destination, at)
            .ok_or_else(|| ChargeError::NoRate(destination.to_string()))?;
        let entry = &timed.value;
        let (terms, precision) = self.terms_in(&table, &entry.terms, client.currency, now)?;
        Ok(Plan {
            account: account.id,
            client: account.client,
            company: client.company,
            companies: Chain::default(),
            table: table_id,
            code_len: code.len(),
            code_name: Arc::clone(&entry.code_name),
            terms,
            precision,
            rounding: table.rounding,
            currency: client.currency,
            destination: destination.to_string(),
            source: source.map(str::to_string),
            connect_time: at,
        })
    }

    /// Price a call by the same plan `settle` charges by, reserving and charging nothing
    /// (pure rating: `Engine::rate`).
    pub(crate) fn quote(
        &self,
        account: &str,
        auth_type: Option<&str>,
        destination: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<crate::charging::rate_file::Quote> {
        let account = self.find_account(account, auth_type)?;
        let state = self.client(account.client)?;
        let client = state.lock();
        let p = self.plan(&account, &client, destination, None, at, now)?;
        Ok(crate::charging::rate_file::Quote {
            account: p.account,
            client: p.client,
            code: p.code().to_string(),
            code_name: p.code_name.to_string(),
            terms: p.terms,
            precision: p.precision,
            rounding: p.rounding,
            currency: p.currency,
        })
    }
}

/// A call priced again (re-rating): its code, terms and cost by the rates in force at its
/// connect time.
#[derive(Debug, Clone)]
pub(crate) struct Repriced {
    pub(crate) code: String,
    pub(crate) code_name: String,
    pub(crate) terms: RateTerms,
    pub(crate) billed_seconds: u64,
    pub(crate) cost: Decimal,
}

/// What re-pricing a recorded call needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorded<'a> {
    /// The rate table to price with.
    pub(crate) table: i64,
    pub(crate) destination: &'a str,
    pub(crate) connect_time: DateTime<Utc>,
    pub(crate) duration: u64,
    /// Included seconds that covered it (kept: a re-rating takes no more, gives none back).
    pub(crate) volume_seconds: u64,
    /// The client's currency (the xDR's).
    pub(crate) currency: i64,
    /// When it was charged: the exchange rate in force then is the one its charge used.
    pub(crate) charged_at: DateTime<Utc>,
}

impl Charging {
    /// Price a recorded call again, by the same lookup, conversion and formula as a settle,
    /// from the in-memory rate tables (which follow every committed change of rates).
    pub(crate) fn reprice(&self, r: &Recorded<'_>) -> Result<Repriced> {
        let table = self.tables.read().get(&r.table).cloned().ok_or_else(|| {
            ChargeError::NoRate(format!(
                "{} (rate table {} missing)",
                r.destination, r.table
            ))
        })?;
        let (code, timed) = table
            .index
            .lookup_at(r.destination, r.connect_time)
            .ok_or_else(|| ChargeError::NoRate(r.destination.to_string()))?;
        let entry = &timed.value;
        let (terms, precision) = self.terms_in(&table, &entry.terms, r.currency, r.charged_at)?;
        let billed_seconds = crate::rating::billed_seconds(&terms, r.duration);
        let cost = if r.volume_seconds > 0 {
            crate::rating::cost_after_volume(
                &terms,
                r.duration,
                r.volume_seconds,
                precision,
                table.rounding,
            )?
        } else {
            crate::rating::cost(&terms, r.duration, precision, table.rounding)?
        };
        Ok(Repriced {
            code: code.to_string(),
            code_name: entry.code_name.to_string(),
            terms,
            billed_seconds,
            cost,
        })
    }
}

fn check_number(field: &str, n: &str) -> Result<()> {
    if n.is_empty() || n.len() > limits::number_length_max || !n.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ValidationError::invalid(
            field,
            format!("must be 1 to {} digits", limits::number_length_max),
        )
        .into());
    }
    Ok(())
}

/// How a rate table's prices become the client's currency.
#[derive(Debug, Clone, Copy)]
enum Exchange {
    /// Multiply by the direct rate: exact (a rate has at most 16 digits and an exchange rate
    /// at most `limits::exchange_rate_digits_max`, so the product has at most 28), refused
    /// (`money.overflow`) if it ever is not.
    Multiply(Decimal),
    /// Divide by the opposite rate. The quotient rarely terminates, so it is rounded half up
    /// to `limits::amount_scale_max` places — a named rounding, below any details precision,
    /// before the cost's own rounding.
    Divide(Decimal),
}

impl Exchange {
    fn apply(self, price: Decimal) -> Result<Decimal> {
        Ok(match self {
            Exchange::Multiply(x) => money::exact_mul(price, x)?,
            Exchange::Divide(r) => {
                money::div_round(price, r, limits::amount_scale_max, Rounding::HalfUp)?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charging::state::{AccountState, ClientState, CompanyState};
    use crate::error::ErrorCode;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        clock::parse_dt(s).unwrap()
    }

    fn terms(rate: &str, setup_fee: &str) -> RateTerms {
        RateTerms {
            rate: d(rate),
            min_volume: 60,
            interval: 60,
            grace_volume: 0,
            setup_fee: d(setup_fee),
        }
    }

    /// A table in currency `currency` with one rate for `code`, effective from 2020.
    fn table(currency: i64, code: &str, t: RateTerms) -> Table {
        let timed = Timed {
            effective_from: at("2020-01-01 00:00:00"),
            effective_till: None,
            value: RateEntry {
                code_name: Arc::from("Name"),
                terms: t,
            },
        };
        Table {
            currency,
            rounding: Rounding::HalfUp,
            index: RateIndex::build(vec![(code.to_string(), timed)]).unwrap(),
        }
    }

    fn client(currency: i64, rate_table: Option<i64>) -> ClientState {
        ClientState {
            company: 1,
            active: true,
            balance: Decimal::ZERO,
            credit: Decimal::ZERO,
            held: Decimal::ZERO,
            capacity: None,
            calls: 0,
            account_calls: HashMap::default(),
            currency,
            rate_table,
            volumes: Vec::new(),
            volume_held: Default::default(),
        }
    }

    fn account(rate_table: Option<i64>) -> AccountState {
        AccountState {
            id: 7,
            client: 3,
            active: true,
            capacity: None,
            rate_table,
            kind: 2,
            ident: "100".into(),
        }
    }

    fn row(from: i64, to: i64, rate: &str, effective_from: &str) -> ExchangeRow {
        ExchangeRow {
            from,
            to,
            rate: d(rate),
            effective_from: at(effective_from),
        }
    }

    #[test]
    fn a_chain_holds_a_company_and_its_ancestors_up_to_the_depth_limit() {
        let mut chain = Chain::default();
        assert!(chain.as_slice().is_empty());
        for id in 0..=limits::company_depth_max as i64 {
            chain.push(id + 10).unwrap();
        }
        assert_eq!(chain.as_slice().len(), limits::company_depth_max + 1);
        assert_eq!(chain.as_slice()[0], 10, "nearest first");
        let e = chain.push(99).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Internal);
        assert_eq!(chain.as_slice().len(), limits::company_depth_max + 1);
    }

    #[test]
    fn a_company_chain_follows_parents_and_refuses_a_blocked_one() {
        let c = Charging::default();
        let company = |parent, active| {
            Arc::new(CompanyState {
                parent,
                active,
                capacity: None,
                calls: Default::default(),
            })
        };
        c.companies.write().insert(1, company(None, true));
        c.companies.write().insert(5, company(Some(1), true));
        c.companies.write().insert(6, company(Some(5), true));
        c.companies.write().insert(8, company(Some(1), false));
        assert_eq!(c.company_chain(6).unwrap().as_slice(), &[6, 5, 1]);
        let blocked = c.company_chain(8).unwrap_err();
        assert_eq!(blocked.code(), ErrorCode::CompanyBlocked);
        assert_eq!(c.company_chain(42).unwrap_err().code(), ErrorCode::Internal);
        // A cycle is refused, not followed forever.
        c.companies.write().insert(1, company(Some(6), true));
        assert_eq!(c.company_chain(6).unwrap_err().code(), ErrorCode::Internal);
    }

    #[test]
    fn an_exchange_multiplies_exactly_or_divides_rounded_half_up() {
        let m = Exchange::Multiply(d("1.25")).apply(d("0.0123")).unwrap();
        assert_eq!(m, d("0.015375"));
        let q = Exchange::Divide(d("3")).apply(d("1")).unwrap();
        assert_eq!(q.scale(), limits::amount_scale_max);
        assert_eq!(
            q,
            money::round(
                d("0.33333333333333333333"),
                limits::amount_scale_max,
                Rounding::HalfUp
            )
        );
        let two_thirds = Exchange::Divide(d("3")).apply(d("2")).unwrap();
        assert!(two_thirds > d("0.6666"), "rounded up: {two_thirds}");
        // A product without an exact Decimal is refused, never cut.
        let big = d("79228162514264337593543950335");
        assert!(Exchange::Multiply(d("1.5")).apply(big).is_err());
    }

    #[test]
    fn the_exchange_rate_is_the_newest_direct_one_else_the_inverse() {
        let c = Charging::default();
        *c.exchange.write() = vec![
            row(1, 2, "0.5", "2020-01-01 00:00:00"),
            row(1, 2, "0.8", "2025-01-01 00:00:00"),
            row(3, 1, "4", "2020-01-01 00:00:00"),
        ];
        let now = at("2026-01-15 12:00:00");
        let rate = |from, to, when| match c.exchange_rate(from, to, when) {
            Ok(Exchange::Multiply(x)) => format!("*{x}"),
            Ok(Exchange::Divide(x)) => format!("/{x}"),
            Err(e) => e.code().as_str().to_string(),
        };
        assert_eq!(rate(2, 2, now), "*1");
        assert_eq!(rate(1, 2, now), "*0.8");
        assert_eq!(rate(1, 2, at("2024-06-01 00:00:00")), "*0.5");
        assert_eq!(rate(1, 3, now), "/4");
        assert_eq!(
            rate(1, 2, at("2019-01-01 00:00:00")),
            "money.no_exchange_rate"
        );
        assert_eq!(rate(2, 3, now), "money.no_exchange_rate");
    }

    #[test]
    fn a_plan_takes_the_account_table_first_and_converts_its_terms() {
        let c = Charging::default();
        c.tables
            .write()
            .insert(1, Arc::new(table(1, "44", terms("1", "0.3"))));
        c.tables
            .write()
            .insert(2, Arc::new(table(2, "4420", terms("2", "0"))));
        c.precisions.write().insert(1, 2);
        *c.exchange.write() = vec![row(2, 1, "1.5", "2020-01-01 00:00:00")];
        let now = at("2026-01-15 12:00:00");
        // The client's own table, in its currency.
        let p = c
            .plan(
                &account(None),
                &client(1, Some(1)),
                "4420123",
                None,
                now,
                now,
            )
            .unwrap();
        assert_eq!((p.table, p.code(), p.precision), (1, "44", 2));
        assert_eq!(p.terms, terms("1", "0.3"));
        assert_eq!((p.account, p.client, p.company), (7, 3, 1));
        // The account's table wins, and its prices become the client's currency.
        let p = c
            .plan(
                &account(Some(2)),
                &client(1, Some(1)),
                "4420123",
                Some("1"),
                now,
                now,
            )
            .unwrap();
        assert_eq!((p.table, p.code(), p.currency), (2, "4420", 1));
        assert_eq!(p.terms.rate, d("3.0"));
        assert_eq!(p.source.as_deref(), Some("1"));
        // A client currency without an exchange rate cannot be priced.
        let p = c.plan(&account(None), &client(9, Some(1)), "44", None, now, now);
        assert_eq!(p.unwrap_err().code(), ErrorCode::MoneyNoExchangeRate);
    }

    /// The stored form, written by `serde` from typed fields, is exactly the object the
    /// earlier `json!` tree made (kept here as the oracle), and reads back to the same plan.
    #[test]
    fn a_stored_plan_is_the_object_it_always_was_and_reads_back_whole() {
        let c = Charging::default();
        c.tables
            .write()
            .insert(2, Arc::new(table(2, "4420", terms("2.50", "0.0300"))));
        c.precisions.write().insert(1, 4);
        *c.exchange.write() = vec![row(2, 1, "1.5", "2020-01-01 00:00:00")];
        let now = at("2026-01-15 12:00:00") + chrono::Duration::nanoseconds(123_456_789);
        let mut p = c
            .plan(
                &account(Some(2)),
                &client(1, Some(1)),
                "4420123",
                Some("44 \"quoted\""),
                now,
                now,
            )
            .unwrap();
        p.companies = c.company_chain(1).unwrap_or_default();
        for source in [p.source.clone(), None] {
            p.source = source;
            let oracle = serde_json::json!({
                "account": p.account,
                "client": p.client,
                "company": p.company,
                "companies": p.companies.as_slice(),
                "table": p.table,
                "code_len": p.code_len,
                "code_name": &*p.code_name,
                "rate": p.terms.rate.to_string(),
                "min_volume": p.terms.min_volume,
                "interval": p.terms.interval,
                "grace_volume": p.terms.grace_volume,
                "setup_fee": p.terms.setup_fee.to_string(),
                "precision": p.precision,
                "rounding": p.rounding.as_str(),
                "currency": p.currency,
                "destination": p.destination,
                "source": p.source,
                "connect_time": exact_time(p.connect_time),
            });
            let text = serde_json::to_string(&p.stored()).unwrap();
            assert_eq!(text, oracle.to_string());
            let back = Plan::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(serde_json::to_string(&back.stored()).unwrap(), text);
            assert_eq!((back.terms, back.connect_time), (p.terms, now));
        }
    }

    #[test]
    fn a_plan_needs_a_number_a_table_and_a_rate() {
        // (Without a known precision the default of 4 applies.)
        let c = Charging::default();
        c.tables
            .write()
            .insert(1, Arc::new(table(1, "44", terms("1", "0"))));
        let now = at("2026-01-15 12:00:00");
        let code = |a: &AccountState, cl: &ClientState, n: &str| {
            c.plan(a, cl, n, None, now, now)
                .map(|p| p.precision)
                .map_err(|e| e.code())
        };
        assert_eq!(code(&account(None), &client(1, Some(1)), "44"), Ok(4));
        assert_eq!(
            code(&account(None), &client(1, Some(1)), "44a"),
            Err(ErrorCode::ValidationInvalid)
        );
        assert_eq!(
            code(&account(None), &client(1, None), "44"),
            Err(ErrorCode::RatingNoRate)
        );
        assert_eq!(
            code(&account(Some(5)), &client(1, Some(1)), "44"),
            Err(ErrorCode::RatingNoRate)
        );
        assert_eq!(
            code(&account(None), &client(1, Some(1)), "33"),
            Err(ErrorCode::RatingNoRate)
        );
        // Before the rate is in force there is none.
        let old = at("2019-01-01 00:00:00");
        let p = c.plan(&account(None), &client(1, Some(1)), "44", None, old, now);
        assert_eq!(p.unwrap_err().code(), ErrorCode::RatingNoRate);
    }

    #[test]
    fn numbers_are_one_to_the_maximum_of_digits() {
        assert!(check_number("destination", "0").is_ok());
        assert!(check_number("destination", &"9".repeat(limits::number_length_max)).is_ok());
        for bad in ["", "+44", "44 1", "４４"] {
            assert!(check_number("destination", bad).is_err(), "{bad:?}");
        }
        let long = "1".repeat(limits::number_length_max + 1);
        assert!(check_number("destination", &long).is_err());
    }
}

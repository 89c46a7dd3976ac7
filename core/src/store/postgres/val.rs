//! [`Val`]s to and from PostgreSQL. A value is sent in the type the server expects for its
//! parameter (an integer to a `NUMERIC` column is sent as a numeric, a number to a `TEXT`
//! one as text), so generic rows behave as they do with SQLite's type affinity; anything
//! that cannot be converted exactly is an error, never a lossy cast.

use crate::model::{FieldKind, Val};
use postgres::types::{private::BytesMut, IsNull, ToSql, Type};
use rust_decimal::Decimal;
use std::error::Error as StdError;
use std::str::FromStr;

type BoxError = Box<dyn StdError + Sync + Send>;

/// A [`Val`] as a statement parameter.
#[derive(Debug)]
pub(super) struct PgVal<'a>(pub(super) &'a Val);

impl ToSql for PgVal<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let mismatch = || -> BoxError { format!("cannot send {:?} as {ty}", self.0).into() };
        match self.0 {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::NUMERIC => PgDec(Decimal::from(*i)).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    i.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(mismatch()),
            },
            Val::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(ty, out)
                }
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                Type::NUMERIC => PgDec(Decimal::from_str(s)?).to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Val::Dec(d) => match *ty {
                Type::NUMERIC => PgDec(*d).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => d.to_string().as_str().to_sql(ty, out),
                Type::INT8 if d.fract().is_zero() => i64::try_from(*d)?.to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Val::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                Type::INT8 => i64::from(*b).to_sql(ty, out),
                Type::INT4 => i32::from(*b).to_sql(ty, out),
                _ => Err(mismatch()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A [`Decimal`] as a `NUMERIC` parameter that keeps its scale. (The driver sends a zero
/// without its scale, so `0.0000` would read back as `0`; amounts are shown as stored.)
#[derive(Debug, Clone, Copy)]
pub(super) struct PgDec(pub(super) Decimal);

impl ToSql for PgDec {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if !self.0.is_zero() || *ty != Type::NUMERIC {
            return self.0.to_sql(ty, out);
        }
        // NUMERIC's binary form: ndigits, weight, sign, dscale (then no digits).
        let scale = u16::try_from(self.0.scale())?;
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&scale.to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        <Decimal as ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}

/// Column `idx` of `row` as a [`Val`] of `kind`.
pub(super) fn read_val(
    row: &postgres::Row,
    idx: usize,
    kind: FieldKind,
) -> Result<Val, postgres::Error> {
    let ty = row.columns()[idx].type_().clone();
    Ok(match ty {
        Type::INT8 => match row.try_get::<_, Option<i64>>(idx)? {
            None => Val::Null,
            Some(i) if matches!(kind, FieldKind::Bool) => Val::Bool(i != 0),
            Some(i) => Val::Int(i),
        },
        Type::INT4 => match row.try_get::<_, Option<i32>>(idx)? {
            None => Val::Null,
            Some(i) => Val::Int(i64::from(i)),
        },
        Type::NUMERIC => match row.try_get::<_, Option<Decimal>>(idx)? {
            None => Val::Null,
            Some(d) => Val::Dec(d),
        },
        Type::BOOL => match row.try_get::<_, Option<bool>>(idx)? {
            None => Val::Null,
            Some(b) => Val::Bool(b),
        },
        _ => match row.try_get::<_, Option<String>>(idx)? {
            None => Val::Null,
            Some(s) => Val::Text(s),
        },
    })
}

//! `taxProfiles`: named tax percentages of a company; a client's `id_taxes_profiles` selects
//! the one its invoices apply.

use super::crud::{self, Crud, Mode, Op};
use super::{Ctx, Registry};
use crate::error::{Result, ValidationError};
use crate::model::{Record, Val, TAX_PROFILES};
use crate::store::StoreTx;
use rust_decimal::Decimal;

/// A percent is an exact decimal from 0 to 100.
pub(crate) fn check_percent(field: &str, p: Decimal) -> Result<()> {
    if p.is_sign_negative() || p > Decimal::ONE_HUNDRED {
        return Err(ValidationError::OutOfRange {
            field: field.into(),
            reason: format!("a tax percent is from 0 to 100, not {p}"),
        }
        .into());
    }
    Ok(())
}

fn validate(
    _ctx: &Ctx<'_>,
    _tx: &mut dyn StoreTx,
    _mode: Mode,
    rec: &mut Record,
    _existing: Option<&Record>,
) -> Result<()> {
    if let Some(p) = rec.get("percent").and_then(Val::as_dec) {
        check_percent("percent", p)?;
    }
    Ok(())
}

pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        ..Crud::new(&TAX_PROFILES)
    };
    crud::register(
        r,
        c,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
}

//! `companies`: the reseller tree. Company 1 is the operator; a reseller sees its subtree.

use super::crud::{self, Crud, Mode, Op};
use super::{Ctx, Registry};
use crate::error::{Result, ValidationError};
use crate::limits;
use crate::model::{Record, Val, COMPANIES};
use crate::store::StoreTx;

fn validate(
    _ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    mode: Mode,
    rec: &mut Record,
    _existing: Option<&Record>,
) -> Result<()> {
    if mode == Mode::Add {
        if let Some(Val::Int(parent)) = rec.get("parent_id") {
            if tx.company_ancestors(*parent)?.len() >= limits::company_depth_max {
                return Err(ValidationError::OutOfRange {
                    field: "parent_id".into(),
                    reason: format!(
                        "the reseller tree is at most {} levels deep",
                        limits::company_depth_max
                    ),
                }
                .into());
            }
        }
    }
    Ok(())
}

pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        ..Crud::new(&COMPANIES)
    };
    crud::register(
        r,
        c,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
}

//! `companies`: the reseller tree. Company 1 is the operator; a reseller sees its subtree.

use super::crud::{self, Crud, Mode, Op};
use super::{Ctx, Registry};
use crate::error::{Result, ValidationError};
use crate::limits;
use crate::model::{Record, Val, COMPANIES};
use crate::store::StoreTx;

/// A reseller's own company is the root of what it sees: it may not change or delete it
/// (its status, or its place in the tree, belong to the company above).
fn guard_own_root(ctx: &Ctx<'_>, id: Option<i64>) -> Result<()> {
    crate::auth::permit::require_not_own_root(ctx.principal, id)
}

fn on_delete(ctx: &Ctx<'_>, _tx: &mut dyn StoreTx, rec: &Record) -> Result<()> {
    guard_own_root(ctx, rec.get("id").and_then(crate::model::Val::as_int))
}

fn validate(
    ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    mode: Mode,
    rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    guard_own_root(
        ctx,
        existing.and_then(|e| e.get("id")).and_then(Val::as_int),
    )?;
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
        on_delete: Some(on_delete),
        ..Crud::new(&COMPANIES)
    };
    crud::register(
        r,
        c,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
}

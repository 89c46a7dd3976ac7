//! `audit.list`: the trail of state-changing calls, newest last.

use super::crud::{self, Crud, Op};
use super::Registry;
use crate::model::AUDIT;

pub(super) fn register(r: &mut Registry) {
    crud::register(r, Crud::new(&AUDIT), &[Op::List]);
}

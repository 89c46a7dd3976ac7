//! `xdrs.download`: the xDRs a caller may see, as CSV streamed to the caller's writer.

use super::crud;
use super::{ArgDef, Args, Ctx, FileMeta, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::error::{Error, Result, StoreError};
use crate::limits;
use crate::model::{Val, XDRS};
use crate::store::{self, TxKind};
use std::io::Write;

/// The columns of the file, in order: each is a field of [`XDRS`].
pub const XDR_COLUMNS: [&str; 19] = [
    "id",
    "call_id",
    "id_accounts",
    "id_clients",
    "src",
    "dst",
    "code",
    "code_name",
    "rate",
    "setup_fee",
    "duration",
    "billed_seconds",
    "cost",
    "id_currencies",
    "connect_time",
    "end_time",
    "unreserved",
    "id_subscriptions",
    "volume_seconds",
];

/// `list` arguments that make no sense for a whole-file export.
const PAGING: [&str; 6] = ["limit", "offset", "order", "desc", "q", "totals"];

fn args() -> Vec<ArgDef> {
    // `dt_from` and `dt_till` on `connect_time` come with the list arguments.
    crud::list_args(&XDRS)
        .into_iter()
        .filter(|a| !PAGING.contains(&a.name.as_str()))
        .collect()
}

fn write_error(e: impl std::fmt::Display) -> Error {
    StoreError::io(format!("writing the file: {e}")).into()
}

/// A cell as exact text: amounts keep their stored scale, NULL is empty. A text cell that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`
/// (OWASP's CSV-injection rule); numbers are written as they are.
fn cell(v: Option<&Val>) -> String {
    match v {
        None | Some(Val::Null) => String::new(),
        Some(Val::Int(i)) => i.to_string(),
        Some(Val::Text(s)) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Some(Val::Text(s)) => s.clone(),
        Some(Val::Dec(d)) => d.to_string(),
        Some(Val::Bool(b)) => b.to_string(),
    }
}

fn download(ctx: &mut Ctx<'_>, args: &Args, out: &mut dyn Write) -> Result<FileMeta> {
    // The same filters and tenant scope as `xdrs.list`, read in keyset pages by id.
    let mut q = crud::list_query(ctx, &XDRS, args)?;
    q.limit = limits::file_page_rows;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(XDR_COLUMNS).map_err(write_error)?;
    w.flush().map_err(write_error)?;
    let mut after = 0i64;
    let mut cells: Vec<String> = Vec::with_capacity(XDR_COLUMNS.len());
    loop {
        // One short read transaction per page: no lock is held while the writer blocks.
        let page = store::run(ctx.inner.store.as_ref(), TxKind::Read, |tx| {
            tx.list_page(&XDRS, &q, after, &[])
        })?;
        for rec in &page {
            cells.clear();
            cells.extend(XDR_COLUMNS.iter().map(|c| cell(rec.get(c))));
            w.write_record(&cells).map_err(write_error)?;
        }
        // Hand each page to the writer as it is done: the buffer never holds more than one.
        w.flush().map_err(write_error)?;
        let Some(last) = page.last().and_then(|r| r.get("id")).and_then(Val::as_int) else {
            break;
        };
        // Ids only grow from page to page, so the loop ends.
        debug_assert!(last > after);
        after = last;
        if (page.len() as u64) < q.limit {
            break;
        }
    }
    Ok(FileMeta {
        name: format!("xdrs-{}.csv", ctx.now.format("%Y-%m-%d")),
        content_type: "text/csv".into(),
        session_id: None,
    })
}

pub(super) fn register(r: &mut Registry) {
    r.add(MethodDef::new_file(
        "xdrs",
        "download",
        Verb::Read,
        args(),
        Box::new(download),
    ));
}

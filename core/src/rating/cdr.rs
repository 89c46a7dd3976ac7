//! Call detail records as softswitches write them: Asterisk's `cdr_csv` (`Master.csv`),
//! FreeSWITCH's `mod_cdr_csv` default template, and Tollgate's own calls CSV. Each line
//! becomes a [`Cdr`] (who, to where, when answered, billable seconds, the call's unique id)
//! or an error naming the line; the caller charges them.
//!
//! - `asterisk`: no header; fields `accountcode, src, dst, dcontext, clid, channel,
//!   dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition,
//!   amaflags`, then `uniqueid` when `loguniqueid=yes`, then `userfield` when
//!   `loguserfield=yes` (cdr_csv.c's order). Times are local (`usegmtime=no`): read in the
//!   given time zone. Without `uniqueid`, the call id is derived from (accountcode, src, dst,
//!   start, channel). `billsec` is the duration; the connect time is `answer`.
//! - `freeswitch`: no header; `caller_id_name, caller_id_number, destination_number,
//!   context, start_stamp, answer_stamp, end_stamp, duration, billsec, hangup_cause, uuid,
//!   bleg_uuid, accountcode, read_codec, write_codec`; local times; the call id is `uuid`.
//! - `tollgate`: a header naming `call_id, account, destination, connect_time, duration`
//!   (and optionally `source`), in any order; UTC unless the time says otherwise.
//!
//! A call that was not answered (no answer time, or 0 billable seconds) is [`Line::Skipped`]:
//! it costs nothing and writes nothing.

use crate::error::{Error, Result, ValidationError};
use crate::limits;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use std::io::Read;

/// A softswitch's CDR format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdrFormat {
    /// Asterisk `cdr_csv` (`Master.csv`).
    Asterisk,
    /// FreeSWITCH `mod_cdr_csv`, default template.
    FreeSwitch,
    /// Tollgate's calls CSV (the input of `tollgate rate`).
    Tollgate,
}

/// The format names the API and the CLI take.
pub const CDR_FORMATS: &[&str] = &["asterisk", "freeswitch", "tollgate"];

impl CdrFormat {
    /// `asterisk`, `freeswitch` or `tollgate`.
    pub fn parse(name: &str) -> Option<CdrFormat> {
        match name {
            "asterisk" => Some(CdrFormat::Asterisk),
            "freeswitch" => Some(CdrFormat::FreeSwitch),
            "tollgate" => Some(CdrFormat::Tollgate),
            _ => None,
        }
    }
}

/// The zone local CDR times are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// UTC.
    Utc,
    /// An IANA zone (`Europe/Berlin`), daylight saving included.
    Named(chrono_tz::Tz),
    /// A fixed offset (`+02:00`).
    Fixed(chrono::FixedOffset),
}

impl Zone {
    /// `UTC`, an IANA name or a fixed offset `+HH:MM` / `-HH:MM`.
    pub fn parse(name: &str) -> Result<Zone> {
        let t = name.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(Zone::Utc);
        }
        if let Ok(tz) = t.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Named(tz));
        }
        if let Ok(d) =
            DateTime::parse_from_str(&format!("2000-01-01 00:00:00 {t}"), "%Y-%m-%d %H:%M:%S %:z")
        {
            return Ok(Zone::Fixed(*d.offset()));
        }
        Err(ValidationError::invalid(
            "timezone",
            "an IANA zone name (Europe/Berlin), UTC, or an offset such as +02:00",
        )
        .into())
    }

    /// The instant a local time names; a time skipped by a daylight-saving change is none,
    /// one that happened twice is the first.
    fn instant(self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Utc => Some(local.and_utc()),
            Zone::Named(tz) => tz
                .from_local_datetime(&local)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
            Zone::Fixed(o) => o
                .from_local_datetime(&local)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
        }
    }
}

/// How to read a CDR file.
#[derive(Debug, Clone, Copy)]
pub struct CdrOptions {
    /// The format.
    pub format: CdrFormat,
    /// The zone of local times (Asterisk, FreeSWITCH).
    pub zone: Zone,
    /// Asterisk: does the file have `uniqueid` (`loguniqueid=yes`)? `None`: a 17th field
    /// that looks like one (`1700000000.42`) is taken as it, else as `userfield`.
    pub loguniqueid: Option<bool>,
}

/// One call to charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdr {
    /// The call's unique id (the idempotency key of its settle).
    pub call_id: String,
    /// The account code (`None`: find the account by `source` as an ANI).
    pub account: Option<String>,
    /// Calling number.
    pub source: String,
    /// Called number.
    pub destination: String,
    /// When the call was answered.
    pub connect_time: DateTime<Utc>,
    /// Billable seconds.
    pub duration: u64,
}

/// What one line of a CDR file is.
#[derive(Debug)]
pub enum Line {
    /// A call to charge.
    Call(Cdr),
    /// Not answered: nothing to charge.
    Skipped,
    /// Refused, with why.
    Refused(Error),
}

/// Reads a CDR file line by line, streaming.
pub struct CdrReader<R: Read> {
    reader: csv::Reader<R>,
    record: csv::StringRecord,
    opts: CdrOptions,
    /// Positions of the tollgate format's columns.
    columns: Option<[Option<usize>; 6]>,
    /// The file's first fault (no header): reported as line 1.
    fault: Option<Error>,
}

const TOLLGATE_COLUMNS: [&str; 6] = [
    "call_id",
    "account",
    "destination",
    "connect_time",
    "duration",
    "source",
];

impl<R: Read> CdrReader<R> {
    /// A reader of `input` in `opts.format`.
    pub fn new(input: R, opts: CdrOptions) -> CdrReader<R> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(input);
        let mut r = CdrReader {
            reader,
            record: csv::StringRecord::new(),
            opts,
            columns: None,
            fault: None,
        };
        if opts.format == CdrFormat::Tollgate {
            r.read_header();
        }
        r
    }

    fn read_header(&mut self) {
        match self.reader.read_record(&mut self.record) {
            Ok(true) => {
                let mut at = [None; 6];
                for (pos, name) in self.record.iter().enumerate() {
                    let name = name
                        .trim_start_matches('\u{feff}')
                        .trim()
                        .to_ascii_lowercase();
                    if let Some(c) = TOLLGATE_COLUMNS.iter().position(|c| *c == name) {
                        at[c] = Some(pos);
                    }
                }
                match at[..5].iter().position(Option::is_none) {
                    Some(c) => {
                        self.fault = Some(
                            ValidationError::invalid(
                                "csv",
                                format!(
                                    "line 1: the header has no '{}' column (tollgate format: {})",
                                    TOLLGATE_COLUMNS[c],
                                    TOLLGATE_COLUMNS[..5].join(", ")
                                ),
                            )
                            .into(),
                        )
                    }
                    None => self.columns = Some(at),
                }
            }
            Ok(false) => {
                self.fault = Some(
                    ValidationError::invalid(
                        "csv",
                        "empty file: the tollgate format needs a header",
                    )
                    .into(),
                )
            }
            Err(e) => {
                self.fault = Some(ValidationError::invalid("csv", format!("line 1: {e}")).into())
            }
        }
    }

    /// A file-level fault (the tollgate format's header): nothing can be read.
    pub fn fault(&mut self) -> Option<Error> {
        self.fault.take()
    }

    /// The next line (its number and what it is), `None` at the end.
    pub fn next_line(&mut self) -> Option<(u64, Line)> {
        if self.fault.is_some() {
            return None;
        }
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                let parsed = match self.opts.format {
                    CdrFormat::Asterisk => asterisk(&self.record, &self.opts),
                    CdrFormat::FreeSwitch => freeswitch(&self.record, &self.opts),
                    CdrFormat::Tollgate => tollgate(&self.record, self.columns.as_ref()),
                };
                Some((line, parsed.unwrap_or_else(Line::Refused)))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                // A bad record (invalid UTF-8) is that line's fault; the reader goes on.
                Some((
                    line,
                    Line::Refused(ValidationError::invalid("csv", e.to_string()).into()),
                ))
            }
        }
    }
}

fn bad(field: &str, reason: impl Into<String>) -> Error {
    ValidationError::invalid(field, reason.into()).into()
}

fn get<'a>(r: &'a csv::StringRecord, i: usize, name: &str) -> Result<&'a str> {
    let t = r
        .get(i)
        .ok_or_else(|| bad(name, format!("missing field {} ({name})", i + 1)))?;
    if t.len() > limits::call_id_length_max.max(limits::number_length_max) * 4 {
        return Err(bad(name, "too long"));
    }
    Ok(t)
}

fn seconds(text: &str, name: &str) -> Result<u64> {
    text.parse::<u64>().map_err(|_| {
        bad(
            name,
            format!(
                "'{}' is not a whole number of seconds (0 or more)",
                crate::error::echoed_cut(text)
            ),
        )
    })
}

fn local_time(text: &str, name: &str, zone: Zone) -> Result<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .map_err(|_| {
            bad(
                name,
                format!(
                    "'{}' is not a time (YYYY-MM-DD HH:MM:SS)",
                    crate::error::echoed_cut(text)
                ),
            )
        })?;
    zone.instant(naive).ok_or_else(|| {
        bad(
            name,
            format!("{text} does not exist in this time zone (a daylight-saving gap)"),
        )
    })
}

/// A called number as a switch writes it: a leading `+` dropped.
fn number(text: &str) -> String {
    text.strip_prefix('+').unwrap_or(text).to_string()
}

fn derived_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    format!("ast-{}", hex::encode(&h.finalize()[..16]))
}

fn looks_like_uniqueid(t: &str) -> bool {
    let mut parts = t.splitn(2, '.');
    let (a, b) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    !a.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && !b.is_empty()
        && b.bytes().all(|c| c.is_ascii_digit())
}

fn asterisk(r: &csv::StringRecord, o: &CdrOptions) -> Result<Line> {
    if r.len() < 16 {
        return Err(bad(
            "csv",
            format!("{} fields; cdr_csv writes at least 16", r.len()),
        ));
    }
    let account = get(r, 0, "accountcode")?;
    let src = get(r, 1, "src")?;
    let dst = get(r, 2, "dst")?;
    let channel = get(r, 5, "channel")?;
    let start = get(r, 9, "start")?;
    let answer = get(r, 10, "answer")?;
    let billsec = seconds(get(r, 13, "billsec")?, "billsec")?;
    let uniqueid = match (o.loguniqueid, r.get(16)) {
        (Some(false), _) | (_, None) => None,
        (Some(true), Some(u)) => Some(u),
        (None, Some(u)) => looks_like_uniqueid(u).then_some(u),
    };
    if answer.is_empty() || billsec == 0 {
        return Ok(Line::Skipped);
    }
    let connect_time = local_time(answer, "answer", o.zone)?;
    let call_id = match uniqueid {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => derived_id(&[account, src, dst, start, channel]),
    };
    Ok(Line::Call(Cdr {
        call_id,
        account: (!account.is_empty()).then(|| account.to_string()),
        source: src.to_string(),
        destination: number(dst),
        connect_time,
        duration: billsec,
    }))
}

fn freeswitch(r: &csv::StringRecord, o: &CdrOptions) -> Result<Line> {
    if r.len() < 13 {
        return Err(bad(
            "csv",
            format!("{} fields; the default template writes 15", r.len()),
        ));
    }
    let src = get(r, 1, "caller_id_number")?;
    let dst = get(r, 2, "destination_number")?;
    let answer = get(r, 5, "answer_stamp")?;
    let billsec = seconds(get(r, 8, "billsec")?, "billsec")?;
    let uuid = get(r, 10, "uuid")?;
    let account = get(r, 12, "accountcode")?;
    if answer.is_empty() || billsec == 0 {
        return Ok(Line::Skipped);
    }
    if uuid.is_empty() {
        return Err(bad("uuid", "empty: the call has no unique id"));
    }
    Ok(Line::Call(Cdr {
        call_id: uuid.to_string(),
        account: (!account.is_empty()).then(|| account.to_string()),
        source: src.to_string(),
        destination: number(dst),
        connect_time: local_time(answer, "answer_stamp", o.zone)?,
        duration: billsec,
    }))
}

fn tollgate(r: &csv::StringRecord, at: Option<&[Option<usize>; 6]>) -> Result<Line> {
    let at = at.ok_or_else(|| bad("csv", "no header"))?;
    let field = |c: usize| -> Result<&str> {
        match at[c] {
            Some(i) => get(r, i, TOLLGATE_COLUMNS[c]),
            None => Ok(""),
        }
    };
    let duration = seconds(field(4)?, "duration")?;
    let connect = field(3)?;
    let connect_time = crate::clock::parse_dt(connect).ok_or_else(|| {
        bad(
            "connect_time",
            format!(
                "'{}' is not a time (YYYY-MM-DD HH:MM:SS, UTC)",
                crate::error::echoed_cut(connect)
            ),
        )
    })?;
    if duration == 0 {
        return Ok(Line::Skipped);
    }
    let account = field(1)?;
    Ok(Line::Call(Cdr {
        call_id: field(0)?.to_string(),
        account: (!account.is_empty()).then(|| account.to_string()),
        source: field(5)?.to_string(),
        destination: number(field(2)?),
        connect_time,
        duration,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, format: CdrFormat, loguniqueid: Option<bool>) -> Vec<(u64, Line)> {
        let mut r = CdrReader::new(
            text.as_bytes(),
            CdrOptions {
                format,
                zone: Zone::parse("Europe/Berlin").unwrap(),
                loguniqueid,
            },
        );
        std::iter::from_fn(|| r.next_line()).collect()
    }

    #[test]
    fn asterisk_lines_in_both_loguniqueid_settings() {
        let base = r#""acc1","100","4420","default","""Alice"" <100>","SIP/100-0001","SIP/trunk-0002","Dial","SIP/trunk/4420","2026-07-01 10:00:00","2026-07-01 10:00:05","2026-07-01 10:01:05",65,60,"ANSWERED","DOCUMENTATION""#;
        let with_id = format!("{base},\"1782900000.7\",\"\"\n");
        let got = lines(&with_id, CdrFormat::Asterisk, None);
        let Line::Call(c) = &got[0].1 else {
            panic!("{got:?}")
        };
        assert_eq!(c.call_id, "1782900000.7");
        assert_eq!(c.duration, 60);
        // Berlin is UTC+2 in July: answered at 08:00:05 UTC.
        assert_eq!(
            c.connect_time,
            crate::clock::parse_dt("2026-07-01 08:00:05").unwrap()
        );
        let got = lines(&format!("{base}\n"), CdrFormat::Asterisk, Some(false));
        let Line::Call(c) = &got[0].1 else {
            panic!("{got:?}")
        };
        assert!(c.call_id.starts_with("ast-"), "{}", c.call_id);
        assert_eq!(c.account.as_deref(), Some("acc1"));
        let unanswered = base
            .replace("\"2026-07-01 10:00:05\"", "\"\"")
            .replace(",65,60,", ",5,0,");
        assert!(matches!(
            lines(&unanswered, CdrFormat::Asterisk, None)[0].1,
            Line::Skipped
        ));
        let negative = base.replace(",65,60,", ",65,-3,");
        assert!(matches!(
            lines(&negative, CdrFormat::Asterisk, None)[0].1,
            Line::Refused(_)
        ));
    }

    #[test]
    fn named_zones_fixed_offsets_and_gaps() {
        assert!(Zone::parse("Mars/Olympus").is_err());
        let z = Zone::parse("+02:00").unwrap();
        let t = NaiveDateTime::parse_from_str("2026-01-01 12:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(z.instant(t), crate::clock::parse_dt("2026-01-01 10:00:00"));
        let gap =
            NaiveDateTime::parse_from_str("2026-03-29 02:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(Zone::parse("Europe/Berlin").unwrap().instant(gap), None);
    }
}

//! Rate decks: the CSV files carriers exchange, one rate per row.
//!
//! A header row names the columns, matched case-insensitively (`_`, `-` and runs of spaces
//! count as one space) against the aliases of [`ALIASES`], or through an explicit mapping
//! ([`DeckOptions::columns`]). Only `code` and `rate` are required; a missing column takes
//! its default (`code_name` empty, increments `1/1`, `grace_volume` and `setup_fee` 0,
//! `effective_from` the deck's [`DeckOptions::effective_from`], `effective_till` none).
//! Increments come as `min_volume` and `interval` columns, or as one `increment` column
//! written `a/b` (`60/60`, `30/6`; a lone `a` means `a/a`). Columns that match nothing are
//! ignored and named in [`Deck::messages`]. Fields are separated by `,`, `;` or a tab (the
//! header line decides, unless [`DeckOptions::separator`] says), may be quoted, and a UTF-8
//! byte-order mark is skipped. Dates are `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` (anything
//! [`crate::clock::parse_dt`] takes), or `DD/MM/YYYY [HH:MM[:SS]]` / `MM/DD/YYYY ...` when
//! [`DeckOptions::date_format`] names that format; UTC. `rate` and `setup_fee` are exact
//! decimals with at most the currency's rates precision; in a `;`-separated deck a decimal
//! comma (`0,0123`) is read as a point.
//!
//! A deck is all or nothing: the first bad row is an error naming its line (1-based, the
//! header is line 1) and column, and nothing is returned. Two rows of one code whose periods
//! overlap are an error naming both lines.

use crate::clock::parse_dt;
use crate::error::{RatingError, Result};
use crate::limits;
use crate::money;
use crate::rating::formula::RateTerms;
use crate::rating::prefix::{validate_code, Timed};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};

/// The deck columns, in the order of [`DeckRow`]'s fields (the names `rates.list` uses).
pub const COLUMNS: [&str; 9] = [
    "code",
    "code_name",
    "rate",
    "min_volume",
    "interval",
    "grace_volume",
    "setup_fee",
    "effective_from",
    "effective_till",
];

// Positions in FIELDS, so the row parser reads fields by name, not by file order.
const CODE: usize = 0;
const CODE_NAME: usize = 1;
const RATE: usize = 2;
const MIN_VOLUME: usize = 3;
const INTERVAL: usize = 4;
const GRACE_VOLUME: usize = 5;
const SETUP_FEE: usize = 6;
const EFFECTIVE_FROM: usize = 7;
const EFFECTIVE_TILL: usize = 8;
const INCREMENT: usize = 9;

/// Every field a column may hold: [`COLUMNS`], then `increment` (`a/b`).
pub const FIELDS: [&str; 10] = [
    "code",
    "code_name",
    "rate",
    "min_volume",
    "interval",
    "grace_volume",
    "setup_fee",
    "effective_from",
    "effective_till",
    "increment",
];

/// The header names each field is known by (normalized: lower case, one space between words).
pub const ALIASES: [(&str, &[&str]); 10] = [
    (
        "code",
        &[
            "code",
            "prefix",
            "dial code",
            "dialcode",
            "destination code",
        ],
    ),
    (
        "code_name",
        &["code name", "destination", "description", "name", "country"],
    ),
    ("rate", &["rate", "price", "rate per minute", "cost"]),
    ("min_volume", &["min volume"]),
    ("interval", &["interval"]),
    ("grace_volume", &["grace volume", "grace"]),
    ("setup_fee", &["setup fee", "connection fee", "connect fee"]),
    (
        "effective_from",
        &[
            "effective from",
            "effective date",
            "start date",
            "valid from",
        ],
    ),
    (
        "effective_till",
        &["effective till", "end date", "valid to"],
    ),
    ("increment", &["increment", "billing increment", "billing"]),
];

/// How dates of a deck are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DateFormat {
    /// `YYYY-MM-DD [HH:MM[:SS]]` and the other forms of [`crate::clock::parse_dt`].
    #[default]
    Iso,
    /// `DD/MM/YYYY [HH:MM[:SS]]`.
    DayMonthYear,
    /// `MM/DD/YYYY [HH:MM[:SS]]`.
    MonthDayYear,
}

impl DateFormat {
    /// The format named `YYYY-MM-DD`, `DD/MM/YYYY` or `MM/DD/YYYY` (case-insensitive).
    pub fn parse(name: &str) -> Option<DateFormat> {
        match name.trim().to_ascii_uppercase().as_str() {
            "YYYY-MM-DD" | "ISO" => Some(DateFormat::Iso),
            "DD/MM/YYYY" => Some(DateFormat::DayMonthYear),
            "MM/DD/YYYY" => Some(DateFormat::MonthDayYear),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DateFormat::Iso => "YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]",
            DateFormat::DayMonthYear => "DD/MM/YYYY or DD/MM/YYYY HH:MM[:SS]",
            DateFormat::MonthDayYear => "MM/DD/YYYY or MM/DD/YYYY HH:MM[:SS]",
        }
    }

    fn read(self, text: &str) -> Option<DateTime<Utc>> {
        let (day_first, t) = match self {
            DateFormat::Iso => return parse_dt(text),
            DateFormat::DayMonthYear => (true, text.trim()),
            DateFormat::MonthDayYear => (false, text.trim()),
        };
        let (date, time) = t.split_once(' ').unwrap_or((t, ""));
        let mut parts = date.split('/');
        let (a, b, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 {
            return None;
        }
        let (d, m) = if day_first { (a, b) } else { (b, a) };
        let date =
            chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
        let time = time.trim();
        let time = if time.is_empty() {
            chrono::NaiveTime::MIN
        } else {
            chrono::NaiveTime::parse_from_str(time, "%H:%M:%S")
                .or_else(|_| chrono::NaiveTime::parse_from_str(time, "%H:%M"))
                .ok()?
        };
        Some(date.and_time(time).and_utc())
    }
}

/// How to read a deck.
#[derive(Debug, Clone)]
pub struct DeckOptions {
    /// Most decimals of `rate` and `setup_fee`: the currency's rates precision.
    pub rates_precision: u32,
    /// Explicit `(field, header name)` pairs, taking precedence over [`ALIASES`]; a field is
    /// one of [`FIELDS`], a header name is matched like an alias.
    pub columns: Vec<(String, String)>,
    /// How dates are written.
    pub date_format: DateFormat,
    /// Field separator; `None` decides from the header line (`;`, tab or `,`).
    pub separator: Option<u8>,
    /// The `effective_from` of rows whose deck has no such column.
    pub effective_from: DateTime<Utc>,
}

impl DeckOptions {
    /// Defaults: aliases only, ISO dates, separator from the header, rows without a start
    /// date effective from `effective_from`.
    pub fn new(rates_precision: u32, effective_from: DateTime<Utc>) -> DeckOptions {
        DeckOptions {
            rates_precision,
            columns: Vec::new(),
            date_format: DateFormat::Iso,
            separator: None,
            effective_from,
        }
    }
}

/// A parsed deck: its rows, and what the parser noticed without refusing (ignored columns).
#[derive(Debug, Clone, Default)]
pub struct Deck {
    /// The rows, in file order.
    pub rows: Vec<DeckRow>,
    /// Notes for the caller, e.g. `column 'Notes' (field 6) is not a deck column: ignored`.
    pub messages: Vec<String>,
}

/// One parsed, validated rate of a deck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckRow {
    /// Line of the row in the file (1-based; the header is line 1).
    pub line: u64,
    /// Destination prefix: digits only.
    pub code: String,
    /// Human name of the destination, e.g. `United Kingdom - Mobile`.
    pub code_name: String,
    /// Price and billing increments.
    pub terms: RateTerms,
    /// First instant the rate applies (inclusive, UTC).
    pub effective_from: DateTime<Utc>,
    /// First instant it no longer applies (exclusive, UTC); `None` = open-ended.
    pub effective_till: Option<DateTime<Utc>>,
}

impl DeckRow {
    /// The row as a [`Timed`] value for [`crate::rating::RateIndex::build`].
    pub fn timed<T>(&self, value: T) -> Timed<T> {
        Timed {
            effective_from: self.effective_from,
            effective_till: self.effective_till,
            value,
        }
    }
}

/// Parse a deck in the nine named columns (or their aliases), ISO dates, rows without a
/// start date effective from the Unix epoch: [`parse_deck_with`] with default options.
pub fn parse_deck<R: Read>(input: R, rates_precision: u32) -> Result<Vec<DeckRow>> {
    let opts = DeckOptions::new(rates_precision, DateTime::<Utc>::UNIX_EPOCH);
    Ok(parse_deck_with(input, &opts)?.rows)
}

/// Parse a whole deck from `input`, streaming: memory grows with the rows kept, not with the
/// file. Errors are `rating.deck_invalid` (line and column named) and
/// `rating.period_overlap` (both lines named).
pub fn parse_deck_with<R: Read>(input: R, opts: &DeckOptions) -> Result<Deck> {
    let rates_precision = opts.rates_precision;
    if rates_precision > limits::rating_precision_max {
        return Err(deck_error(
            0,
            "rates_precision",
            format!("at most {} decimal places", limits::rating_precision_max),
        )
        .into());
    }
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let separator = match opts.separator {
        Some(s) => s,
        None => sniff_separator(&mut input)?,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false) // Read by hand: the header's line number and errors are ours.
        .flexible(true) // Row length is checked here, to name the column.
        .delimiter(separator)
        .trim(csv::Trim::All)
        .from_reader(LineCounter::new(input));
    let mut record = csv::StringRecord::new();
    let Some(_) = read(&mut reader, &mut record)? else {
        return Err(deck_error(1, "code", "empty deck: a header row is required".into()).into());
    };
    let mut messages = Vec::new();
    let layout = header_order(&record, &opts.columns, &mut messages)?;
    let mut dates = Dates::default();
    let mut rows = Vec::new();
    let ctx = RowContext {
        layout: &layout,
        rates_precision,
        date_format: opts.date_format,
        decimal_comma: separator == b';',
        effective_from: opts.effective_from,
    };
    while let Some(line) = read(&mut reader, &mut record)? {
        if rows.len() >= limits::rate_deck_rows_max {
            return Err(deck_error(
                line,
                "code",
                format!("a deck has at most {} rows", limits::rate_deck_rows_max),
            )
            .into());
        }
        rows.push(parse_row(&record, &ctx, line, &mut dates)?);
    }
    check_overlaps(&rows)?;
    Ok(Deck { rows, messages })
}

/// Skip a UTF-8 byte-order mark, then pick the separator the header line uses most of:
/// `;`, tab or `,` (outside quotes).
fn sniff_separator<R: Read>(input: &mut BufReader<R>) -> Result<u8> {
    let io = |e: std::io::Error| deck_error(1, "", format!("reading the deck: {e}"));
    let buf = input.fill_buf().map_err(io)?;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    let buf = input.fill_buf().map_err(io)?;
    let mut counts = [0usize; 3];
    let mut quoted = false;
    let mut seen = false;
    for &b in buf {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted && seen => break,
            b';' if !quoted => counts[0] += 1,
            b'\t' if !quoted => counts[1] += 1,
            b',' if !quoted => counts[2] += 1,
            _ => {}
        }
        seen |= !b.is_ascii_whitespace();
    }
    Ok(match counts {
        [s, t, c] if s > c && s >= t => b';',
        [_, t, c] if t > c => b'\t',
        _ => b',',
    })
}

/// Read the next record and return its line, `None` at the end. A CSV-level fault (bad
/// quoting, bad UTF-8) is a deck error on its line.
fn read<R: Read>(
    reader: &mut csv::Reader<LineCounter<R>>,
    record: &mut csv::StringRecord,
) -> Result<Option<u64>> {
    match reader.read_record(record) {
        Ok(false) => Ok(None),
        Ok(true) => {
            let byte = record.position().map_or(0, |p| p.byte());
            Ok(Some(reader.get_mut().line_at(byte)))
        }
        Err(e) => {
            let byte = e.position().map_or(0, |p| p.byte());
            let line = reader.get_mut().line_at(byte);
            let column = match e.kind() {
                csv::ErrorKind::Utf8 { err, .. } => format!("field {}", err.field() + 1),
                _ => String::new(),
            };
            Err(deck_error(line, &column, e.to_string()).into())
        }
    }
}

/// Counts lines under the CSV reader. The csv crate's own line numbers are off after blank
/// lines and CRLF line ends (it reports where its scan began, before the blank lines it
/// skipped), so the line of a record is computed here from the record's byte offset: one plus
/// the `\n`s before its first byte. Only line breaks not yet passed are kept, so memory stays
/// bounded by the reader's buffer, not the file.
struct LineCounter<R> {
    inner: R,
    /// Offset of the next byte read from `inner`.
    offset: u64,
    /// Line-break bytes not yet passed: `offset << 1 | is_newline` (`\r` has the bit clear).
    breaks: VecDeque<u64>,
    /// `\n`s before the first entry of `breaks`.
    newlines: u64,
}

impl<R: Read> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            newlines: 0,
        }
    }

    /// The line of the record csv says starts at `byte`. csv points at the start of the blank
    /// lines it skipped, so the record really starts after the run of line breaks there.
    /// Offsets must not decrease between calls.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = byte;
        while let Some(&front) = self.breaks.front() {
            let (at, is_newline) = (front >> 1, front & 1 == 1);
            if at > start {
                break;
            }
            if at == start {
                start += 1; // A break at the start: part of a skipped blank line.
            }
            self.newlines += u64::from(is_newline);
            self.breaks.pop_front();
        }
        self.newlines + 1
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.breaks
                    .push_back(((self.offset + i as u64) << 1) | u64::from(b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// A header name as aliases are written: lower case, `_`/`-` and runs of spaces as one space.
fn normalize(name: &str) -> String {
    let name = name.trim_start_matches('\u{feff}').to_lowercase();
    let spaced: String = name
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where each field of [`FIELDS`] is in the file, and how many fields the header has.
struct Layout {
    at: [Option<usize>; FIELDS.len()],
    width: usize,
}

/// Match the header against the explicit mapping, then the aliases. Unknown columns are
/// noted in `messages`; a field named twice, an unknown field in the mapping, a mapped
/// column absent from the header, or a missing `code` or `rate` is a header error (line 1).
fn header_order(
    header: &csv::StringRecord,
    columns: &[(String, String)],
    messages: &mut Vec<String>,
) -> Result<Layout, RatingError> {
    let names: Vec<String> = header.iter().map(normalize).collect();
    let mut at: [Option<usize>; FIELDS.len()] = [None; FIELDS.len()];
    let mut taken = vec![false; names.len()];
    for (field, column) in columns {
        let Some(f) = FIELDS.iter().position(|x| *x == field.as_str()) else {
            return Err(deck_error(
                1,
                field,
                format!(
                    "the columns mapping names no deck field; fields are {}",
                    FIELDS.join(", ")
                ),
            ));
        };
        let want = normalize(column);
        let Some(pos) = names.iter().position(|n| *n == want) else {
            return Err(deck_error(
                1,
                field,
                format!("the columns mapping names '{column}', which the header does not have"),
            ));
        };
        if at[f].is_some() {
            return Err(deck_error(1, field, "mapped twice".into()));
        }
        at[f] = Some(pos);
        taken[pos] = true;
    }
    for (pos, name) in names.iter().enumerate() {
        if taken[pos] || name.is_empty() && header.len() > 1 && pos + 1 == header.len() {
            continue; // Mapped already, or the empty field a trailing separator makes.
        }
        let found = ALIASES
            .iter()
            .position(|(_, aliases)| aliases.contains(&name.as_str()));
        match found {
            Some(f) if columns.iter().any(|(field, _)| field == FIELDS[f]) => {
                messages.push(format!(
                    "column '{}' (field {}) ignored: the columns mapping gives {}",
                    header.get(pos).unwrap_or_default(),
                    pos + 1,
                    FIELDS[f]
                ));
            }
            Some(f) if at[f].is_some() => {
                return Err(deck_error(
                    1,
                    FIELDS[f],
                    format!(
                        "column appears twice (fields {} and {}); name one in the columns mapping",
                        at[f].map_or(0, |p| p + 1),
                        pos + 1
                    ),
                ));
            }
            Some(f) => at[f] = Some(pos),
            None => messages.push(format!(
                "column '{}' (field {}) is not a deck column: ignored",
                header.get(pos).unwrap_or_default(),
                pos + 1
            )),
        }
    }
    if at[INCREMENT].is_some() && (at[MIN_VOLUME].is_some() || at[INTERVAL].is_some()) {
        return Err(deck_error(
            1,
            "increment",
            "give the increments either as one increment column (a/b) or as min_volume and interval, not both".into(),
        ));
    }
    for f in [CODE, RATE] {
        if at[f].is_none() {
            return Err(deck_error(
                1,
                FIELDS[f],
                format!("missing column (known as {})", ALIASES[f].1.join(", ")),
            ));
        }
    }
    Ok(Layout {
        at,
        width: header.len(),
    })
}

/// The last date text parsed per date column and its value. Decks repeat one or a few dates
/// on every row, and `parse_dt` tries several formats, so this halves the parse time.
#[derive(Default)]
struct Dates {
    last: [(String, Option<DateTime<Utc>>); 2],
}

impl Dates {
    fn parse(&mut self, which: usize, text: &str, format: DateFormat) -> Option<DateTime<Utc>> {
        let (last_text, last_value) = &mut self.last[which];
        if last_text != text {
            *last_value = format.read(text);
            last_text.clear();
            last_text.push_str(text);
        }
        *last_value
    }
}

/// What every row of one deck is read with.
struct RowContext<'a> {
    layout: &'a Layout,
    rates_precision: u32,
    date_format: DateFormat,
    /// `;`-separated: `0,05` is a decimal comma.
    decimal_comma: bool,
    effective_from: DateTime<Utc>,
}

// Long: one check per column of a deck row, in column order.
fn parse_row(
    record: &csv::StringRecord,
    ctx: &RowContext<'_>,
    line: u64,
    dates: &mut Dates,
) -> Result<DeckRow, RatingError> {
    let layout = ctx.layout;
    // A trailing empty field is what a line-final separator makes: not an extra column.
    let width = match record.iter().next_back() {
        Some("") if record.len() > layout.width => record.len() - 1,
        _ => record.len(),
    };
    if width > layout.width {
        return Err(deck_error(
            line,
            &format!("field {}", layout.width + 1),
            format!(
                "row has {} fields, the header has {}",
                record.len(),
                layout.width
            ),
        ));
    }
    // `None`: the deck has no such column.
    let field = |col: usize| -> Result<Option<&str>, RatingError> {
        let Some(pos) = layout.at[col] else {
            return Ok(None);
        };
        let text = record
            .get(pos)
            .ok_or_else(|| deck_error(line, FIELDS[col], "missing value (short row)".into()))?;
        if text.len() > limits::rate_deck_field_bytes_max {
            return Err(deck_error(
                line,
                FIELDS[col],
                format!("longer than {} bytes", limits::rate_deck_field_bytes_max),
            ));
        }
        Ok(Some(text))
    };
    let bad = |col: usize, reason: String| deck_error(line, FIELDS[col], reason);

    let code = field(CODE)?.unwrap_or_default();
    validate_code(code).map_err(|e| bad(CODE, e.to_string()))?;
    let code_name = field(CODE_NAME)?.unwrap_or_default();
    if code_name.chars().count() > limits::text_length_max {
        return Err(bad(
            CODE_NAME,
            format!("longer than {} characters", limits::text_length_max),
        ));
    }
    let amount = |col: usize| -> Result<Decimal, RatingError> {
        let Some(text) = field(col)? else {
            return Ok(Decimal::ZERO);
        };
        let owned;
        let text = if ctx.decimal_comma && text.contains(',') && !text.contains('.') {
            owned = text.replacen(',', ".", 1);
            owned.as_str()
        } else {
            text
        };
        let d = money::parse_str(FIELDS[col], text)
            .and_then(|d| money::check_scale(FIELDS[col], d, ctx.rates_precision))
            .and_then(|d| money::check_rate(FIELDS[col], d))
            .map_err(|e| bad(col, e.to_string()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(bad(col, "must not be negative".into()));
        }
        Ok(d)
    };
    let whole = |col: usize, text: &str| -> Result<u32, RatingError> {
        text.trim().parse::<u32>().map_err(|_| {
            bad(
                col,
                format!(
                    "'{text}' is not a whole number of seconds (0 to {})",
                    u32::MAX
                ),
            )
        })
    };
    let seconds = |col: usize, default: u32| -> Result<u32, RatingError> {
        field(col)?.map_or(Ok(default), |t| whole(col, t))
    };
    let (min_volume, interval) = match field(INCREMENT)? {
        Some(text) => match text.split_once('/') {
            Some((a, b)) => (whole(INCREMENT, a)?, whole(INCREMENT, b)?),
            None => {
                let a = whole(INCREMENT, text).map_err(|_| {
                    bad(
                        INCREMENT,
                        format!("'{text}' is not an increment: write it a/b, as 60/60 or 30/6"),
                    )
                })?;
                (a, a)
            }
        },
        None => (seconds(MIN_VOLUME, 1)?, seconds(INTERVAL, 1)?),
    };
    let terms = RateTerms {
        rate: amount(RATE)?,
        min_volume,
        interval,
        grace_volume: seconds(GRACE_VOLUME, 0)?,
        setup_fee: amount(SETUP_FEE)?,
    };
    terms.validate().map_err(|e| match e {
        RatingError::InvalidTerms { field, reason } => {
            let column = if layout.at[INCREMENT].is_some()
                && (field == "min_volume" || field == "interval")
            {
                "increment".to_string()
            } else {
                field
            };
            deck_error(line, &column, reason)
        }
        other => deck_error(line, "", other.to_string()),
    })?;
    let format = ctx.date_format;
    let mut date = |col: usize, text: &str| {
        dates
            .parse(col - EFFECTIVE_FROM, text, format)
            .ok_or_else(|| {
                bad(
                    col,
                    format!("'{text}' is not a date: use {} (UTC)", format.name()),
                )
            })
    };
    let effective_from = match field(EFFECTIVE_FROM)? {
        Some(text) if !text.is_empty() => date(EFFECTIVE_FROM, text)?,
        Some(_) if layout.at[EFFECTIVE_FROM].is_some() => {
            return Err(bad(EFFECTIVE_FROM, "missing value".into()))
        }
        _ => ctx.effective_from,
    };
    let till_text = field(EFFECTIVE_TILL)?.unwrap_or_default();
    let effective_till = if till_text.is_empty() {
        None
    } else {
        let till = date(EFFECTIVE_TILL, till_text)?;
        if till <= effective_from {
            return Err(bad(
                EFFECTIVE_TILL,
                "must be after effective_from (leave it empty for no end)".into(),
            ));
        }
        Some(till)
    };
    Ok(DeckRow {
        line,
        code: code.to_string(),
        code_name: code_name.to_string(),
        terms,
        effective_from,
        effective_till,
    })
}

/// Two rows of one code may not be effective at the same instant.
fn check_overlaps(rows: &[DeckRow]) -> Result<(), RatingError> {
    let mut by_code: Vec<usize> = (0..rows.len()).collect();
    by_code.sort_unstable_by(|&i, &j| {
        (rows[i].code.as_str(), rows[i].effective_from)
            .cmp(&(rows[j].code.as_str(), rows[j].effective_from))
    });
    // Sorted by start, any overlap shows up between neighbours: if row i overlaps a later row
    // j, it also overlaps row i+1, which starts between them.
    for pair in by_code.windows(2) {
        let (a, b) = (&rows[pair[0]], &rows[pair[1]]);
        if a.code == b.code && a.timed(()).overlaps(&b.timed(())) {
            return Err(RatingError::PeriodOverlap {
                code: a.code.clone(),
                first: a.line.min(b.line),
                second: a.line.max(b.line),
            });
        }
    }
    Ok(())
}

fn deck_error(line: u64, column: &str, reason: String) -> RatingError {
    RatingError::Deck {
        line,
        column: column.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorCode};
    use std::str::FromStr;

    const HEADER: &str =
        "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n";

    fn parse(text: &str) -> Result<Vec<DeckRow>> {
        parse_deck(text.as_bytes(), 4)
    }

    /// The deck error's (line, column), or a panic naming what came instead.
    fn fault(text: &str) -> (u64, String, String) {
        match parse(text) {
            Err(Error::Rating(RatingError::Deck {
                line,
                column,
                reason,
            })) => (line, column, reason),
            other => panic!("expected a deck error, got {other:?}"),
        }
    }

    fn deck(rows: &[&str]) -> String {
        let mut s = HEADER.to_string();
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s
    }

    const GOOD: &str = "44,United Kingdom,0.0123,1,1,0,0,2026-01-01,";

    #[test]
    fn parses_a_good_deck() {
        let rows = parse(&deck(&[
            GOOD,
            "447,\"United Kingdom, Mobile\",0.05,30,6,2,0.3,2026-01-01 00:00:00,2026-07-01 12:30:00",
            " 1 , NANP , 1.5000 , 60 , 60 , 0 , 0.0 , 2025-12-31 , ",
        ]))
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].code, "44");
        assert_eq!(rows[0].terms.rate, Decimal::from_str("0.0123").unwrap());
        assert_eq!(rows[0].effective_till, None);
        assert_eq!(rows[1].code_name, "United Kingdom, Mobile");
        assert_eq!(rows[1].terms.min_volume, 30);
        assert_eq!(rows[1].terms.interval, 6);
        assert_eq!(rows[1].terms.grace_volume, 2);
        assert_eq!(rows[1].terms.setup_fee, Decimal::from_str("0.3").unwrap());
        assert_eq!(rows[1].effective_till, parse_dt("2026-07-01 12:30:00"));
        assert_eq!(rows[2].line, 4);
        assert_eq!(rows[2].code, "1");
        assert_eq!(
            rows[2].terms.rate.to_string(),
            "1.5000",
            "exact text, no float"
        );
    }

    #[test]
    fn columns_are_found_by_header_name_in_any_order() {
        let text = "\u{feff}Effective_Till,effective_from,setup_fee,grace_volume,interval,min_volume,rate,code_name,code\n\
                    ,2026-01-01,0.1,0,1,0,0.02,France,33\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows[0].code, "33");
        assert_eq!(rows[0].code_name, "France");
        assert_eq!(rows[0].terms.rate, Decimal::from_str("0.02").unwrap());
        assert_eq!(rows[0].terms.setup_fee, Decimal::from_str("0.1").unwrap());
    }

    #[test]
    fn header_only_is_an_empty_deck_and_blank_lines_are_skipped() {
        assert!(parse(HEADER).unwrap().is_empty());
        let rows = parse(&deck(&["", GOOD, ""])).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 3);
    }

    #[test]
    fn every_bad_row_names_its_line_and_column() {
        let cases: &[(&str, &str)] = &[
            ("4a4,X,0.01,0,1,0,0,2026-01-01,", "code"),
            (",X,0.01,0,1,0,0,2026-01-01,", "code"),
            ("+44,X,0.01,0,1,0,0,2026-01-01,", "code"),
            ("44,X,-0.01,0,1,0,0,2026-01-01,", "rate"),
            ("44,X,abc,0,1,0,0,2026-01-01,", "rate"),
            ("44,X,0.01,0,0,0,0,2026-01-01,", "interval"),
            ("44,X,0.01,-1,1,0,0,2026-01-01,", "min_volume"),
            ("44,X,0.01,0,1,1.5,0,2026-01-01,", "grace_volume"),
            ("44,X,0.01,0,1,0,,2026-01-01,", "setup_fee"),
            ("44,X,0.01,0,1,0,-0.3,2026-01-01,", "setup_fee"),
            ("44,X,0.01,0,1,0,0,2026-13-01,", "effective_from"),
            ("44,X,0.01,0,1,0,0,tomorrow,", "effective_from"),
            ("44,X,0.01,0,1,0,0,2026-01-01,2026-02-30", "effective_till"),
            ("44,X,0.01,0,1,0,0,2026-02-01,2026-01-01", "effective_till"),
            ("44,X,0.01,0,1,0,0,2026-02-01,2026-02-01", "effective_till"),
            ("44,X,0.00001,0,1,0,0,2026-01-01,", "rate"),
            ("44,X,0.01,0,1,0,0.12345,2026-01-01,", "setup_fee"),
            ("44,X,0.01,0,1,0,0,2026-01-01", "effective_till"),
            ("44,X,0.01,0,1,0,0,2026-01-01,,extra", "field 10"),
        ];
        for (row, column) in cases {
            let (line, col, reason) = fault(&deck(&[GOOD, row]));
            assert_eq!((line, col.as_str()), (3, *column), "{row}: {reason}");
        }
    }

    #[test]
    fn too_many_decimals_is_judged_against_the_rates_precision() {
        let row = "44,X,0.00001,0,1,0,0,2026-01-01,";
        assert!(parse_deck(deck(&[row]).as_bytes(), 5).is_ok());
        let e = parse_deck(deck(&[row]).as_bytes(), 4).unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingDeckInvalid);
        assert_eq!(e.field(), Some("rate"));
        // Trailing zeros are not extra precision.
        assert!(parse(&deck(&["44,X,0.0100000,0,1,0,0,2026-01-01,"])).is_ok());
    }

    #[test]
    fn header_faults_are_line_1() {
        let no_rate = "code,code_name,min_volume,interval,grace_volume,effective_from\n";
        assert_eq!(fault(no_rate).0, 1);
        assert_eq!(fault(no_rate).1, "rate");
        let twice = HEADER.replace("code_name", "code");
        assert_eq!(fault(&twice).0, 1);
        assert!(fault(&twice).2.contains("twice"));
        let both = HEADER.replace('\n', ",increment\n");
        assert_eq!(fault(&both).1, "increment");
    }

    fn with(text: &str, f: impl FnOnce(&mut DeckOptions)) -> Result<Deck> {
        let mut o = DeckOptions::new(4, parse_dt("2026-03-01").unwrap());
        f(&mut o);
        parse_deck_with(text.as_bytes(), &o)
    }

    #[test]
    fn carriers_column_names_increments_and_defaults() {
        let text = "\u{feff}Prefix;Destination;Rate;Effective Date;Billing Increment;Notes\n\
                    44;\"United Kingdom; Fixed\";0,0123;2026-04-01 08:30;60/60;x\n\
                    447;UK Mobile;0.05;2026-04-01;30/6;\n";
        let deck = with(text, |_| {}).unwrap();
        assert_eq!(deck.rows.len(), 2);
        let r = &deck.rows[0];
        assert_eq!(r.code_name, "United Kingdom; Fixed");
        assert_eq!(r.terms.rate, Decimal::from_str("0.0123").unwrap());
        assert_eq!((r.terms.min_volume, r.terms.interval), (60, 60));
        assert_eq!(r.terms.setup_fee, Decimal::ZERO);
        assert_eq!(r.effective_from, parse_dt("2026-04-01 08:30:00").unwrap());
        assert_eq!(r.effective_till, None);
        assert_eq!(
            (deck.rows[1].terms.min_volume, deck.rows[1].terms.interval),
            (30, 6)
        );
        assert_eq!(deck.messages.len(), 1, "{:?}", deck.messages);
        assert!(deck.messages[0].contains("'Notes'"), "{:?}", deck.messages);
    }

    #[test]
    fn no_date_column_means_the_decks_effective_from() {
        let deck = with("code,price\n33,0.02\n", |_| {}).unwrap();
        assert_eq!(deck.rows[0].effective_from, parse_dt("2026-03-01").unwrap());
        assert_eq!(
            (deck.rows[0].terms.min_volume, deck.rows[0].terms.interval),
            (1, 1)
        );
    }

    #[test]
    fn explicit_mapping_and_named_date_format() {
        let text = "Dst,Tariff,From,Rate\n33,0.02,31/12/2026,9.99\n";
        let deck = with(text, |o| {
            o.columns = vec![
                ("code".into(), "dst".into()),
                ("rate".into(), "Tariff".into()),
                ("effective_from".into(), "from".into()),
            ];
            o.date_format = DateFormat::DayMonthYear;
        })
        .unwrap();
        assert_eq!(deck.rows[0].terms.rate, Decimal::from_str("0.02").unwrap());
        assert_eq!(deck.rows[0].effective_from, parse_dt("2026-12-31").unwrap());
        assert!(deck.messages[0].contains("'Rate'"), "{:?}", deck.messages);
        // Without the format named, 31/12/2026 is not a date.
        let e = with("code,rate,start date\n33,0.02,31/12/2026\n", |_| {}).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        // A mapping naming a column the header lacks is a header error.
        let e = with(text, |o| o.columns = vec![("code".into(), "nope".into())]).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn bad_increments_name_the_increment_column() {
        for inc in ["60/0", "x/60", "60-60", ""] {
            let text = format!("code,rate,increment\n44,0.01,{inc}\n");
            let e = with(&text, |_| {}).unwrap_err();
            assert!(
                matches!(&e, Error::Rating(RatingError::Deck { line: 2, column, .. }) if column == "increment"),
                "{inc}: {e:?}"
            );
        }
    }

    #[test]
    fn tab_separated_and_quoted() {
        let deck = with("code\trate\tname\n\"44\"\t\"0.5\"\t\"A, B\"\n", |_| {}).unwrap();
        assert_eq!(deck.rows[0].code_name, "A, B");
    }

    #[test]
    fn line_numbers_survive_blank_lines_crlf_and_quoted_newlines() {
        let bad = "4x,X,0.01,0,1,0,0,2026-01-01,";
        let crlf = format!("{}\r\n\r\n{GOOD}\r\n\r\n\r\n{bad}\r\n", HEADER.trim_end());
        assert_eq!(fault(&crlf).0, 6);
        let blank = format!("\n{HEADER}\n{GOOD}\n\n{bad}\n");
        assert_eq!(fault(&blank).0, 6);
        let quoted = format!("{HEADER}44,\"two\nlines\",0.01,0,1,0,0,2026-01-01,\n{bad}\n");
        assert_eq!(fault(&quoted).0, 4);
        let rows = parse(&format!("{HEADER}\n\n{GOOD}\r\n")).unwrap();
        assert_eq!(rows[0].line, 4);
    }

    #[test]
    fn empty_file_is_an_error() {
        for text in ["", "\n\n"] {
            let (line, _, reason) = fault(text);
            assert_eq!(line, 1);
            assert!(reason.contains("header"), "{reason}");
        }
    }

    #[test]
    fn bad_utf8_is_an_error_not_a_panic() {
        let mut bytes = deck(&[GOOD]).into_bytes();
        bytes.extend_from_slice(b"44,\xff\xfe,0.01,0,1,0,0,2026-01-01,\n");
        let e = parse_deck(bytes.as_slice(), 4).unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingDeckInvalid);
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn overlapping_periods_name_both_lines() {
        let e = parse(&deck(&[
            "44,UK,0.01,0,1,0,0,2026-01-01,2026-03-01",
            "33,FR,0.01,0,1,0,0,2026-01-01,",
            "44,UK,0.02,0,1,0,0,2026-02-01,",
        ]))
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingPeriodOverlap);
        assert!(
            matches!(
                &e,
                Error::Rating(RatingError::PeriodOverlap { code, first: 2, second: 4 }) if code == "44"
            ),
            "{e:?}"
        );
        // An open-ended row overlaps everything after it.
        let e = parse(&deck(&[
            "44,UK,0.02,0,1,0,0,2026-05-01,",
            "44,UK,0.01,0,1,0,0,2026-01-01,",
        ]))
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingPeriodOverlap);
        // Back-to-back periods are fine.
        let rows = parse(&deck(&[
            "44,UK,0.01,0,1,0,0,2026-01-01,2026-02-01",
            "44,UK,0.02,0,1,0,0,2026-02-01,",
        ]))
        .unwrap();
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn a_deck_feeds_a_rate_index() {
        let rows = parse(&deck(&[
            "44,UK,0.01,0,1,0,0,2026-01-01,2026-02-01",
            "44,UK,0.02,0,1,0,0,2026-02-01,",
            "447,UK Mobile,0.05,0,1,0,0,2026-01-01,",
        ]))
        .unwrap();
        let idx = crate::rating::RateIndex::build(
            rows.iter().map(|r| (r.code.as_str(), r.timed(r.terms))),
        )
        .unwrap();
        let at = parse_dt("2026-02-15").unwrap();
        let (code, rate) = idx.lookup_at("4420", at).unwrap();
        assert_eq!(
            (code, rate.value.rate),
            ("44", Decimal::from_str("0.02").unwrap())
        );
        let (code, _) = idx.lookup_at("4479", at).unwrap();
        assert_eq!(code, "447");
    }
}

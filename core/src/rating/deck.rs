//! Rate decks: the CSV files carriers exchange, one rate per row.
//!
//! Columns (named by a required header row, in any order, names case-insensitive):
//! `code, code_name, rate, min_volume, interval, grace_volume, setup_fee, effective_from,
//! effective_till`. Every column must be present and no other; every value is required
//! except `effective_till` (empty = open-ended). Dates are `YYYY-MM-DD` or
//! `YYYY-MM-DD HH:MM:SS`, UTC (anything [`crate::clock::parse_dt`] takes). `rate` and
//! `setup_fee` are exact decimals with at most the currency's rates precision.
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
use std::io::Read;

/// The deck columns, in the order of [`DeckRow`]'s fields.
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

// Positions in COLUMNS, so the row parser reads fields by name, not by file order.
const CODE: usize = 0;
const CODE_NAME: usize = 1;
const RATE: usize = 2;
const MIN_VOLUME: usize = 3;
const INTERVAL: usize = 4;
const GRACE_VOLUME: usize = 5;
const SETUP_FEE: usize = 6;
const EFFECTIVE_FROM: usize = 7;
const EFFECTIVE_TILL: usize = 8;

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

/// Parse a whole deck from `input`, streaming: memory grows with the rows kept, not with the
/// file. `rates_precision` is the currency's rates precision (most decimals of `rate` and
/// `setup_fee`). Errors are `rating.deck_invalid` (line and column named) and
/// `rating.period_overlap` (both lines named).
pub fn parse_deck<R: Read>(input: R, rates_precision: u32) -> Result<Vec<DeckRow>> {
    if rates_precision > limits::rating_precision_max {
        return Err(deck_error(
            0,
            "rates_precision",
            format!("at most {} decimal places", limits::rating_precision_max),
        )
        .into());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false) // Read by hand: the header's line number and errors are ours.
        .flexible(true) // Row length is checked here, to name the column.
        .trim(csv::Trim::All)
        .from_reader(LineCounter::new(input));
    let mut record = csv::StringRecord::new();
    let Some(_) = read(&mut reader, &mut record)? else {
        return Err(deck_error(1, "code", "empty deck: a header row is required".into()).into());
    };
    let order = header_order(&record)?;
    let mut dates = Dates::default();
    let mut rows = Vec::new();
    while let Some(line) = read(&mut reader, &mut record)? {
        if rows.len() >= limits::rate_deck_rows_max {
            return Err(deck_error(
                line,
                "code",
                format!("a deck has at most {} rows", limits::rate_deck_rows_max),
            )
            .into());
        }
        rows.push(parse_row(
            &record,
            &order,
            line,
            rates_precision,
            &mut dates,
        )?);
    }
    check_overlaps(&rows)?;
    Ok(rows)
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

/// For each column of [`COLUMNS`], its position in the file.
fn header_order(header: &csv::StringRecord) -> Result<[usize; COLUMNS.len()], RatingError> {
    let mut order = [usize::MAX; COLUMNS.len()];
    for (pos, name) in header.iter().enumerate() {
        // Spreadsheets put a byte-order mark before the first name.
        let name = name
            .trim_start_matches('\u{feff}')
            .trim()
            .to_ascii_lowercase();
        let Some(col) = COLUMNS.iter().position(|c| *c == name) else {
            return Err(deck_error(
                1,
                &name,
                format!("unknown column; expected {}", COLUMNS.join(", ")),
            ));
        };
        if order[col] != usize::MAX {
            return Err(deck_error(1, &name, "column appears twice".into()));
        }
        order[col] = pos;
    }
    if let Some(col) = order.iter().position(|p| *p == usize::MAX) {
        return Err(deck_error(1, COLUMNS[col], "missing column".into()));
    }
    Ok(order)
}

/// The last date text parsed per date column and its value. Decks repeat one or a few dates
/// on every row, and `parse_dt` tries several formats, so this halves the parse time.
#[derive(Default)]
struct Dates {
    last: [(String, Option<DateTime<Utc>>); 2],
}

impl Dates {
    fn parse(&mut self, which: usize, text: &str) -> Option<DateTime<Utc>> {
        let (last_text, last_value) = &mut self.last[which];
        if last_text != text {
            *last_value = parse_dt(text);
            last_text.clear();
            last_text.push_str(text);
        }
        *last_value
    }
}

// Long: one check per column of a deck row, in column order.
fn parse_row(
    record: &csv::StringRecord,
    order: &[usize; COLUMNS.len()],
    line: u64,
    rates_precision: u32,
    dates: &mut Dates,
) -> Result<DeckRow, RatingError> {
    if record.len() > COLUMNS.len() {
        return Err(deck_error(
            line,
            &format!("field {}", COLUMNS.len() + 1),
            format!(
                "row has {} fields, the header has {}",
                record.len(),
                COLUMNS.len()
            ),
        ));
    }
    let field = |col: usize| -> Result<&str, RatingError> {
        let text = record
            .get(order[col])
            .ok_or_else(|| deck_error(line, COLUMNS[col], "missing value (short row)".into()))?;
        if text.len() > limits::rate_deck_field_bytes_max {
            return Err(deck_error(
                line,
                COLUMNS[col],
                format!("longer than {} bytes", limits::rate_deck_field_bytes_max),
            ));
        }
        Ok(text)
    };
    let bad = |col: usize, reason: String| deck_error(line, COLUMNS[col], reason);

    let code = field(CODE)?;
    validate_code(code).map_err(|e| bad(CODE, e.to_string()))?;
    let code_name = field(CODE_NAME)?;
    if code_name.chars().count() > limits::text_length_max {
        return Err(bad(
            CODE_NAME,
            format!("longer than {} characters", limits::text_length_max),
        ));
    }
    let amount = |col: usize| -> Result<Decimal, RatingError> {
        let d = money::parse_str(COLUMNS[col], field(col)?)
            .and_then(|d| money::check_scale(COLUMNS[col], d, rates_precision))
            .and_then(|d| money::check_rate(COLUMNS[col], d))
            .map_err(|e| bad(col, e.to_string()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(bad(col, "must not be negative".into()));
        }
        Ok(d)
    };
    let seconds = |col: usize| -> Result<u32, RatingError> {
        let text = field(col)?;
        text.parse::<u32>().map_err(|_| {
            bad(
                col,
                format!(
                    "'{text}' is not a whole number of seconds (0 to {})",
                    u32::MAX
                ),
            )
        })
    };
    let terms = RateTerms {
        rate: amount(RATE)?,
        min_volume: seconds(MIN_VOLUME)?,
        interval: seconds(INTERVAL)?,
        grace_volume: seconds(GRACE_VOLUME)?,
        setup_fee: amount(SETUP_FEE)?,
    };
    terms.validate().map_err(|e| match e {
        RatingError::InvalidTerms { field, reason } => deck_error(line, &field, reason),
        other => deck_error(line, "", other.to_string()),
    })?;
    let mut date = |col: usize, text: &str| {
        dates.parse(col - EFFECTIVE_FROM, text).ok_or_else(|| {
            bad(
                col,
                format!("'{text}' is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (UTC)"),
            )
        })
    };
    let effective_from = date(EFFECTIVE_FROM, field(EFFECTIVE_FROM)?)?;
    let till_text = field(EFFECTIVE_TILL)?;
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
        let missing =
            "code,code_name,rate,min_volume,interval,grace_volume,effective_from,effective_till\n";
        assert_eq!(fault(missing).0, 1);
        assert_eq!(fault(missing).1, "setup_fee");
        let extra = HEADER.replace('\n', ",notes\n");
        assert_eq!((fault(&extra).0, fault(&extra).1), (1, "notes".to_string()));
        let twice = HEADER.replace("code_name", "code");
        assert_eq!(fault(&twice).0, 1);
        assert!(fault(&twice).2.contains("twice"));
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

//! The PDF of an invoice: A4 pages of text in the standard Helvetica font (one of the PDF's
//! base fonts, so nothing is embedded and every reader can search and copy the text), made
//! with `pdf-writer`. The figures are the stored ones, written as they are: nothing here
//! computes money.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

/// What the PDF shows, already as text.
pub(crate) struct PdfInvoice {
    pub number: String,
    pub status: String,
    pub issued: String,
    pub dt_from: String,
    pub dt_till: String,
    pub currency: String,
    /// The issuing company: name, then address lines, then its tax id line if any.
    pub issuer: Vec<String>,
    /// The client: name, then company, address and e-mail lines.
    pub client: Vec<String>,
    pub lines: Vec<PdfLine>,
    /// Label and figure rows under the lines: subtotal, tax, total.
    pub totals: Vec<(String, String)>,
    /// Shown, not part of the amount due: payments and balances.
    pub info: Vec<(String, String)>,
    pub void_reason: Option<String>,
}

/// One invoice line as text.
pub(crate) struct PdfLine {
    pub description: String,
    pub calls: String,
    pub minutes: String,
    pub amount: String,
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const LEADING: f32 = 14.0;
/// The right edges of the number columns.
const COL_CALLS: f32 = 370.0;
const COL_MINUTES: f32 = 455.0;
const COL_AMOUNT: f32 = PAGE_W - MARGIN;
/// The longest description written before it is cut (one line per invoice line).
const DESCRIPTION_CHARS: usize = 48;
/// A text line is cut at this many characters (addresses, names).
const TEXT_CHARS: usize = 90;

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Text in the fonts' WinAnsiEncoding: Latin-1 maps onto itself (but for the C1 controls),
/// a few common signs onto their WinAnsi codes, anything else becomes `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}

/// Helvetica's advance widths (per 1000 em) of the printable ASCII characters, from its AFM
/// metrics; anything else counts as a digit. Used only to right-align text (the bold face is
/// a little wider: close enough for a label).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

fn text_width(s: &str, size: f32) -> f32 {
    let units: u32 = s
        .chars()
        .map(|c| {
            (c as usize)
                .checked_sub(32)
                .and_then(|i| HELVETICA.get(i))
                .map_or(556, |w| u32::from(*w))
        })
        .sum();
    units as f32 * size / 1000.0
}

/// Pages being written: the current one's content and the cursor.
struct Writer {
    pages: Vec<Content>,
    y: f32,
}

impl Writer {
    fn new() -> Self {
        Writer {
            pages: vec![Content::new()],
            y: PAGE_H - MARGIN,
        }
    }

    fn page(&mut self) -> &mut Content {
        if self.pages.is_empty() {
            self.pages.push(Content::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Room for `rows` more rows, or a new page.
    fn need(&mut self, rows: f32) {
        if self.y - rows * LEADING < MARGIN {
            self.pages.push(Content::new());
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text_at(&mut self, x: f32, font: Name<'static>, size: f32, s: &str) {
        let y = self.y;
        let bytes = win_ansi(s);
        let c = self.page();
        c.begin_text();
        c.set_font(font, size);
        c.next_line(x, y);
        c.show(Str(&bytes));
        c.end_text();
    }

    fn right_at(&mut self, right: f32, font: Name<'static>, size: f32, s: &str) {
        let x = right - text_width(s, size);
        self.text_at(x, font, size, s);
    }

    fn row(&mut self, font: Name<'static>, size: f32, s: &str) {
        self.need(1.0);
        self.text_at(MARGIN, font, size, &cut(s, TEXT_CHARS));
        self.y -= LEADING;
    }

    fn rule(&mut self) {
        let y = self.y + LEADING * 0.6;
        let c = self.page();
        c.set_line_width(0.5);
        c.move_to(MARGIN, y);
        c.line_to(PAGE_W - MARGIN, y);
        c.stroke();
    }

    fn gap(&mut self) {
        self.y -= LEADING / 2.0;
    }

    fn line_header(&mut self) {
        self.need(2.0);
        self.text_at(MARGIN, BOLD, 10.0, "Description");
        self.right_at(COL_CALLS, BOLD, 10.0, "Calls");
        self.right_at(COL_MINUTES, BOLD, 10.0, "Minutes");
        self.right_at(COL_AMOUNT, BOLD, 10.0, "Amount");
        self.y -= LEADING;
        self.rule();
    }
}

/// The whole document.
pub(crate) fn render(inv: &PdfInvoice) -> Vec<u8> {
    let mut w = Writer::new();
    // The issuer, top left; the invoice's number, top right.
    let top = w.y;
    for (i, l) in inv.issuer.iter().enumerate() {
        if i == 0 {
            w.row(BOLD, 14.0, l);
        } else {
            w.row(REGULAR, 10.0, l);
        }
    }
    let below_issuer = w.y;
    w.y = top;
    w.right_at(COL_AMOUNT, BOLD, 16.0, "INVOICE");
    w.y -= LEADING * 1.4;
    let number = cut(&inv.number, TEXT_CHARS);
    w.right_at(COL_AMOUNT, BOLD, 11.0, &number);
    w.y -= LEADING;
    let issued = format!("Issued {}", inv.issued);
    w.right_at(COL_AMOUNT, REGULAR, 10.0, &issued);
    w.y -= LEADING;
    w.y = w.y.min(below_issuer);
    w.gap();
    if inv.status == "void" {
        let reason = inv.void_reason.as_deref().unwrap_or("");
        w.row(BOLD, 12.0, &format!("VOID: {reason}"));
        w.gap();
    }
    w.row(BOLD, 10.0, "Bill to");
    for l in &inv.client {
        w.row(REGULAR, 10.0, l);
    }
    w.gap();
    w.row(
        REGULAR,
        10.0,
        &format!(
            "Period: {} to {} (UTC; the end is not included)",
            inv.dt_from, inv.dt_till
        ),
    );
    w.row(REGULAR, 10.0, &format!("Currency: {}", inv.currency));
    w.gap();
    w.line_header();
    if inv.lines.is_empty() {
        w.row(REGULAR, 10.0, "No charges in this period.");
    }
    for l in &inv.lines {
        if w.y - LEADING < MARGIN {
            w.need(2.0);
            w.line_header();
        }
        let description = if l.description.is_empty() {
            "(no destination)".to_string()
        } else {
            cut(&l.description, DESCRIPTION_CHARS)
        };
        w.text_at(MARGIN, REGULAR, 10.0, &description);
        w.right_at(COL_CALLS, REGULAR, 10.0, &l.calls);
        w.right_at(COL_MINUTES, REGULAR, 10.0, &l.minutes);
        w.right_at(COL_AMOUNT, REGULAR, 10.0, &l.amount);
        w.y -= LEADING;
    }
    w.need((inv.totals.len() + inv.info.len() + 3) as f32);
    w.y -= LEADING / 2.0;
    w.rule();
    for (i, (label, figure)) in inv.totals.iter().enumerate() {
        let font = if i + 1 == inv.totals.len() {
            BOLD
        } else {
            REGULAR
        };
        w.right_at(COL_MINUTES, font, 10.0, label);
        w.right_at(COL_AMOUNT, font, 10.0, figure);
        w.y -= LEADING;
    }
    w.gap();
    w.row(REGULAR, 8.0, "For information, not part of the amount due:");
    for (label, figure) in &inv.info {
        w.text_at(MARGIN, REGULAR, 8.0, label);
        w.right_at(COL_AMOUNT, REGULAR, 8.0, figure);
        w.y -= LEADING * 0.8;
    }

    // The document: catalog, page tree, pages, two base fonts, the info dictionary.
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first = 6;
    let n = w.pages.len() as i32;
    let page_ref = |i: i32| Ref::new(first + 2 * i);
    let content_ref = |i: i32| Ref::new(first + 2 * i + 1);
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids((0..n).map(page_ref)).count(n);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    let title = format!("Invoice {}", inv.number);
    pdf.document_info(info)
        .title(TextStr(&title))
        .producer(TextStr("Tollgate"));
    for (i, content) in w.pages.into_iter().enumerate() {
        let i = i as i32;
        let mut page = pdf.page(page_ref(i));
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_ref(i));
        {
            let mut res = page.resources();
            let mut fonts = res.fonts();
            fonts.pair(REGULAR, regular);
            fonts.pair(BOLD, bold);
            fonts.finish();
        }
        page.finish();
        pdf.stream(content_ref(i), &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_outside_win_ansi_becomes_a_question_mark() {
        assert_eq!(win_ansi("Zürich €5 Ω"), b"Z\xfcrich \x805 ?".to_vec());
    }

    #[test]
    fn widths_are_helvetica_s() {
        assert_eq!(text_width("0.5", 10.0), (556.0 + 278.0 + 556.0) / 100.0);
        assert_eq!(text_width("~", 1000.0), 584.0);
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(cut("abcdef", 5), "ab...");
        assert_eq!(cut("abc", 5), "abc");
    }
}

//! Longest-prefix lookup of destination numbers over digit codes.
//!
//! [`PrefixIndex`] is a 10-ary trie built in a flat arena (ten `u32` child slots per node) and
//! then frozen into a compact form: nodes in breadth-first order, each 12 bytes (a 10-bit
//! child mask, the index of its first child, a value slot), the children of a node
//! contiguous. A lookup is one array access per digit, no hashing, and a 100,000-code deck
//! (≈220k nodes, 2.6 MB) stays mostly in L2: 44-byte nodes spilled to L3 and ran at half the
//! speed. [`RateIndex`] adds effective periods on top: each code maps to
//! its rates sorted by `effective_from`, and a lookup at a time skips codes that have no rate
//! effective then (DESIGN §7: the longest code *among rates effective at call start*).

use crate::error::{RatingError, Result};
use crate::limits;
use chrono::{DateTime, Utc};

/// "No child" / "no value" in a node slot. The root is never a child, so 0 would also do for
/// children, but one sentinel for both keeps the code obvious.
const NONE: u32 = u32::MAX;

/// Most nodes an index may hold: slot numbers are `u32` and [`NONE`] is reserved.
const NODES_MAX: usize = (u32::MAX - 1) as usize;

/// Check a rate code: 1 to [`limits::rate_code_digits_max`] ASCII digits.
pub fn validate_code(code: &str) -> Result<(), RatingError> {
    let bad = |reason: String| {
        Err(RatingError::InvalidCode {
            code: code
                .chars()
                .take(limits::rate_code_digits_max + 8)
                .collect(),
            reason,
        })
    };
    if code.is_empty() {
        return bad("must not be empty".into());
    }
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return bad("must contain only digits 0-9".into());
    }
    if code.len() > limits::rate_code_digits_max {
        return bad(format!(
            "must have at most {} digits",
            limits::rate_code_digits_max
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Node {
    child: [u32; 10],
    value: u32,
}

const EMPTY_NODE: Node = Node {
    child: [NONE; 10],
    value: NONE,
};

/// The trie shape shared by both indexes: nodes and the value slot of each code.
#[derive(Debug, Clone)]
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![EMPTY_NODE],
        }
    }

    /// The node of `code` (already validated), created if missing.
    fn node_of(&mut self, code: &str) -> Result<usize, RatingError> {
        let mut node = 0usize;
        for b in code.bytes() {
            let digit = usize::from(b - b'0');
            let next = self.nodes[node].child[digit];
            node = if next == NONE {
                if self.nodes.len() >= NODES_MAX {
                    return Err(RatingError::InvalidCode {
                        code: code.to_string(),
                        reason: "the prefix index is full".into(),
                    });
                }
                let id = self.nodes.len();
                self.nodes.push(EMPTY_NODE);
                // id < NODES_MAX < u32::MAX, checked just above.
                self.nodes[node].child[digit] = id as u32;
                id
            } else {
                next as usize
            };
        }
        Ok(node)
    }

    /// The compact, read-only form: breadth-first, children contiguous.
    fn freeze(&self) -> Frozen {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut packed = Vec::with_capacity(self.nodes.len());
        order.push(0u32);
        let mut head = 0;
        while let Some(&id) = order.get(head) {
            head += 1;
            let node = &self.nodes[id as usize];
            // Children are appended in digit order, so they get consecutive positions from here.
            let first = order.len() as u32;
            let mut mask = 0u16;
            for (digit, &child) in node.child.iter().enumerate() {
                if child != NONE {
                    mask |= 1 << digit;
                    order.push(child);
                }
            }
            packed.push(Packed {
                first,
                value: node.value,
                mask,
                extra: 0,
            });
        }
        Frozen { nodes: packed }
    }
}

/// A frozen trie node: 12 bytes.
#[derive(Debug, Clone, Copy)]
struct Packed {
    /// Position of the child of the lowest digit present; the others follow in digit order.
    first: u32,
    /// Value slot of the code ending here, or [`NONE`].
    value: u32,
    /// Bit `d` set when digit `d` has a child.
    mask: u16,
    /// A second small value beside `value` (in what would be padding): [`RateIndex`] keeps
    /// the number of rates of the code here, so a lookup reaches them with no extra load.
    extra: u16,
}

/// The read-only trie the lookups walk.
#[derive(Debug, Clone)]
struct Frozen {
    nodes: Vec<Packed>,
}

impl Frozen {
    /// The value slot of the longest code that prefixes `number`, with that code's length.
    /// A non-digit ends the walk: codes are digits, so nothing past it can match.
    #[inline]
    fn longest(&self, number: &[u8]) -> Option<(usize, u32)> {
        self.longest_node(number)
            .map(|(len, node)| (len, node.value))
    }

    /// The node of the longest code that prefixes `number`, with that code's length.
    #[inline]
    fn longest_node(&self, number: &[u8]) -> Option<(usize, Packed)> {
        let mut node = *self.nodes.first()?;
        let mut best = None;
        for (i, &b) in number.iter().enumerate() {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            let bit = 1u16 << digit;
            if node.mask & bit == 0 {
                break;
            }
            let at = node.first + (node.mask & (bit - 1)).count_ones();
            // In range by construction; `get` keeps a corrupt index from panicking.
            let Some(&next) = self.nodes.get(at as usize) else {
                break;
            };
            node = next;
            if node.value != NONE {
                best = Some((i + 1, node));
            }
        }
        best
    }
}

/// An immutable map from digit codes to values answering "which code is the longest prefix of
/// this number?".
#[derive(Debug, Clone)]
pub struct PrefixIndex<T> {
    trie: Frozen,
    values: Vec<T>,
}

impl<T> PrefixIndex<T> {
    /// Build from `(code, value)` pairs. Each code must pass [`validate_code`]
    /// (`rating.invalid_code`) and appear once (`rating.duplicate_code`).
    pub fn build<C, I>(items: I) -> Result<PrefixIndex<T>>
    where
        C: AsRef<str>,
        I: IntoIterator<Item = (C, T)>,
    {
        let mut trie = Trie::new();
        let mut values = Vec::new();
        for (code, value) in items {
            let code = code.as_ref();
            validate_code(code)?;
            let node = trie.node_of(code)?;
            if trie.nodes[node].value != NONE {
                return Err(RatingError::DuplicateCode(code.to_string()).into());
            }
            // values.len() ≤ nodes.len() − 1 < u32::MAX: each value owns a distinct non-root node.
            trie.nodes[node].value = values.len() as u32;
            values.push(value);
        }
        Ok(PrefixIndex {
            trie: trie.freeze(),
            values,
        })
    }

    /// The longest code that prefixes `number`, and its value. The code returned is a slice of
    /// `number` (they are the same digits). Reading stops at the first non-digit, so `+44…`
    /// matches nothing: callers normalize numbers first.
    #[inline]
    pub fn lookup<'n>(&self, number: &'n str) -> Option<(&'n str, &T)> {
        let (len, slot) = self.trie.longest(number.as_bytes())?;
        // The first `len` bytes are ASCII digits, so `len` is a char boundary.
        Some((number.get(..len)?, self.values.get(slot as usize)?))
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the index has no codes.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of trie nodes (for capacity planning: each is 12 bytes).
    pub fn node_count(&self) -> usize {
        self.trie.nodes.len()
    }
}

/// A value with the period it is effective in: `effective_from ≤ t < effective_till`, with no
/// end when `effective_till` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed<T> {
    /// First instant the value applies (inclusive).
    pub effective_from: DateTime<Utc>,
    /// First instant it no longer applies (exclusive); `None` = open-ended.
    pub effective_till: Option<DateTime<Utc>>,
    /// The value, typically rate terms with the code name.
    pub value: T,
}

impl<T> Timed<T> {
    /// Whether the value applies at `t`.
    pub fn is_effective_at(&self, t: DateTime<Utc>) -> bool {
        self.effective_from <= t && self.effective_till.is_none_or(|till| t < till)
    }

    /// Whether the two periods share an instant.
    pub fn overlaps<U>(&self, other: &Timed<U>) -> bool {
        let ends_after =
            |till: Option<DateTime<Utc>>, from: DateTime<Utc>| till.is_none_or(|till| till > from);
        ends_after(self.effective_till, other.effective_from)
            && ends_after(other.effective_till, self.effective_from)
    }
}

/// A prefix index whose codes carry several rates with effective periods: the rate table as
/// the softswitch sees it.
#[derive(Debug, Clone)]
pub struct RateIndex<T> {
    /// The codes; each code's node holds the first of its rates in `value` and their number
    /// in `extra`, so a lookup goes from the last node straight to the rates: no per-code
    /// table in between (one dependent memory load less on every call).
    trie: Frozen,
    /// All rates, grouped by code, each group sorted by `effective_from`, periods disjoint.
    rates: Vec<Timed<T>>,
    /// Number of distinct codes.
    codes: usize,
}

impl<T> RateIndex<T> {
    /// Build from `(code, rate with period)` items; a code may appear many times with disjoint
    /// periods. Errors: a bad code (`rating.invalid_code`), two periods of one code that
    /// overlap (`rating.period_overlap`, naming the 1-based positions of both items), or a
    /// period that ends before it starts (`rating.invalid_terms`).
    // Long: builds the index in one pass over the sorted codes; the pass's state is local.
    pub fn build<C, I>(items: I) -> Result<RateIndex<T>>
    where
        C: AsRef<str>,
        I: IntoIterator<Item = (C, Timed<T>)>,
    {
        let mut trie = Trie::new();
        // Per code: (1-based input position, rate).
        let mut groups: Vec<Vec<(u64, Timed<T>)>> = Vec::new();
        // Per code, its text: only to name the code in an overlap error.
        let mut codes: Vec<String> = Vec::new();
        for (pos, (code, timed)) in (1u64..).zip(items) {
            let code = code.as_ref();
            validate_code(code)?;
            if timed
                .effective_till
                .is_some_and(|till| till <= timed.effective_from)
            {
                return Err(RatingError::InvalidTerms {
                    field: "effective_till".into(),
                    reason: format!("must be after effective_from (code {code}, item {pos})"),
                }
                .into());
            }
            let node = trie.node_of(code)?;
            let slot = trie.nodes[node].value;
            if slot == NONE {
                trie.nodes[node].value = groups.len() as u32;
                groups.push(vec![(pos, timed)]);
                codes.push(code.to_string());
            } else {
                groups[slot as usize].push((pos, timed));
            }
        }
        let mut values: Vec<(u32, u16)> = Vec::with_capacity(groups.len());
        let mut rates = Vec::new();
        for (mut group, code) in groups.into_iter().zip(codes) {
            group.sort_by_key(|(_, t)| t.effective_from);
            for pair in group.windows(2) {
                let ((p1, a), (p2, b)) = (&pair[0], &pair[1]);
                if a.overlaps(b) {
                    return Err(RatingError::PeriodOverlap {
                        code: code.clone(),
                        first: (*p1).min(*p2),
                        second: (*p1).max(*p2),
                    }
                    .into());
                }
            }
            let start = rates.len();
            let count = group.len();
            rates.extend(group.into_iter().map(|(_, t)| t));
            // A node holds a u32 start and a u16 count: 4 billion rates in all, or 65,535
            // periods of one code, is refused. (NONE marks "no value", so it is not a start.)
            let (Ok(start), Ok(count)) = (u32::try_from(start), u16::try_from(count)) else {
                return Err(RatingError::InvalidCode {
                    code,
                    reason: "the rate index is full (too many rates, or periods of this code)"
                        .into(),
                }
                .into());
            };
            if start == NONE {
                return Err(RatingError::InvalidCode {
                    code,
                    reason: "the rate index is full".into(),
                }
                .into());
            }
            values.push((start, count));
        }
        let mut frozen = trie.freeze();
        for node in &mut frozen.nodes {
            if let Some(&(start, count)) = values.get(node.value as usize) {
                node.value = start;
                node.extra = count;
            }
        }
        Ok(RateIndex {
            trie: frozen,
            rates,
            codes: values.len(),
        })
    }

    /// The rate for a call to `number` starting at `at`: the longest code prefixing the number
    /// that has a rate effective at `at`, that code (a slice of `number`), and the rate.
    /// `None` is DESIGN's `rating.no_rate`.
    pub fn lookup_at<'n>(
        &self,
        number: &'n str,
        at: DateTime<Utc>,
    ) -> Option<(&'n str, &Timed<T>)> {
        // One walk in the common case; a shorter one each time the longest code has no rate
        // effective at `at`.
        let mut limit = number.len();
        loop {
            let (len, node) = self.trie.longest_node(number.as_bytes().get(..limit)?)?;
            if let Some(rate) = effective_at(self.slice(node), at) {
                return Some((number.get(..len)?, rate));
            }
            limit = len - 1;
        }
    }

    /// The longest code prefixing `number` and all its rates (sorted by `effective_from`),
    /// whatever their periods.
    pub fn lookup_all<'n>(&self, number: &'n str) -> Option<(&'n str, &[Timed<T>])> {
        let (len, node) = self.trie.longest_node(number.as_bytes())?;
        Some((number.get(..len)?, self.slice(node)))
    }

    fn slice(&self, node: Packed) -> &[Timed<T>] {
        let start = node.value as usize;
        self.rates
            .get(start..start + usize::from(node.extra))
            .unwrap_or(&[])
    }

    /// Number of distinct codes.
    pub fn code_count(&self) -> usize {
        self.codes
    }
}

/// The rate of `rates` (sorted by `effective_from`, disjoint) effective at `at`.
fn effective_at<T>(rates: &[Timed<T>], at: DateTime<Utc>) -> Option<&Timed<T>> {
    // The last rate starting at or before `at` is the only candidate.
    let after = rates.partition_point(|r| r.effective_from <= at);
    let candidate = rates.get(after.checked_sub(1)?)?;
    candidate.is_effective_at(at).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn day(n: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, n, 0, 0, 0)
            .single()
            .expect("test date")
    }

    fn timed(from: u32, till: Option<u32>, value: &'static str) -> Timed<&'static str> {
        Timed {
            effective_from: day(from),
            effective_till: till.map(day),
            value,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let idx = PrefixIndex::build([
            ("44", "UK"),
            ("447", "UK mobile"),
            ("4479", "UK m 9"),
            ("1", "NANP"),
        ])
        .unwrap();
        assert_eq!(idx.lookup("447911123456"), Some(("4479", &"UK m 9")));
        assert_eq!(idx.lookup("447811123456"), Some(("447", &"UK mobile")));
        assert_eq!(idx.lookup("442071234567"), Some(("44", &"UK")));
        assert_eq!(idx.lookup("44"), Some(("44", &"UK")));
        assert_eq!(idx.lookup("4"), None);
        assert_eq!(idx.lookup("33123"), None);
        assert_eq!(idx.lookup(""), None);
        assert_eq!(idx.lookup("+447911"), None, "a non-digit ends the walk");
        assert_eq!(idx.lookup("447x9"), Some(("447", &"UK mobile")));
        assert_eq!(idx.lookup("1ü"), Some(("1", &"NANP")));
        assert_eq!(idx.len(), 4);
    }

    #[test]
    fn bad_codes_are_refused() {
        let too_long = "1".repeat(limits::rate_code_digits_max + 1);
        for bad in ["", "44a", "+44", " 44", "4 4", "٤٤", too_long.as_str()] {
            let e = PrefixIndex::build([(bad, 1)]).unwrap_err();
            assert_eq!(e.code(), ErrorCode::RatingInvalidCode, "{bad:?}");
        }
        let max = "9".repeat(limits::rate_code_digits_max);
        assert!(PrefixIndex::build([(max.as_str(), 1)]).is_ok());
        let e = PrefixIndex::build([("44", 1), ("44", 2)]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingDuplicateCode);
    }

    #[test]
    fn rates_are_picked_by_effective_period() {
        let idx = RateIndex::build([
            ("44", timed(1, None, "uk")),
            ("447", timed(1, Some(10), "mobile old")),
            ("447", timed(10, Some(20), "mobile new")),
            ("4479", timed(15, None, "m9 from 15")),
        ])
        .unwrap();
        let at = |n: &'static str, d: u32| idx.lookup_at(n, day(d)).map(|(c, r)| (c, r.value));
        assert_eq!(at("4479123", 1), Some(("447", "mobile old")));
        assert_eq!(at("4479123", 9), Some(("447", "mobile old")));
        assert_eq!(
            at("4479123", 10),
            Some(("447", "mobile new")),
            "till is exclusive"
        );
        assert_eq!(at("4479123", 15), Some(("4479", "m9 from 15")));
        assert_eq!(
            at("4478123", 20),
            Some(("44", "uk")),
            "447 ended: fall back to 44"
        );
        assert_eq!(idx.lookup_at("33", day(5)), None);
        assert_eq!(
            idx.lookup_at(
                "4412",
                Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap()
            ),
            None,
            "nothing is effective before its start"
        );
        let (code, all) = idx.lookup_all("4478").unwrap();
        assert_eq!((code, all.len()), ("447", 2));
        assert_eq!(idx.code_count(), 3);
    }

    #[test]
    fn overlapping_periods_are_refused_with_both_positions() {
        let e = RateIndex::build([
            ("44", timed(1, Some(10), "a")),
            ("33", timed(1, None, "b")),
            ("44", timed(9, None, "c")),
        ])
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingPeriodOverlap);
        assert!(e.to_string().contains("1 and 3"), "{e}");
        let e = RateIndex::build([("44", timed(5, None, "a")), ("44", timed(1, None, "b"))])
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingPeriodOverlap);
        let e = RateIndex::build([("44", timed(5, Some(5), "empty"))]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::RatingInvalidTerms);
        // Touching periods do not overlap.
        assert!(
            RateIndex::build([("44", timed(1, Some(5), "a")), ("44", timed(5, None, "b"))]).is_ok()
        );
    }

    fn naive<'a>(codes: &'a [(String, usize)], number: &str) -> Option<(&'a str, usize)> {
        codes
            .iter()
            .filter(|(c, _)| number.starts_with(c.as_str()))
            .max_by_key(|(c, _)| c.len())
            .map(|(c, v)| (c.as_str(), *v))
    }

    proptest! {
        #[test]
        fn lookup_matches_a_naive_scan(
            codes in prop::collection::btree_set("[0-9]{1,6}", 0..200),
            numbers in prop::collection::vec("[0-9]{0,9}", 1..50),
        ) {
            let codes: Vec<(String, usize)> = codes.into_iter().enumerate().map(|(i, c)| (c, i)).collect();
            let idx = PrefixIndex::build(codes.iter().map(|(c, v)| (c.as_str(), *v))).unwrap();
            for number in &numbers {
                let got = idx.lookup(number).map(|(c, v)| (c, *v));
                let want = naive(&codes, number);
                prop_assert_eq!(got.map(|(_, v)| v), want.map(|(_, v)| v), "{}", number);
                prop_assert_eq!(got.map(|(c, _)| c.to_string()), want.map(|(c, _)| c.to_string()));
            }
            // Numbers built from the codes themselves always hit something.
            for (code, _) in codes.iter().take(20) {
                let number = format!("{code}123");
                prop_assert_eq!(idx.lookup(&number).map(|(_, v)| *v), naive(&codes, &number).map(|(_, v)| v));
            }
        }

        #[test]
        fn lookup_at_matches_a_naive_scan(
            rows in prop::collection::vec(("[0-9]{1,3}", 1u32..20, 1u32..10), 0..60),
            probes in prop::collection::vec(("[0-9]{0,5}", 1u32..28), 1..40),
        ) {
            // Keep only rows whose period does not overlap an earlier row of the same code.
            let mut kept: Vec<(String, Timed<usize>)> = Vec::new();
            for (i, (code, from, len)) in rows.into_iter().enumerate() {
                let t = Timed { effective_from: day(from), effective_till: Some(day(from + len)), value: i };
                if !kept.iter().any(|(c, k)| *c == code && k.overlaps(&t)) {
                    kept.push((code, t));
                }
            }
            let idx = RateIndex::build(kept.iter().map(|(c, t)| (c.as_str(), t.clone()))).unwrap();
            for (number, d) in &probes {
                let at = day(*d);
                let want = kept
                    .iter()
                    .filter(|(c, t)| number.starts_with(c.as_str()) && t.is_effective_at(at))
                    .max_by_key(|(c, _)| c.len())
                    .map(|(c, t)| (c.clone(), t.value));
                let got = idx.lookup_at(number, at).map(|(c, t)| (c.to_string(), t.value));
                prop_assert_eq!(got, want);
            }
        }
    }
}

//! Rating kernel hot paths: longest-prefix lookup on a 100,000-code deck, `cost`,
//! `max_seconds`, and parsing a 100,000-row CSV deck.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::str::FromStr;
use tollgate::clock::parse_dt;
use tollgate::money::Rounding;
use tollgate::rating::{cost, max_seconds, parse_deck, PrefixIndex, RateIndex, RateTerms};
use tollgate::Decimal;
use tollgate_benches::{deck_codes, SplitMix};

const CODES: usize = 100_000;
const NUMBERS: usize = 8192;

/// Dialled numbers: 90% start with a deck code (then random digits up to 11–13 digits), 10%
/// are random digits that may match only a short code or nothing.
fn numbers(codes: &[String]) -> Vec<String> {
    let mut rng = SplitMix(7);
    (0..NUMBERS)
        .map(|_| {
            let total = 11 + rng.below(3) as usize;
            let mut n = if rng.below(10) < 9 {
                codes[rng.below(codes.len() as u64) as usize].clone()
            } else {
                String::new()
            };
            let missing = total.saturating_sub(n.len());
            rng.digits(&mut n, missing);
            n
        })
        .collect()
}

fn prefix_lookup(c: &mut Criterion) {
    let codes = deck_codes(CODES);
    let index = PrefixIndex::build(codes.iter().enumerate().map(|(i, c)| (c.as_str(), i)))
        .expect("deck codes are valid");
    let numbers = numbers(&codes);
    let from = parse_dt("2026-01-01").expect("date");
    let rates = RateIndex::build(codes.iter().enumerate().map(|(i, c)| {
        (
            c.as_str(),
            tollgate::rating::Timed {
                effective_from: from,
                effective_till: None,
                value: i,
            },
        )
    }))
    .expect("deck codes are valid");
    let at = parse_dt("2026-06-01").expect("date");
    let hits = numbers.iter().filter(|n| index.lookup(n).is_some()).count();
    eprintln!(
        "prefix index: {} codes, {} nodes, {hits}/{} numbers match",
        index.len(),
        index.node_count(),
        numbers.len()
    );

    let mut group = c.benchmark_group("prefix");
    group.throughput(Throughput::Elements(numbers.len() as u64));
    group.bench_function(BenchmarkId::new("lookup", "100k codes"), |b| {
        b.iter(|| {
            let mut found = 0usize;
            for n in &numbers {
                if let Some((code, v)) = index.lookup(black_box(n)) {
                    found = found.wrapping_add(code.len() ^ *v);
                }
            }
            found
        })
    });
    group.bench_function(BenchmarkId::new("lookup_at", "100k codes"), |b| {
        b.iter(|| {
            let mut found = 0usize;
            for n in &numbers {
                if let Some((code, r)) = rates.lookup_at(black_box(n), at) {
                    found = found.wrapping_add(code.len() ^ r.value);
                }
            }
            found
        })
    });
    group.finish();
}

fn formula(c: &mut Criterion) {
    let d = |s: &str| Decimal::from_str(s).expect("decimal");
    let vendor = RateTerms::new(d("1"), 30, 1, 2, d("0.3")).expect("terms");
    let per_second = RateTerms::new(d("0.0123"), 1, 1, 0, d("0")).expect("terms");
    let mut group = c.benchmark_group("formula");
    group.throughput(Throughput::Elements(1));
    group.bench_function("cost", |b| {
        b.iter(|| cost(black_box(&vendor), black_box(187), 4, Rounding::HalfUp))
    });
    group.bench_function("max_seconds/vendor", |b| {
        b.iter(|| {
            max_seconds(
                black_box(&vendor),
                black_box(d("12.3456")),
                4,
                Rounding::HalfUp,
                10_800,
            )
        })
    });
    group.bench_function("max_seconds/tiny_rate_ceiling", |b| {
        b.iter(|| {
            max_seconds(
                black_box(&per_second),
                black_box(d("1.0001")),
                4,
                Rounding::Ceiling,
                10_800,
            )
        })
    });
    group.finish();
}

fn deck_parse(c: &mut Criterion) {
    let codes = deck_codes(CODES);
    let mut text = String::from(
        "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n",
    );
    for (i, code) in codes.iter().enumerate() {
        text.push_str(&format!(
            "{code},Destination {i},0.{:04},30,6,0,0.01,2026-01-01 00:00:00,\n",
            i % 10_000
        ));
    }
    let mut group = c.benchmark_group("deck");
    group.sample_size(10);
    group.throughput(Throughput::Elements(codes.len() as u64));
    group.bench_function("parse/100k rows", |b| {
        b.iter(|| parse_deck(black_box(text.as_bytes()), 4).map(|rows| rows.len()))
    });
    group.finish();
}

criterion_group!(benches, prefix_lookup, formula, deck_parse);
criterion_main!(benches);

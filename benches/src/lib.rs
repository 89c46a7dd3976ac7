//! Shared fixtures for the benchmarks.

/// A small deterministic generator: a benchmark must see the same data every run.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Append `count` random digits.
    pub fn digits(&mut self, out: &mut String, count: usize) {
        for _ in 0..count {
            out.push(char::from(b'0' + self.below(10) as u8));
        }
    }
}

/// A deck shaped like a carrier's: ~250 country codes of 1–3 digits, and under them codes of
/// 4–9 digits (area codes, mobile ranges), `count` distinct codes in all.
pub fn deck_codes(count: usize) -> Vec<String> {
    let mut rng = SplitMix(42);
    let mut countries = Vec::new();
    while countries.len() < 250 {
        let mut c = String::new();
        let len = 1 + rng.below(3) as usize;
        rng.digits(&mut c, len);
        if !c.starts_with('0') && !countries.contains(&c) {
            countries.push(c);
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut codes = Vec::with_capacity(count);
    for c in &countries {
        if seen.insert(c.clone()) {
            codes.push(c.clone());
        }
    }
    while codes.len() < count {
        let mut code = countries[rng.below(countries.len() as u64) as usize].clone();
        let extra = 1 + rng.below(6) as usize;
        rng.digits(&mut code, extra);
        if code.len() >= 4 && seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    codes
}

/// `count` dialled numbers of 11–13 digits, each starting with a deck code.
pub fn dialled_numbers(codes: &[String], count: usize) -> Vec<String> {
    let mut rng = SplitMix(7);
    (0..count)
        .map(|_| {
            let total = 11 + rng.below(3) as usize;
            let mut n = codes[rng.below(codes.len() as u64) as usize].clone();
            let missing = total.saturating_sub(n.len());
            rng.digits(&mut n, missing);
            n
        })
        .collect()
}

/// The deck as CSV files for `rates.import`, `rows_per_file` rows each.
pub fn deck_csv(codes: &[String], rows_per_file: usize) -> Vec<String> {
    codes
        .chunks(rows_per_file.max(1))
        .enumerate()
        .map(|(chunk, codes)| {
            let mut text = String::from(
                "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n",
            );
            for (i, code) in codes.iter().enumerate() {
                let i = chunk * rows_per_file + i;
                text.push_str(&format!(
                    "{code},Destination {i},0.{:04},30,6,0,0.01,2020-01-01 00:00:00,\n",
                    1 + i % 9_999
                ));
            }
            text
        })
        .collect()
}

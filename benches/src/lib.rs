//! Shared fixtures for the benchmarks.

pub mod measure;
pub mod naive;

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

pub mod scale;

/// An engine through the C ABI (`libtollgate`), for the benches that measure the boundary.
pub mod c_abi {
    use serde_json::{json, Value};
    use std::ffi::{CStr, CString};

    /// A C ABI engine handle on `":memory:"`, closed when dropped.
    pub struct CEngine(pub *mut libtollgate::tg_engine);
    // SAFETY: every function is thread-safe on one engine (docs/c-api.md).
    unsafe impl Send for CEngine {}
    // SAFETY: as above.
    unsafe impl Sync for CEngine {}

    impl CEngine {
        /// `tg_engine_create(":memory:", "admin", "admin-password-1")`.
        pub fn memory() -> CEngine {
            let mut engine = std::ptr::null_mut();
            let path = CString::new(":memory:").expect("path");
            let (login, password) = (
                CString::new("admin").expect("login"),
                CString::new("admin-password-1").expect("password"),
            );
            // SAFETY: valid NUL-terminated strings and a writable out pointer.
            let r = unsafe {
                libtollgate::tg_engine_create(
                    path.as_ptr(),
                    login.as_ptr(),
                    password.as_ptr(),
                    &mut engine,
                )
            };
            assert_eq!(r, libtollgate::tg_result::Ok, "tg_engine_create");
            CEngine(engine)
        }

        /// A Management API call through `tg_call` as the administrator, which must succeed;
        /// its `return`.
        pub fn must(&self, method: &str, mut params: Value) -> Value {
            params["auth"] = json!({"login": "admin", "password": "admin-password-1"});
            let m = CString::new(method).expect("method");
            let p = CString::new(params.to_string()).expect("params");
            let mut out = std::ptr::null_mut();
            // SAFETY: live handle, NUL-terminated strings, writable output.
            let r = unsafe { libtollgate::tg_call(self.0, m.as_ptr(), p.as_ptr(), &mut out) };
            assert_eq!(r, libtollgate::tg_result::Ok, "tg_call {method}");
            // SAFETY: `out` is a library-owned string, freed once below.
            let text = unsafe { CStr::from_ptr(out) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: returned by tg_call, not freed before.
            unsafe { libtollgate::tg_string_free(out) };
            let env: Value = serde_json::from_str(&text).expect("an envelope");
            assert_eq!(env["code"], true, "{method}: {text}");
            env["return"].clone()
        }
    }

    impl Drop for CEngine {
        fn drop(&mut self) {
            // SAFETY: the handle is live and closed only here, once.
            unsafe { libtollgate::tg_engine_close(self.0) };
        }
    }
}

/// The charging benches' shared harness: the world they charge in and their callers.
pub mod charging {
    use crate::{deck_codes, deck_csv, dialled_numbers};
    use serde_json::json;
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};
    use tollgate::{AuthorizeRequest, Engine};

    const CODES: usize = 100_000;

    pub fn must(e: &Engine, method: &str, params: serde_json::Value) -> serde_json::Value {
        let r = e.call_as_system(method, params.clone());
        assert!(r.code, "{method} {params}: {:?}", r.errors);
        r.ret
    }

    /// A new database at `target` (a file or a `postgres://` URL) with a 100,000-code rate table
    /// and `accounts` clients, each with an ANI account `1000 + k` and a large balance; and
    /// `numbers` dialled numbers that match the deck.
    pub fn world(target: &str, accounts: usize, numbers: usize) -> (Engine, Vec<String>) {
        world_of(target, CODES, accounts, numbers)
    }

    /// [`world`] with a rate table of `codes` codes (the harness's smoke run uses a small one).
    pub fn world_of(
        target: &str,
        codes: usize,
        accounts: usize,
        numbers: usize,
    ) -> (Engine, Vec<String>) {
        let e = Engine::create(target, "admin", "admin-password-1").expect("create");
        let codes = deck_codes(codes);
        provision(&|method, params| must(&e, method, params), &codes, accounts);
        (e, dialled_numbers(&codes, numbers))
    }

    /// The charging world through any way of calling the API (`call` must succeed and return
    /// the call's `return`): a rate table of `codes`, and `accounts` clients, each with an ANI
    /// account `1000 + k` and a large balance.
    pub fn provision(
        call: &dyn Fn(&str, serde_json::Value) -> serde_json::Value,
        codes: &[String],
        accounts: usize,
    ) {
        let table = call(
            "rateTables.add",
            json!({"name": "Carrier", "rounding": "half_up"}),
        )["id"]
            .as_i64()
            .expect("id");
        for csv in deck_csv(codes, 20_000) {
            call("rates.import", json!({"id_rate_tables": table, "csv": csv}));
        }
        for k in 0..accounts {
            let c = call(
                "clients.add",
                json!({"name": format!("Client {k}"), "orig_rate_table": table}),
            )["id"]
                .as_i64()
                .expect("id");
            call(
                "accounts.add",
                json!({"id_clients": c, "name": format!("ani {k}"), "auth_type": "ani", "ident": format!("{}", 1000 + k)}),
            );
            call(
                "transactions.add",
                json!({"id_clients": c, "type": "payment", "amount": "1000000000"}),
            );
        }
    }

    pub fn requests(numbers: &[String], account: usize) -> Vec<AuthorizeRequest> {
        numbers
            .iter()
            .map(|n| AuthorizeRequest {
                account: format!("{}", 1000 + account),
                auth_type: Some("ani".into()),
                destination: n.clone(),
                ..Default::default()
            })
            .collect()
    }

    /// The p50 and p99 of `samples`, in microseconds.
    pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
        samples.sort_unstable();
        let at = |q: f64| {
            let k = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
            samples.get(k).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        (at(0.50), at(0.99))
    }

    /// Run `threads` callers, each making `per` calls `call(thread, i)` after one common start;
    /// returns their wall time, scaled to `iters` calls, and what the calls returned.
    pub fn callers<R: Send + 'static>(
        threads: usize,
        iters: u64,
        call: &Arc<dyn Fn(usize, u64) -> R + Send + Sync>,
    ) -> (Duration, Vec<R>) {
        let per = iters.div_ceil(threads as u64);
        let barrier = Arc::new(Barrier::new(threads + 1));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (call, barrier) = (Arc::clone(call), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..per).map(|i| call(t, i)).collect::<Vec<R>>()
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let out: Vec<R> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("caller"))
            .collect();
        // Every thread ran `per` calls: scale to the `iters` criterion asked for.
        let elapsed = start.elapsed();
        (
            elapsed.mul_f64(iters as f64 / (per * threads as u64) as f64),
            out,
        )
    }

    /// One caller's authorize + durable settle of a fresh call id, for [`callers`]: thread `t`
    /// dials the first 256 of `numbers` from account `t % accounts`.
    pub fn authorize_settle(
        e: &Engine,
        numbers: &[String],
        accounts: usize,
        threads: usize,
        calls: &Arc<std::sync::atomic::AtomicU64>,
    ) -> Arc<dyn Fn(usize, u64) + Send + Sync> {
        let reqs: Vec<Vec<AuthorizeRequest>> = (0..threads)
            .map(|t| requests(&numbers[..256], t % accounts))
            .collect();
        let (e, calls) = (e.clone(), Arc::clone(calls));
        Arc::new(move |t, i| {
            let req = &reqs[t][(i as usize) % reqs[t].len()];
            let a = e.authorize(req).expect("authorized");
            let call = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            e.settle(&tollgate::SettleRequest {
                reservation: Some(a.reservation),
                call_id: format!("bench-{call}"),
                duration: 1 + call % 300,
                ..Default::default()
            })
            .expect("settled");
        })
    }
}

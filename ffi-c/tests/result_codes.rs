//! `tg_result` and core's error table agree: every core error code has its own `tg_result`
//! with core's C number, every `tg_result` is either a boundary code (below 1000) or comes
//! from exactly one core code, and the C names (`tg_result_code`) are core's strings.

use std::collections::HashMap;
use std::ffi::CStr;
use tollgate::{tg_result, tg_result_code};
use tollgate_core::ErrorCode;

#[test]
fn every_core_code_maps_to_its_own_result() {
    let mut seen: HashMap<u32, ErrorCode> = HashMap::new();
    for &code in ErrorCode::ALL {
        let r = tg_result::from_code(code);
        assert_eq!(r as u32, code.c_code(), "{code} maps to {r:?}");
        if let Some(other) = seen.insert(r as u32, code) {
            panic!("{code} and {other} share tg_result {}", r as u32);
        }
        assert_eq!(r.code().to_str().unwrap(), code.as_str());
    }
    assert_eq!(seen.len(), ErrorCode::ALL.len());
}

#[test]
fn every_result_comes_from_core_or_the_boundary() {
    let core: HashMap<u32, ErrorCode> = ErrorCode::ALL.iter().map(|c| (c.c_code(), *c)).collect();
    let mut numbers = std::collections::HashSet::new();
    for &r in tg_result::ALL {
        let n = r as u32;
        assert!(numbers.insert(n), "{r:?}: number {n} used twice");
        assert_eq!(tg_result::from_u32(n), Some(r));
        if n < 1000 {
            assert!(
                r.code().to_str().unwrap() == "ok"
                    || r.code().to_str().unwrap().starts_with("ffi."),
                "{r:?} is in the boundary block but named {:?}",
                r.code()
            );
            assert!(!core.contains_key(&n));
        } else {
            let code = core
                .get(&n)
                .unwrap_or_else(|| panic!("{r:?} ({n}) is not a core error code"));
            assert_eq!(tg_result::from_code(*code), r);
        }
    }
    assert_eq!(
        tg_result::ALL.len(),
        core.len() + 4,
        "boundary block is 4 codes"
    );
    assert_eq!(tg_result::Ok as u32, 0);
    assert_eq!(tg_result::NullParameter as u32, 1);
}

#[test]
fn result_code_names_every_number_and_maps_unknown_ones() {
    let name = |n: u32| {
        // SAFETY: tg_result_code returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(tg_result_code(n)) }
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(name(0), "ok");
    assert_eq!(name(4200), "balance.insufficient");
    assert_eq!(name(1), "ffi.null_parameter");
    for n in [4, 999, 1003, 4300, 8999, 9001, u32::MAX] {
        assert_eq!(name(n), "unknown", "{n}");
    }
}

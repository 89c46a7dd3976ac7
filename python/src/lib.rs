//! Python bindings: the private native module `tollgate._native` behind the `tollgate` and
//! `vcsapi` packages (built into one abi3 wheel by maturin from `python/pyproject.toml`).
//!
//! The public API is written in Python (`python/python/tollgate`, `python/python/vcsapi`);
//! this crate holds what must be native: the engine wrapper, exact value conversion and the
//! error table the exception tree is generated from.

mod convert;
mod engine;
mod errors;
mod types;

use pyo3::prelude::*;

/// The version the Python packages report (the crate's, from Cargo).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Tollgate's native core. Import `tollgate` or `vcsapi` instead.
#[pymodule(name = "_native")]
mod native {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::convert::{json_dumps, json_loads};
    #[pymodule_export]
    use crate::engine::Engine;
    #[pymodule_export]
    use crate::errors::error_table;
    #[pymodule_export]
    use crate::types::{Authorization, FileInfo, Settlement};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", crate::version())
    }
}

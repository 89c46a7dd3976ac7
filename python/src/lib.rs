//! Python bindings (the `vcsapi` and `tollgate` packages) are built here with pyo3 by the
//! Python issue. Today the crate re-exports the engine so the workspace layout is complete.

pub use tollgate::Engine;

/// The version the Python packages will report.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

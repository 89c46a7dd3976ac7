//! Cross-crate scenarios, simulations and crash tests for Tollgate live in `tests/tests/`.

#![allow(non_upper_case_globals)]
//! Every bound the RADIUS front door enforces, named once, unit last. These are the defaults
//! of [`crate::RadiusConfig`]; the engine's own bounds (`tollgate::limits`) apply behind them.

/// Largest RADIUS packet accepted, in bytes (RFC 2865 §3). A datagram over it, or whose
/// header claims more, is dropped and counted.
pub const packet_bytes_max: usize = 4096;
/// How long an answered request's reply is kept for its retransmissions (same source,
/// identifier and Request Authenticator), in seconds. A NAS retries within seconds; a
/// retransmission after the window is handled again (a Stop then replays its settle by call
/// id, charging nothing twice).
pub const retransmit_window_seconds: u64 = 30;
/// Most replies kept for retransmissions; past it the oldest go first.
pub const retransmit_cache_entries_max: usize = 131_072;
/// Most calls tracked between authorization and Stop (Acct-Session-Id to reservation). Past
/// it a grant is still answered (its Class names the reservation) but not tracked by call id.
pub const sessions_max: usize = 1_000_000;
/// A tracked call is forgotten this long after its reservation expires, in seconds.
pub const session_margin_seconds: u64 = 60;
/// Threads receiving on each socket (Access-Requests, Starts and Interim-Updates are
/// answered from memory on them).
pub const receiver_threads: usize = 2;
/// Threads settling Stops. Each waits for the group commit that makes its settle durable, so
/// this many Stops can share one fsync. Matches the HTTP server's `blocking_threads_max`.
pub const settle_threads: usize = 64;
/// Stops waiting for a settle thread; past it a Stop is dropped (and counted) and the NAS
/// retransmits it.
pub const settle_queue_max: usize = 4096;
/// Longest shared secret accepted, in bytes.
pub const secret_bytes_max: usize = 128;
/// Most lines in a `--radius-clients` file.
pub const clients_max: usize = 10_000;
/// The socket's receive buffer asked of the kernel, in bytes (it may grant less).
pub const socket_buffer_bytes: usize = 4 * 1024 * 1024;
/// How often the receive loop looks at its stop flag, and the sweeper runs, in milliseconds.
pub const poll_interval_ms: u64 = 200;

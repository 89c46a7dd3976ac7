#![allow(non_upper_case_globals)]
//! Every bound the HTTP server enforces, named once, unit last. These are the defaults of
//! [`crate::ServeConfig`]; the engine's own bounds (`tollgate::limits`) apply behind them.

/// Largest request body accepted, in bytes. The JSON-RPC text limit of the engine; a REST
/// body is also held to `tollgate::limits::rest_body_bytes_max` once decoded.
pub const body_bytes_max: usize = tollgate::limits::request_size_bytes_max;
/// Largest request head (request line and headers), in bytes. hyper's smallest buffer is
/// 8 KiB; 16 KiB leaves room for an 8 KiB access token in `Authorization`.
pub const header_bytes_max: usize = 16 * 1024;
/// Most headers in one request.
pub const headers_count_max: usize = 64;
/// Most connections served at once. Beyond it the server stops accepting and new
/// connections wait in the kernel's backlog. Four peers at `peer_connections_max` fit.
pub const connections_max: usize = 1024;
/// Most connections served at once from one peer (an IPv4 address, an IPv6 /64). One more is
/// accepted and closed at once, so one peer cannot take the whole of `connections_max`. A
/// local load generator holding 256 keep-alive connections fits.
pub const peer_connections_max: usize = 256;
/// Longest time from a connection's first byte to a complete request head, in milliseconds
/// (also the TLS handshake bound and the idle time of a kept-alive connection).
pub const header_read_ms_max: u64 = 10_000;
/// Longest time from a complete request head to the whole body, in milliseconds. A body that
/// is not all there by then is answered 408 and the connection closed.
pub const body_read_ms_max: u64 = 10_000;
/// Longest time from a complete request head to the response head, in milliseconds:
/// reading the body and running the engine. The vendor's client gives up after 60 s.
pub const request_ms_max: u64 = 60_000;
/// Longest time a file method (`/admin/...`) may take to produce its file, in milliseconds.
pub const file_request_ms_max: u64 = 10 * 60_000;
/// Threads that run engine calls (which may block on the store lock and fsync).
pub const blocking_threads_max: usize = 64;
/// Longest time shutdown waits for in-flight requests, in milliseconds.
pub const shutdown_grace_ms_max: u64 = 30_000;
/// A file response is held in memory up to this size before it spills to a temporary file,
/// in bytes.
pub const file_spool_memory_bytes_max: usize = 1024 * 1024;
/// Size of one chunk of a file response body, in bytes.
pub const file_chunk_bytes: usize = 64 * 1024;
/// Longest URL path served, in bytes (before the router looks at it).
pub const path_bytes_max: usize = 256;
/// Most fields in one form (query string, form-encoded or multipart body).
pub const form_fields_max: usize = 4096;
/// Deepest bracket nesting in one form field name (`a[b][c]`).
pub const form_depth_max: usize = tollgate::limits::json_depth_max;

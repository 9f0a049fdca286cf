//! Stable process exit codes (documented in `docs/exit-codes.md`).
//!
//! Scripts and monitoring depend on these numbers: never renumber, only add.

/// Everything asked for succeeded.
pub const OK: i32 = 0;
/// Finished, but with warnings or a partial failure (some components failed, others completed).
pub const PARTIAL: i32 = 1;
/// The operation failed (every component failed, or a check found failures).
pub const FAILED: i32 = 2;
/// The command line was wrong (unknown flag, unparseable value).
pub const USAGE: i32 = 64;
/// The configuration or a policy file is invalid; nothing was written.
pub const INVALID_CONFIG: i32 = 65;
/// The cloud provider could not be reached or refused (access denied, throttled past retries).
pub const CLOUD_UNAVAILABLE: i32 = 69;
/// An internal error (a bug): please report it.
pub const INTERNAL: i32 = 70;
/// Another process holds what this one needs (a daemon's catalog lease).
pub const LOCKED: i32 = 75;
/// The catalog could not be opened or written (missing, locked, newer schema).
pub const CATALOG: i32 = 74;

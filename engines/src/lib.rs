//! Throwaway PostgreSQL and Redis servers for Parley's tests, `cargo xtask cluster`
//! and the benchmarks: each starts in a directory of its own on a free port of
//! 127.0.0.1, says when it is ready, can be restarted or killed to inject faults,
//! and is stopped (and its directory removed) when dropped.
//!
//! std only, on purpose: xtask depends on this crate and xtask is the first thing a
//! fresh checkout compiles. The binaries come from Debian's `postgresql` and
//! `redis-server` packages (`cargo xtask install` installs them when missing).
//!
//! Every wait is bounded; a failure says what was waited for and ends with the tail
//! of the engine's log.

mod postgres;
mod process;
mod redis;

pub use postgres::{Postgres, PostgresOptions, postgres_bin_dir};
pub use process::scratch_dir;
pub use redis::{Redis, RedisOptions, redis_server_bin};

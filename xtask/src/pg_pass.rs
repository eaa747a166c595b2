//! `cargo xtask test pg`: the API tests a second time, on a throwaway PostgreSQL
//! (and Redis) that this step starts and stops itself, so both store backends
//! pass the same suite.

use std::time::Instant;

use parley_engines::{Postgres, PostgresOptions, Redis, RedisOptions, scratch_dir};

use crate::ctx::{self, Ctx, Error, say};

/// The test targets of `parley-backend` that run again on the engines.
const TESTS: &[&str] = &["api"];

/// Starts the engines, runs [`TESTS`] with `PARLEY_TEST_POSTGRES` and
/// `PARLEY_TEST_REDIS` pointing at them, and stops them whatever the outcome.
pub fn run(ctx: &Ctx) -> Result<(), Error> {
    // Dropped (stopped, directories removed) on every path out of here, the
    // error paths included.
    let pg = start_postgres()?;
    let redis = start_redis()?;
    let mut cmd = ctx.cargo();
    cmd.args(["test", "-p", "parley-backend"]);
    for test in TESTS {
        cmd.args(["--test", test]);
    }
    cmd.env("PARLEY_TEST_POSTGRES", pg.url())
        .env("PARLEY_TEST_REDIS", redis.url());
    let outcome = ctx::run(&mut cmd);
    let stopped = stop(pg, redis);
    outcome.and(stopped)
}

fn start_postgres() -> Result<Postgres, Error> {
    let started = Instant::now();
    let dir = scratch_dir("parley-test-postgres").map_err(engine_error("PostgreSQL"))?;
    let pg =
        Postgres::start(&dir, PostgresOptions::for_tests()).map_err(engine_error("PostgreSQL"))?;
    say!(
        "PostgreSQL started in {} (fsync off): {} (PID {}, files in {})",
        ctx::human(started.elapsed()),
        pg.url(),
        pg.pid().map_or_else(|_| "?".to_string(), |p| p.to_string()),
        pg.dir().display()
    );
    Ok(pg)
}

fn start_redis() -> Result<Redis, Error> {
    let started = Instant::now();
    let dir = scratch_dir("parley-test-redis").map_err(engine_error("Redis"))?;
    let redis = Redis::start(&dir, RedisOptions::default()).map_err(engine_error("Redis"))?;
    say!(
        "Redis started in {}: {} (PID {})",
        ctx::human(started.elapsed()),
        redis.url(),
        redis
            .pid()
            .map_or_else(|| "?".to_string(), |p| p.to_string()),
    );
    Ok(redis)
}

fn stop(pg: Postgres, redis: Redis) -> Result<(), Error> {
    let started = Instant::now();
    let redis = redis.stop().map_err(engine_error("Redis"));
    let pg = pg.stop().map_err(engine_error("PostgreSQL"));
    say!(
        "PostgreSQL and Redis stopped in {}",
        ctx::human(started.elapsed())
    );
    redis.and(pg)
}

fn engine_error(engine: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |err| Error::new(format!("{engine}: {err}"))
}

//! `cargo xtask <command>`: Parley's multi-step developer workflows, in Rust instead of
//! shell scripts (alias in `.cargo/config.toml`).
//!
//! - `install`: make sure every tool the build and the tests need is present.
//! - `dist`: build the SPA (release) into `dist/`.
//! - `run`: install, build the SPA, run the server on it (extra args go to the server).
//! - `test`: fmt, clippy, native tests, the API tests on PostgreSQL, browser (wasm)
//!   tests, end-to-end tests.
//! - `cluster`: three nodes on a throwaway PostgreSQL and Redis, until Ctrl-C.
//! - `bench`: the benchmarks against peers (installs them, writes docs/benchmarks.md).
//! - `autobahn`, `fuzz`: the WebSocket conformance suite and the decoder's fuzzer.
//!
//! Dependency-free on purpose: it is the first thing a fresh checkout compiles.

mod bench;
mod cluster;
mod conformance;
mod ctx;
mod pg_pass;
mod spa_toolchain;
mod tasks;
mod tools;

use std::process::ExitCode;

use ctx::{Ctx, Error};

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  install           install the missing tools (wasm target, trunk, wasm-bindgen-cli,
                    wasm-opt, terser, postgresql + redis-server, chromium +
                    chromedriver); skips what is already there
  dist              build the SPA in release mode into dist/ (the transport
                    lab's page into dist/lab/); with the nightly toolchain when
                    it is installed (smaller wasm), else stable;
                    PARLEY_SPA_TOOLCHAIN=stable|nightly|auto decides
  run [-- ARGS]     install, build the SPA, then run the server on it;
                    ARGS go to the server, e.g. `cargo xtask run -- --listen 0.0.0.0:8080`
  test [STEP...]    run the checks in order, stopping at the first failure:
                      fmt     cargo fmt --check
                      clippy  clippy, native and wasm32, -D warnings
                      unit    native tests of every crate but e2e
                      pg      the backend's API tests again on a throwaway
                              PostgreSQL (PARLEY_TEST_POSTGRES) and Redis
                              (PARLEY_TEST_REDIS), started and stopped by the step
                      cluster three real nodes over a throwaway PostgreSQL and
                              Redis, through node kills and engine restarts
                              (PARLEY_TEST_CLUSTER=1)
                      wasm    frontend wasm-bindgen tests in headless Chromium
                      e2e     build the SPA, browser end-to-end tests
                    no STEP runs all of them
  cluster [-- ARGS] build the SPA and the release server, start a throwaway
                    PostgreSQL (fsync on) and Redis under data/cluster/, then
                    three nodes on http://127.0.0.2:8080, .3 and .4 (ARGS go to
                    every node); Ctrl-C, or any node exiting, stops the nodes,
                    then Redis, then PostgreSQL
  autobahn          the Autobahn|Testsuite fuzzing client against the production
                    WebSocket settings, twice: the 64 KiB message limit (9.*
                    over it must close with 1009), then 16 MiB (0 FAILED)
                    (Python 2.7 virtualenv under .tools/)
  fuzz [SECONDS]    fuzz the client-message decoder with cargo-fuzz (nightly),
                    60 s unless told
  bench [--quick] [-- ARGS]
                    benchmarks against peers (Flask + gevent-websocket, Node
                    socket.io, socketioxide; installed into .tools/ and bench/peers/
                    when missing): builds everything in release mode, runs the
                    scenarios with the server on CPU 0 and the load generator on
                    CPU 1, writes docs/benchmarks.md and docs/bench/*.png.
                    --quick: small sizes, one repetition (~10 min; full ~35 min).
                    ARGS go to `parley-bench suite`, e.g.
                    `-- --only s3 --servers parley,socketioxide --rooms 1000`;
                    `-- --only cluster` runs only the cluster scenario (three
                    nodes on PostgreSQL + Redis, ~1 min, no peers needed)
  help              this text";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    let result = match command.as_deref() {
        None | Some("help" | "-h" | "--help") => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(command) => dispatch(command, rest),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\n[xtask] error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: &str, rest: Vec<String>) -> Result<(), Error> {
    let ctx = Ctx::new()?;
    match command {
        "install" => {
            no_extra_args(command, &rest)?;
            tools::ensure_all(&ctx).map(drop)
        }
        "dist" => {
            no_extra_args(command, &rest)?;
            tools::ensure_build_tools(&ctx)?;
            tasks::build_spa(&ctx).map(drop)
        }
        "run" => tasks::run(&ctx, strip_separator(rest)),
        "cluster" => cluster::cluster(&ctx, strip_separator(rest)),
        // What `cluster` runs once built (not for people: see cluster.rs).
        cluster::SUPERVISE => cluster::supervise(&ctx, &rest),
        "test" => {
            let steps = tasks::parse_steps(&rest)?;
            tasks::test(&ctx, &steps)
        }
        "bench" => bench::bench(&ctx, rest),
        "autobahn" => {
            no_extra_args(command, &rest)?;
            conformance::autobahn(&ctx)
        }
        "fuzz" => {
            let secs = match rest.as_slice() {
                [] => 60,
                [secs] => secs
                    .parse()
                    .map_err(|_| Error::new(format!("`fuzz` takes seconds, not `{secs}`")))?,
                _ => return Err(Error::new("`fuzz` takes at most one argument: seconds")),
            };
            conformance::fuzz(&ctx, secs)
        }
        other => Err(Error::new(format!("unknown command `{other}`\n\n{USAGE}"))),
    }
}

fn no_extra_args(command: &str, rest: &[String]) -> Result<(), Error> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "`{command}` takes no arguments (got: {})",
            rest.join(" ")
        )))
    }
}

/// `cargo xtask run -- --listen x` reaches us as `run -- --listen x`.
fn strip_separator(mut rest: Vec<String>) -> Vec<String> {
    if rest.first().is_some_and(|a| a == "--") {
        rest.remove(0);
    }
    rest
}

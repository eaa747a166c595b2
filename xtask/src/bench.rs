//! `cargo xtask bench [--quick] [-- ARGS]`: the benchmarks against peers (issue
//! #7). Installs the peers when missing (each step says what it does, or that it
//! is already there), builds everything in release mode, builds the SPA (for its
//! download size), then runs `parley-bench suite`, which writes
//! `docs/benchmarks.md` and `docs/bench/*.png`. Nothing here runs in `test`.
//!
//! The `cluster` scenario (issue #22) needs PostgreSQL and Redis instead of the
//! peers: `cargo xtask bench -- --only cluster` installs only those (when
//! missing), builds no SPA, and rewrites only the report's cluster section.

use std::path::{Path, PathBuf};

use crate::ctx::{self, Ctx, Error, say};
use crate::tasks;
use crate::tools;

const VENV: &str = ".tools/bench-venv";
const FLASK_PEER: &str = "bench/peers/flask";
const SOCKETIO_PEER: &str = "bench/peers/socketio";
const SOCKETIOXIDE_PEER: &str = "bench/peers/socketioxide";

pub fn bench(ctx: &Ctx, args: Vec<String>) -> Result<(), Error> {
    let quick = args.iter().any(|a| a == "--quick");
    let suite_args: Vec<String> = args
        .into_iter()
        .filter(|a| a != "--quick" && a != "--")
        .collect();
    let only = only(&suite_args);
    let wants = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let peers_needed = only.is_empty() || only.iter().any(|o| o != "cluster");
    if wants("cluster") {
        say!("PostgreSQL and Redis for the cluster scenario:");
        tools::ensure_engines(ctx)?;
    }
    if peers_needed {
        say!("benchmark peers (bench/peers/):");
        ensure_flask(ctx)?;
        ensure_socketio(ctx)?;
        build_socketioxide(ctx)?;
    }
    say!("building Parley and the load generator (release)…");
    ctx::run(ctx.cargo().args([
        "build",
        "--release",
        "-p",
        "parley-backend",
        "-p",
        "parley-bench",
    ]))?;
    if peers_needed {
        say!("building the SPA (its download size is one of the figures)…");
        tools::ensure_build_tools(ctx)?;
        tasks::build_spa(ctx)?;
        say!(
            "running the scenarios{} — the server on CPU 0, the generator on CPU 1; \
             keep the machine otherwise idle",
            if quick {
                " (quick mode, ~10 min)"
            } else {
                " (full mode, ~35 min)"
            }
        );
    } else {
        say!(
            "running the cluster scenario (three nodes, PostgreSQL and Redis on every CPU, \
             ~1–2 min) — keep the machine otherwise idle"
        );
    }
    let mut suite = ctx.command(ctx.target_dir().join("release/parley-bench"));
    suite.arg("suite").arg("--root").arg(&ctx.root);
    if quick {
        suite.arg("--quick");
    }
    suite.args(&suite_args);
    ctx::run(&mut suite)
}

/// The scenarios named by `--only a,b` or `--only=a,b` (empty: all of them).
fn only(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = match arg.strip_prefix("--only") {
            Some("") => iter.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        out.extend(
            value
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    out
}

/// `name==version` pins of a requirements file.
fn pins(requirements: &Path) -> Result<Vec<(String, String)>, Error> {
    let text = std::fs::read_to_string(requirements)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", requirements.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (normalize(n), v.trim().to_owned()))
        .collect())
}

/// PyPI names compare case-insensitively, with `-`, `_` and `.` alike.
fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Flask + gevent-websocket, pinned, in a venv under .tools/.
fn ensure_flask(ctx: &Ctx) -> Result<(), Error> {
    let requirements = ctx.root.join(FLASK_PEER).join("requirements.txt");
    let wanted = pins(&requirements)?;
    let venv = ctx.root.join(VENV);
    let python = venv.join("bin").join("python");
    let installed = || -> Vec<(String, String)> {
        ctx::probe(ctx.command(&python).args([
            "-m",
            "pip",
            "freeze",
            "--disable-pip-version-check",
        ]))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (normalize(n), v.trim().to_owned()))
        .collect()
    };
    let complete = |have: &[(String, String)]| wanted.iter().all(|w| have.contains(w));
    if complete(&installed()) {
        say!("  Flask + gevent-websocket: already installed ({VENV})");
        return Ok(());
    }
    if !python.is_file() {
        let Some(python3) = ctx.find_program("python3") else {
            return Err(Error::new(
                "python3 not found: install it (Debian: apt-get install python3 python3-venv)",
            ));
        };
        say!("  creating a Python venv in {VENV}…");
        ctx::run(ctx.command(python3).args(["-m", "venv"]).arg(&venv)).map_err(|e| {
            Error::new(format!(
                "{e} (on Debian the venv module is in python3-venv: apt-get install python3-venv)"
            ))
        })?;
    }
    say!("  installing Flask + gevent-websocket (pip, pinned in {FLASK_PEER}/requirements.txt)…");
    ctx::run(
        ctx.command(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements),
    )?;
    if complete(&installed()) {
        say!("  Flask + gevent-websocket: installed");
        Ok(())
    } else {
        Err(Error::new(format!(
            "pip finished but {VENV} does not hold the versions of {}",
            requirements.display()
        )))
    }
}

/// The exact socket.io version `package.json` asks for.
fn wanted_socketio(dir: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(dir.join("package.json"))
        .map_err(|e| Error::new(format!("cannot read {SOCKETIO_PEER}/package.json: {e}")))?;
    // `"socket.io": "4.8.4"` (dependency-free: no JSON parser in xtask).
    text.lines()
        .find_map(|l| l.trim().strip_prefix("\"socket.io\":"))
        .map(|v| v.trim().trim_end_matches(',').trim_matches('"').to_owned())
        .ok_or_else(|| Error::new(format!("{SOCKETIO_PEER}/package.json names no socket.io")))
}

fn installed_version(package_json: &Path) -> Option<String> {
    let text = std::fs::read_to_string(package_json).ok()?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("\"version\":"))
        .map(|v| v.trim().trim_end_matches(',').trim_matches('"').to_owned())
}

/// Node socket.io from npm, into bench/peers/socketio/node_modules (git-ignored).
fn ensure_socketio(ctx: &Ctx) -> Result<(), Error> {
    let dir = ctx.root.join(SOCKETIO_PEER);
    let wanted = wanted_socketio(&dir)?;
    let package = dir.join("node_modules/socket.io/package.json");
    if installed_version(&package).as_deref() == Some(wanted.as_str()) {
        say!("  Node socket.io {wanted}: already installed ({SOCKETIO_PEER}/node_modules)");
        return Ok(());
    }
    if ctx.find_program("npm").is_none() {
        tools::apt_install(
            ctx,
            &["nodejs", "npm"],
            "Node.js and npm (for the socket.io peer)",
        )?;
    }
    say!("  installing Node socket.io {wanted} (npm ci, from package-lock.json)…");
    let mut npm = ctx.command("npm");
    npm.current_dir(&dir);
    if dir.join("package-lock.json").is_file() {
        npm.args(["ci", "--no-audit", "--no-fund"]);
    } else {
        npm.args(["install", "--no-audit", "--no-fund"]);
    }
    ctx::run(&mut npm)?;
    match installed_version(&package) {
        Some(v) if v == wanted => {
            say!("  Node socket.io {v}: installed");
            Ok(())
        }
        found => Err(Error::new(format!(
            "npm finished but socket.io is {}, not {wanted}",
            found.unwrap_or_else(|| "missing".to_owned())
        ))),
    }
}

/// The socketioxide peer: a crate with its own workspace, lock file and target
/// directory, so the main workspace's checks never compile it.
fn build_socketioxide(ctx: &Ctx) -> Result<(), Error> {
    let manifest: PathBuf = ctx.root.join(SOCKETIOXIDE_PEER).join("Cargo.toml");
    let exe = ctx
        .root
        .join(SOCKETIOXIDE_PEER)
        .join("target/release/bench-peer-socketioxide");
    if exe.is_file() {
        say!("  socketioxide peer: built before; cargo checks it is up to date");
    } else {
        say!("  building the socketioxide peer (cargo, release, ~1 min)…");
    }
    ctx::run(
        ctx.cargo()
            .args(["build", "--release", "--locked", "--manifest-path"])
            .arg(&manifest),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_both_spellings() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(only(&args(&["--only", "cluster"])), vec!["cluster"]);
        assert_eq!(
            only(&args(&["--reps", "1", "--only=s1,cluster"])),
            vec!["s1", "cluster"]
        );
        assert!(only(&args(&["--reps", "1"])).is_empty());
    }

    #[test]
    fn pins_are_read_and_normalized() {
        let dir = std::env::temp_dir().join(format!("xtask-pins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("requirements.txt");
        std::fs::write(
            &file,
            "# comment\nFlask==3.1.3\nzope.event==6.2\n\ngevent-websocket==0.10.1\n",
        )
        .unwrap();
        assert_eq!(
            pins(&file).unwrap(),
            vec![
                ("flask".to_owned(), "3.1.3".to_owned()),
                ("zope-event".to_owned(), "6.2".to_owned()),
                ("gevent-websocket".to_owned(), "0.10.1".to_owned()),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

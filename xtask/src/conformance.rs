//! `cargo xtask autobahn` and `cargo xtask fuzz`: the WebSocket conformance suite
//! against the production WebSocket settings, and the decoder's fuzzer. Neither is
//! part of `test` (minutes, and tools CI does not need).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::ctx::{Ctx, Error, probe, run, say};

/// The Autobahn|Testsuite and the last versions of its dependencies that run on
/// Python 2.7 (the suite is Python 2 only). Installed from PyPI into a
/// virtualenv under `.tools/`.
const AUTOBAHN_PACKAGES: &[&str] = &[
    "autobahntestsuite==25.10.1",
    "autobahn==0.10.9",
    "Twisted==19.10.0",
    "txaio==2.1.0",
    "zope.interface==4.6.0",
    "Automat==22.10.0",
    "attrs==21.4.0",
    "constantly==15.1.0",
    "hyperlink==21.0.0",
    "incremental==16.10.1",
    "idna==2.10",
    "PyHamcrest==1.10.1",
    "six==1.16.0",
    "pyOpenSSL==19.1.0",
    "cryptography==3.3.2",
    "cffi==1.15.1",
    "pycparser==2.21",
    "service-identity==18.1.0",
    "pyasn1==0.5.1",
    "pyasn1-modules==0.3.0",
    "enum34==1.1.10",
    "ipaddress==1.0.23",
    "typing==3.10.0.0",
    "klein==17.10.0",
    "Werkzeug==1.0.1",
    "Jinja2==2.11.3",
    "MarkupSafe==1.1.1",
    "unittest2==1.1.0",
    "linecache2==1.0.0",
    "traceback2==1.4.0",
];

/// Summarises a run's `index.json` (run with the venv's Python; arguments: the
/// file, then `production` or `raised`) as one table row per group of cases,
/// and fails the task when a case ends other than the run allows.
///
/// - `production` (64 KiB limit): the 40 cases of 9.* whose messages are 256
///   KiB to 16 MiB (9.1.2–6, 9.2.2–6, 9.3.*, 9.4.*, 9.5.*, 9.6.*) must be
///   closed by the server with 1009; every other case must pass.
/// - `raised` (16 MiB limit): all 517 cases must pass.
///
/// "Pass" is OK, NON-STRICT, INFORMATIONAL or UNIMPLEMENTED, for the case and
/// for its close.
const SUMMARY_PY: &str = r#"
import json, sys, collections
r = json.load(open(sys.argv[1]))["parley"]
mode = sys.argv[2]
def key(c): return [int(x) for x in c.split(".")]
PASS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED")
def over_limit(c):
    p = key(c)
    return p[0] == 9 and (p[1] in (3, 4, 5, 6) or (p[1] in (1, 2) and p[2] >= 2))
big = sorted([c for c in r if over_limit(c)], key=key) if mode == "production" else []
groups = [("all but 9.*", [c for c in r if not c.startswith("9.")]),
          ("9.* within the limit", [c for c in r if c.startswith("9.") and c not in big])]
if big:
    groups.append(("9.* over the 64 KiB limit", big))
print("%s run: %d cases" % (mode, len(r)))
print("| cases | OK | NON-STRICT | INFORMATIONAL | UNIMPLEMENTED | FAILED | close OK | closed with 1009 |")
print("|---|---|---|---|---|---|---|---|")
for name, cases in groups:
    n = collections.Counter(r[c]["behavior"] for c in cases)
    closed_ok = sum(1 for c in cases if r[c]["behaviorClose"] == "OK")
    too_big = sum(1 for c in cases if r[c].get("remoteCloseCode") == 1009)
    print("| %s (%d) | %d | %d | %d | %d | %d | %d | %d |" % (name, len(cases), n["OK"], n["NON-STRICT"],
          n["INFORMATIONAL"], n["UNIMPLEMENTED"], n["FAILED"], closed_ok, too_big))
bad = [c for c in r if c not in big and (r[c]["behavior"] not in PASS or r[c]["behaviorClose"] not in PASS)]
bad += [c for c in big if r[c].get("remoteCloseCode") != 1009]
if mode == "production" and len(big) != 40:
    print("expected 40 cases over the limit, found %d" % len(big))
    sys.exit(1)
if bad:
    print("FAILED: %s" % " ".join(sorted(bad, key=key)))
    sys.exit(1)
if big:
    print("all %d cases over the limit were closed with 1009: %s" % (len(big), " ".join(big)))
print("0 FAILED")
"#;

/// The message limit of the second run: the largest messages of the suite
/// (9.1.6, 9.2.6: 16 MiB).
const RAISED_LIMIT: usize = 16 * 1024 * 1024;

/// `cargo xtask autobahn`: the fuzzing client of the Autobahn|Testsuite against
/// `/autobahn`, an echo route that exists only behind `--autobahn-echo` and
/// uses the production WebSocket settings. Twice: with the production 64 KiB
/// message limit (the 40 cases over it must be closed with 1009), then with
/// the limit raised to 16 MiB (every case must pass).
pub fn autobahn(ctx: &Ctx) -> Result<(), Error> {
    let venv = ensure_autobahn_venv(ctx)?;
    run(ctx.cargo().args([
        "build",
        "--release",
        "-p",
        "parley-backend",
        "--bin",
        "parley",
    ]))?;
    let work = ctx.root.join("target").join("autobahn");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", work.display())))?;
    let summary = work.join("summary.py");
    std::fs::write(&summary, SUMMARY_PY)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", summary.display())))?;
    let production = suite_run(ctx, &venv, &work, "production", None);
    let raised = suite_run(ctx, &venv, &work, "raised", Some(RAISED_LIMIT));
    production.and(raised)
}

/// One run of the whole suite against a fresh server (`limit`: the echo
/// route's message limit, the production one if `None`), then its summary.
fn suite_run(
    ctx: &Ctx,
    venv: &Path,
    work: &Path,
    mode: &str,
    limit: Option<usize>,
) -> Result<(), Error> {
    let port = free_port()?;
    let mut command = ctx.command(ctx.root.join("target/release/parley"));
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database")
        .arg(work.join(format!("{mode}.db")))
        .arg("--static-dir")
        .arg(work)
        .arg("--autobahn-echo")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(limit) = limit {
        command
            .arg("--autobahn-max-message-bytes")
            .arg(limit.to_string());
    }
    let server = Server(
        command
            .spawn()
            .map_err(|e| Error::new(format!("cannot start the server: {e}")))?,
    );
    wait_for_port(port)?;
    let reports = format!("reports-{mode}");
    let spec = format!(
        r#"{{"outdir": "./{reports}", "servers": [{{"agent": "parley", "url": "ws://127.0.0.1:{port}/autobahn"}}], "cases": ["*"], "exclude-cases": [], "exclude-agent-cases": {{}}}}"#
    );
    let spec_file = format!("spec-{mode}.json");
    std::fs::write(work.join(&spec_file), spec)
        .map_err(|e| Error::new(format!("cannot write the spec: {e}")))?;
    let started = Instant::now();
    let log_name = format!("wstest-{mode}.log");
    let log = std::fs::File::create(work.join(&log_name))
        .map_err(|e| Error::new(format!("cannot create the log: {e}")))?;
    say!(
        "running the Autobahn fuzzing client, {mode} limit ({}); log in target/autobahn/{log_name}",
        limit.map_or_else(|| "64 KiB".to_owned(), |l| format!("{} MiB", l >> 20))
    );
    let status = ctx
        .command(venv.join("bin").join("wstest"))
        .args(["-m", "fuzzingclient", "-s", &spec_file])
        .current_dir(work)
        .stdout(log)
        .stderr(Stdio::null())
        .status()
        .map_err(|e| Error::new(format!("cannot run wstest: {e}")))?;
    drop(server);
    if !status.success() {
        return Err(Error::new(format!("wstest failed ({status})")));
    }
    say!(
        "suite finished in {}; report: target/autobahn/{reports}/index.html",
        crate::ctx::human(started.elapsed())
    );
    run(ctx
        .command(venv.join("bin").join("python"))
        .arg(work.join("summary.py"))
        .arg(work.join(&reports).join("index.json"))
        .arg(mode))
}

/// The virtualenv with the suite, made with pyenv's Python 2.7.18.
fn ensure_autobahn_venv(ctx: &Ctx) -> Result<PathBuf, Error> {
    let venv = ctx.root.join(".tools").join("autobahn-venv");
    if venv.join("bin").join("wstest").is_file() {
        say!("autobahn testsuite: present in .tools/autobahn-venv");
        return Ok(venv);
    }
    let python = python27(ctx)?;
    if probe(ctx.command(&python).args(["-m", "virtualenv", "--version"])).is_none() {
        run(ctx
            .command(&python)
            .args(["-m", "pip", "install", "--quiet", "virtualenv<20.22"]))?;
    }
    run(ctx
        .command(&python)
        .args(["-m", "virtualenv", "-q"])
        .arg(&venv))?;
    run(ctx
        .command(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--no-cache-dir"])
        .args(AUTOBAHN_PACKAGES))?;
    Ok(venv)
}

/// Python 2.7 from pyenv (`$PYENV_ROOT` or `pyenv root`), or on PATH.
fn python27(ctx: &Ctx) -> Result<PathBuf, Error> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| probe(ctx.command("pyenv").arg("root")).map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
    if let Some(root) = root {
        let candidate = root.join("versions/2.7.18/bin/python2.7");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    ctx.find_program("python2.7").ok_or_else(|| {
        Error::new("Python 2.7 is needed for the Autobahn suite: `pyenv install 2.7.18`")
    })
}

/// `cargo xtask fuzz [SECONDS]`: fuzzes `decode_client` with cargo-fuzz on the
/// nightly toolchain, starting from the committed seeds, in a scratch corpus.
pub fn fuzz(ctx: &Ctx, secs: u64) -> Result<(), Error> {
    let nightly = probe(ctx.command("rustup").args(["toolchain", "list"]))
        .is_some_and(|list| list.lines().any(|l| l.starts_with("nightly")));
    if !nightly {
        run(ctx.command("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    if probe(ctx.cargo().args(["fuzz", "--version"])).is_none() {
        run(ctx.cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let corpus = ctx.root.join("target").join("fuzz-corpus");
    std::fs::create_dir_all(&corpus)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", corpus.display())))?;
    let seeds = ctx.root.join("fuzz/corpus/decode_client");
    for entry in std::fs::read_dir(&seeds)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", seeds.display())))?
        .flatten()
    {
        let _ = std::fs::copy(entry.path(), corpus.join(entry.file_name()));
    }
    let mut cmd = ctx.command("cargo");
    cmd.current_dir(ctx.root.join("fuzz"))
        .args(["+nightly", "fuzz", "run", "decode_client"])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={secs}"));
    run(&mut cmd)?;
    say!(
        "no crash; the corpus grew to {} inputs in target/fuzz-corpus (the seeds in fuzz/corpus are replayed by `cargo test -p parley-common`)",
        std::fs::read_dir(&corpus).map_or(0, Iterator::count)
    );
    Ok(())
}

/// Kills the server when dropped, however the task ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("no free port: {e}")))
}

fn wait_for_port(port: u16) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::new("the server did not start listening within 30 s"))
}

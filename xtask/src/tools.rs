//! Detects and installs the tools the build and the tests need, only through package
//! registries (rustup, crates.io, npm, Debian). Each tool is probed with
//! `<tool> --version` first, so a second run installs nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ctx::{self, Ctx, Error, say};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// trunk 0.22 needs a newer rustc than our MSRV; Trunk.toml is written for 0.21.
const TRUNK_REQ: &str = "~0.21";
const TRUNK_SERIES: &str = "0.21.";
/// Must match `[tools] wasm_opt` in Trunk.toml.
const BINARYEN_VERSION: &str = "132";
const TERSER_VERSION: &str = "5.51.2";

/// Where the browser-test tools are.
#[derive(Debug)]
pub struct Browser {
    pub chromedriver: PathBuf,
}

/// Everything: build tools, the engines and browser tools.
pub fn ensure_all(ctx: &Ctx) -> Result<Browser, Error> {
    ensure_build_tools(ctx)?;
    ensure_engines(ctx)?;
    ensure_browser(ctx)
}

/// PostgreSQL and Redis, which the PostgreSQL test pass and `cluster` start as
/// throwaway servers: Debian's `postgresql` and `redis-server` when missing (apt
/// starts no service here; the engines crate runs its own).
pub fn ensure_engines(ctx: &Ctx) -> Result<(), Error> {
    let postgres = parley_engines::postgres_bin_dir();
    let redis = parley_engines::redis_server_bin();
    let mut missing = Vec::new();
    if postgres.is_none() {
        missing.push("postgresql");
    }
    if redis.is_none() {
        missing.push("redis-server");
    }
    if !missing.is_empty() {
        apt_install(ctx, &missing, &missing.join(" and "))?;
    }
    let status = |was: &Option<_>| {
        if was.is_some() {
            "already installed"
        } else {
            "installed"
        }
    };
    let postgres_now = parley_engines::postgres_bin_dir()
        .ok_or_else(|| not_found_after_install("PostgreSQL (initdb, pg_ctl)", None))?;
    let redis_now = parley_engines::redis_server_bin()
        .ok_or_else(|| not_found_after_install("redis-server", None))?;
    say!(
        "PostgreSQL: {} ({})",
        status(&postgres),
        postgres_now.display()
    );
    say!("Redis: {} ({})", status(&redis), redis_now.display());
    Ok(())
}

/// What `trunk build` needs: the wasm target, trunk, wasm-bindgen, wasm-opt.
pub fn ensure_build_tools(ctx: &Ctx) -> Result<(), Error> {
    ensure_wasm_target(ctx)?;
    ensure_trunk(ctx)?;
    ensure_wasm_bindgen(ctx)?;
    ensure_wasm_opt(ctx)?;
    ensure_terser(ctx)?;
    // Readies nightly for the SPA when it is there (rust-src, and std's own
    // dependencies fetched, as `-Z build-std` needs them offline).
    crate::spa_toolchain::SpaToolchain::pick(ctx).map(drop)
}

/// rustfmt or clippy (rustup's "minimal" profile has neither); `probe` is the cargo
/// subcommand that answers `--version` when the component is there.
pub fn ensure_component(ctx: &Ctx, component: &str, probe: &str) -> Result<(), Error> {
    if ctx::probe(ctx.cargo().args([probe, "--version"])).is_some() {
        return Ok(());
    }
    say!("installing rust component {component} (rustup)…");
    ctx::run(ctx.command("rustup").args(["component", "add", component]))
}

pub fn ensure_wasm_target(ctx: &Ctx) -> Result<(), Error> {
    let installed = ctx::probe(
        ctx.command("rustup")
            .args(["target", "list", "--installed"]),
    );
    match installed {
        Some(list) if list.lines().any(|l| l.trim() == WASM_TARGET) => {
            say!("rust target {WASM_TARGET}: already installed");
            Ok(())
        }
        Some(_) => {
            say!("installing rust target {WASM_TARGET} (rustup, ~1 min)…");
            ctx::run(ctx.command("rustup").args(["target", "add", WASM_TARGET]))?;
            say!("rust target {WASM_TARGET}: installed");
            Ok(())
        }
        None => Err(Error::new(format!(
            "cannot list installed targets with `rustup`; install rustup \
             (https://rustup.rs) or add the {WASM_TARGET} target to your toolchain"
        ))),
    }
}

pub fn ensure_trunk(ctx: &Ctx) -> Result<(), Error> {
    let version = || version_of(ctx.command("trunk"), "trunk");
    if let Some(v) = version().filter(|v| v.starts_with(TRUNK_SERIES)) {
        say!("trunk {v}: already installed");
        return Ok(());
    }
    if let Some(v) = version() {
        say!("trunk {v} found, but Trunk.toml needs {TRUNK_REQ}");
    }
    say!("installing trunk {TRUNK_REQ} (cargo install, ~10 min)…");
    cargo_install(ctx, "trunk", TRUNK_REQ)?;
    match version() {
        Some(v) if v.starts_with(TRUNK_SERIES) => {
            say!("trunk {v}: installed");
            Ok(())
        }
        found => Err(not_found_after_install("trunk", found)),
    }
}

pub fn ensure_wasm_bindgen(ctx: &Ctx) -> Result<(), Error> {
    let wanted = locked_version(ctx, "wasm-bindgen")?;
    let versions = || {
        (
            version_of(ctx.command("wasm-bindgen"), "wasm-bindgen"),
            version_of(
                ctx.command("wasm-bindgen-test-runner"),
                "wasm-bindgen-test-runner",
            ),
        )
    };
    let is_wanted = |v: &Option<String>| v.as_deref() == Some(wanted.as_str());
    let (cli, runner) = versions();
    if is_wanted(&cli) && is_wanted(&runner) {
        say!("wasm-bindgen-cli {wanted}: already installed");
        return Ok(());
    }
    if let Some(v) = cli {
        say!("wasm-bindgen {v} found, but Cargo.lock has wasm-bindgen {wanted}");
    }
    say!("installing wasm-bindgen-cli {wanted} (cargo install, ~3 min)…");
    cargo_install(ctx, "wasm-bindgen-cli", &format!("={wanted}"))?;
    let (cli, runner) = versions();
    if !is_wanted(&cli) {
        return Err(not_found_after_install("wasm-bindgen", cli));
    }
    if !is_wanted(&runner) {
        return Err(not_found_after_install("wasm-bindgen-test-runner", runner));
    }
    say!("wasm-bindgen-cli {wanted}: installed");
    Ok(())
}

pub fn ensure_wasm_opt(ctx: &Ctx) -> Result<(), Error> {
    let wasm_opt = ctx.binaryen_bin().join("wasm-opt");
    // Prints "wasm-opt version 132 (version_132)".
    let version = || ctx::probe(ctx.command(&wasm_opt).arg("--version"));
    let wanted = format!("version {BINARYEN_VERSION}");
    if let Some(v) = version().filter(|v| v.contains(&wanted)) {
        say!("{v}: already installed (.tools/binaryen)");
        return Ok(());
    }
    say!(
        "installing wasm-opt {BINARYEN_VERSION} (npm binaryen@{BINARYEN_VERSION} into .tools/binaryen, ~1 min)…"
    );
    npm_install(
        ctx,
        &ctx.binaryen_dir(),
        &format!("binaryen@{BINARYEN_VERSION}"),
    )?;
    match version() {
        Some(v) if v.contains(&wanted) => {
            say!("{v}: installed (.tools/binaryen)");
            Ok(())
        }
        found => Err(not_found_after_install("wasm-opt", found)),
    }
}

/// terser, which minifies wasm-bindgen's JS glue after trunk (trunk's own
/// minifier cannot parse it): −1.9 KB gzip of the first download.
pub fn ensure_terser(ctx: &Ctx) -> Result<(), Error> {
    let version = || ctx::probe(ctx.command("node").arg(ctx.terser_js()).arg("--version"));
    let wanted = format!("terser {TERSER_VERSION}");
    if let Some(v) = version().filter(|v| *v == wanted) {
        say!("{v}: already installed (.tools/terser)");
        return Ok(());
    }
    say!("installing terser {TERSER_VERSION} (npm, into .tools/terser)…");
    npm_install(ctx, &ctx.terser_dir(), &format!("terser@{TERSER_VERSION}"))?;
    match version() {
        Some(v) if v == wanted => {
            say!("{v}: installed (.tools/terser)");
            Ok(())
        }
        found => Err(not_found_after_install("terser", found)),
    }
}

/// `npm install <spec>` into `prefix` (its own node_modules), with npm from
/// Debian's packages when the machine has none.
fn npm_install(ctx: &Ctx, prefix: &Path, spec: &str) -> Result<(), Error> {
    if ctx.find_program("npm").is_none() {
        apt_install(ctx, &["nodejs", "npm"], &format!("npm (to install {spec})"))?;
    }
    std::fs::create_dir_all(prefix)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", prefix.display())))?;
    ctx::run(
        ctx.command("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(prefix)
            .arg(spec),
    )
}

/// Chromium and a matching chromedriver, from Debian packages when missing.
pub fn ensure_browser(ctx: &Ctx) -> Result<Browser, Error> {
    let chromium = find_chromium(ctx);
    let chromedriver = find_chromedriver(ctx);
    let mut status = "already installed";
    let (chromium, chromedriver) = match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => (chromium, chromedriver),
        _ => {
            status = "installed";
            apt_install(
                ctx,
                &["chromium", "chromium-driver"],
                "chromium and chromedriver",
            )?;
            match (find_chromium(ctx), find_chromedriver(ctx)) {
                (Some(chromium), Some(chromedriver)) => (chromium, chromedriver),
                (None, _) => return Err(not_found_after_install("chromium", None)),
                (_, None) => return Err(not_found_after_install("chromedriver", None)),
            }
        }
    };
    // "Chromium 156.0.8078.79 built on Debian…" / "ChromeDriver 156.0.8078.79 (…)".
    let chromium_version = ctx::probe(ctx.command(&chromium).arg("--version"))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "(unknown version)".to_string());
    let driver_version = ctx::probe(ctx.command(&chromedriver).arg("--version"))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "(unknown version)".to_string());
    say!(
        "chromium {chromium_version}: {status} ({})",
        chromium.display()
    );
    say!(
        "chromedriver {driver_version}: {status} ({})",
        chromedriver.display()
    );
    let major = |v: &str| v.split('.').next().map(str::to_string);
    if major(&chromium_version) != major(&driver_version) {
        say!(
            "warning: chromium {chromium_version} and chromedriver {driver_version} differ; \
             WebDriver sessions may fail to start"
        );
    }
    Ok(Browser { chromedriver })
}

/// `$CHROME`, else `chromium` on PATH.
fn find_chromium(ctx: &Ctx) -> Option<PathBuf> {
    from_env_or_path(ctx, "CHROME", &["chromium", "chromium-browser"])
}

/// `$CHROMEDRIVER`, else `chromedriver` on PATH.
fn find_chromedriver(ctx: &Ctx) -> Option<PathBuf> {
    from_env_or_path(ctx, "CHROMEDRIVER", &["chromedriver"])
}

fn from_env_or_path(ctx: &Ctx, var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Some(path)
        } else {
            ctx.find_program(&path.to_string_lossy())
        };
    }
    names.iter().find_map(|name| ctx.find_program(name))
}

/// `<tool> --version` printing "<name> <version>" → the version.
fn version_of(mut cmd: Command, name: &str) -> Option<String> {
    parse_version(&ctx::probe(cmd.arg("--version"))?, name)
}

/// "trunk 0.21.14" → "0.21.14" (first line, after the tool's name).
fn parse_version(output: &str, name: &str) -> Option<String> {
    let first = output.lines().next()?;
    let version = first.strip_prefix(name)?.trim();
    Some(version.split_whitespace().next()?.to_string())
}

/// `cargo install <krate> --version <req> --locked`, retried without `--locked`:
/// the registry mirror may lack one of the exact versions a crate's lock file pins.
fn cargo_install(ctx: &Ctx, krate: &str, req: &str) -> Result<(), Error> {
    let install = |locked: bool| {
        let mut cmd = ctx.cargo();
        cmd.args(["install", krate, "--version", req]);
        if locked {
            cmd.arg("--locked");
        }
        ctx::run(&mut cmd)
    };
    install(true).or_else(|err| {
        say!("{err}; retrying without --locked");
        install(false)
    })
}

/// The version of `package` in the workspace's Cargo.lock.
fn locked_version(ctx: &Ctx, package: &str) -> Result<String, Error> {
    let path = ctx.root.join("Cargo.lock");
    let lock = std::fs::read_to_string(&path)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
    version_in_lock(&lock, package).ok_or_else(|| {
        Error::new(format!(
            "no `{package}` package in {}; is the frontend part of the workspace?",
            path.display()
        ))
    })
}

fn version_in_lock(lock: &str, package: &str) -> Option<String> {
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == name_line {
            let version = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'));
            if let Some(version) = version {
                return Some(version.to_string());
            }
        }
    }
    None
}

/// Installs Debian packages when we are root; otherwise says what to run.
pub fn apt_install(ctx: &Ctx, packages: &[&str], what: &str) -> Result<(), Error> {
    let list = packages.join(" ");
    let uid = ctx::probe(ctx.command("id").arg("-u"));
    if uid.as_deref() != Some("0") {
        let hint = if packages.contains(&"chromium") {
            " (or point CHROME / CHROMEDRIVER at existing binaries)"
        } else {
            ""
        };
        return Err(Error::new(format!(
            "{what} not found, and installing it needs root: run \
             `sudo apt-get install -y {list}`{hint}, then try again"
        )));
    }
    if ctx.find_program("apt-get").is_none() {
        return Err(Error::new(format!(
            "{what} not found and this is not a Debian-like system (no apt-get); \
             install {list} with your package manager"
        )));
    }
    say!("installing {list} (apt-get, ~2 min)…");
    ctx::run(
        ctx.command("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    ctx::run(
        ctx.command("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn not_found_after_install(tool: &str, found: Option<String>) -> Error {
    let found = found.map_or_else(
        || "it is still not found".to_string(),
        |v| format!("`{tool} --version` now says {v}"),
    );
    Error::new(format!(
        "installed {tool}, but {found}; is another {tool} earlier on PATH?"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_locked_version_of_exactly_that_package() {
        let lock = r#"
[[package]]
name = "wasm-bindgen-futures"
version = "0.4.80"

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert_eq!(
            version_in_lock(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(version_in_lock(lock, "trunk"), None);
    }

    #[test]
    fn parses_tool_version_lines() {
        assert_eq!(
            parse_version("trunk 0.21.14\n", "trunk").as_deref(),
            Some("0.21.14")
        );
        assert_eq!(
            parse_version("wasm-bindgen 0.2.130", "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(parse_version("something else 1.0", "trunk"), None);
    }
}

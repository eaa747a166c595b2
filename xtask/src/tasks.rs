//! The workflows: build the SPA, run the app, and the ordered test pipeline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ctx::{self, Ctx, Error, say};
use crate::spa_toolchain::SpaToolchain;
use crate::tools::{self, Browser};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The chat's first download: `dist/`'s index.html, JS, wasm and CSS as the
/// server sends them, precompressed.
#[derive(Clone, Copy, Debug)]
pub struct FirstDownload {
    pub toolchain: SpaToolchain,
    pub raw: usize,
    pub gzip: usize,
    pub brotli: usize,
}

/// The most a first visit may download, gzip (`cargo xtask test` fails above
/// it). The goal is 150 KB; yew's own todomvc example is 64 KB, built the same
/// way. KB = 1,000 bytes throughout.
pub const FIRST_DOWNLOAD_BUDGET_GZIP: usize = 180_000;

impl FirstDownload {
    fn report(&self) {
        banner(&format!(
            "first download of the chat (index.html + JS + wasm + CSS): {:.1} KB gzip, \
             {:.1} KB brotli, {:.1} KB raw; wasm built with {}; budget {:.0} KB gzip",
            kb(self.gzip),
            kb(self.brotli),
            kb(self.raw),
            self.toolchain.describe(),
            kb(FIRST_DOWNLOAD_BUDGET_GZIP),
        ));
    }

    /// The size gate `cargo xtask test` enforces.
    pub fn check_budget(&self) -> Result<(), Error> {
        if self.gzip > FIRST_DOWNLOAD_BUDGET_GZIP {
            return Err(Error::new(format!(
                "the chat's first download is {:.1} KB gzip, over the {:.0} KB budget",
                kb(self.gzip),
                kb(FIRST_DOWNLOAD_BUDGET_GZIP)
            )));
        }
        Ok(())
    }
}

fn kb(bytes: usize) -> f64 {
    bytes as f64 / 1000.0
}

/// `trunk build --release` at the repo root → `dist/`, then the transport
/// lab's page (`lab.html`, its own wasm) → `dist/lab/`, served at `/lab/`. The
/// lab goes second: trunk empties `dist/` when it builds into it.
pub fn build_spa(ctx: &Ctx) -> Result<FirstDownload, Error> {
    let toolchain = SpaToolchain::pick(ctx)?;
    trunk_builds(ctx, toolchain)?;
    let dist = ctx.dist_dir();
    let mut chat = None;
    for dir in [dist.clone(), dist.join("lab")] {
        let index = dir.join("index.html");
        if !index.is_file() {
            return Err(Error::new(format!(
                "trunk finished but {} does not exist",
                index.display()
            )));
        }
        shrink_page(ctx, &dir)?;
        let (raw, gzip, brotli) = precompress(&dir)?;
        chat.get_or_insert(FirstDownload {
            toolchain,
            raw,
            gzip,
            brotli,
        });
    }
    let chat = chat.ok_or_else(|| Error::new("no page was built"))?;
    chat.report();
    Ok(chat)
}

/// Shrinks what trunk wrote for one page, after it: terser minifies the
/// wasm-bindgen JS glue, which trunk's minifier cannot parse (it fails on
/// `export { …, __wbg_init as default }`), −1.4 KB gzip. The page's
/// `integrity` attribute (subresource integrity) gets the new glue's hash, and
/// the files are named after their final content.
fn shrink_page(ctx: &Ctx, dir: &Path) -> Result<(), Error> {
    let io = |what: &Path, e: std::io::Error| Error::new(format!("{}: {e}", what.display()));
    let index_path = dir.join("index.html");
    let mut index = std::fs::read_to_string(&index_path).map_err(|e| io(&index_path, e))?;
    let js_path = only_file(dir, ".js")?;
    let wasm_path = only_file(dir, "_bg.wasm")?;
    let wasm = std::fs::read(&wasm_path).map_err(|e| io(&wasm_path, e))?;
    let hashes = [
        (
            &js_path,
            sri_sha384(&std::fs::read(&js_path).map_err(|e| io(&js_path, e))?),
        ),
        (&wasm_path, sri_sha384(&wasm)),
    ];
    for (path, hash) in &hashes {
        if !index.contains(hash.as_str()) {
            return Err(Error::new(format!(
                "{} does not carry {}'s integrity hash; did trunk's output change?",
                index_path.display(),
                path.display()
            )));
        }
    }
    ctx::run(
        ctx.command("node")
            .arg(ctx.terser_js())
            .arg(&js_path)
            .args(["--module", "--compress", "--mangle", "--output"])
            .arg(&js_path),
    )?;
    let js = std::fs::read(&js_path).map_err(|e| io(&js_path, e))?;
    let [(_, old_js), _] = hashes;
    index = index.replace(&old_js, &sri_sha384(&js));
    // The files are cached for a year under their names, and trunk named them
    // after what it wrote, not after what they are now: name them after their
    // content again, so that a change here can never meet an old copy.
    let old_stem = js_path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| Error::new(format!("{}: not a UTF-8 name", js_path.display())))?;
    let new_stem = content_stem(old_stem, &js, &wasm);
    index = index.replace(old_stem, &new_stem);
    let (new_js, new_wasm) = (
        dir.join(format!("{new_stem}.js")),
        dir.join(format!("{new_stem}_bg.wasm")),
    );
    std::fs::rename(&js_path, &new_js).map_err(|e| io(&js_path, e))?;
    std::fs::rename(&wasm_path, &new_wasm).map_err(|e| io(&wasm_path, e))?;
    std::fs::write(&index_path, index).map_err(|e| io(&index_path, e))
}

/// `parley-frontend-<trunk's hash>` → `parley-frontend-<16 hex digits of the
/// SHA-384 of the glue and the wasm>`.
fn content_stem(old_stem: &str, js: &[u8], wasm: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let name = old_stem.rsplit_once('-').map_or(old_stem, |(name, _)| name);
    let digest = sha2::Sha384::new()
        .chain_update(js)
        .chain_update(wasm)
        .finalize();
    let mut stem = format!("{name}-");
    for byte in &digest[..8] {
        let _ = write!(stem, "{byte:02x}");
    }
    stem
}

/// The one file in `dir` whose name ends with `suffix`.
fn only_file(dir: &Path, suffix: &str) -> Result<PathBuf, Error> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    let found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::new(format!(
            "expected one *{suffix} file in {}, found {}",
            dir.display(),
            found.len()
        ))),
    }
}

/// A subresource-integrity value: `sha384-` and the base64 of the digest.
fn sri_sha384(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha384::digest(bytes);
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The two trunk builds: the chat into `dist/`, then the lab into `dist/lab/`.
fn trunk_builds(ctx: &Ctx, toolchain: SpaToolchain) -> Result<(), Error> {
    say!("building the SPA (trunk, release) into dist/…");
    let mut chat = ctx.trunk()?;
    toolchain.apply(&mut chat);
    ctx::run(chat.args(["build", "--release"]))?;
    say!("building the transport lab's page into dist/lab/…");
    let mut lab = ctx.trunk()?;
    toolchain.apply(&mut lab);
    ctx::run(
        lab.args(["build", "--release", "--public-url", "/lab/", "--dist"])
            .arg(ctx.dist_dir().join("lab"))
            .arg("lab.html"),
    )
}

/// Writes `.gz` and `.br` copies of a page's text and wasm files, which the
/// server sends to browsers that accept them (DESIGN.md rule 11), and returns
/// what a first visit downloads: raw, gzip and brotli bytes.
fn precompress(dist: &Path) -> Result<(usize, usize, usize), Error> {
    use std::io::Write;
    let io = |what: &str, e: std::io::Error| Error::new(format!("{what}: {e}"));
    let mut totals = (0usize, 0usize, 0usize);
    let entries = std::fs::read_dir(dist).map_err(|e| io("reading dist/", e))?;
    for entry in entries {
        let path = entry.map_err(|e| io("reading dist/", e))?.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !matches!(ext, "html" | "js" | "wasm" | "css" | "svg" | "json") {
            continue;
        }
        let raw = std::fs::read(&path).map_err(|e| io("reading an asset", e))?;
        let mut gz = Vec::new();
        zopfli::compress(
            zopfli::Options::default(),
            zopfli::Format::Gzip,
            raw.as_slice(),
            &mut gz,
        )
        .map_err(|e| io("gzip", e))?;
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
            w.write_all(&raw).map_err(|e| io("brotli", e))?;
        }
        std::fs::write(path.with_extension(format!("{ext}.gz")), &gz)
            .map_err(|e| io("writing .gz", e))?;
        std::fs::write(path.with_extension(format!("{ext}.br")), &br)
            .map_err(|e| io("writing .br", e))?;
        say!(
            "  {:<48} {:>8} B raw {:>8} B gzip {:>8} B brotli",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            raw.len(),
            gz.len(),
            br.len()
        );
        totals = (
            totals.0 + raw.len(),
            totals.1 + gz.len(),
            totals.2 + br.len(),
        );
    }
    say!(
        "{}: a first visit downloads {} B raw, {} B gzip, {} B brotli",
        dist.display(),
        totals.0,
        totals.1,
        totals.2
    );
    Ok(totals)
}

/// Installs what is missing, builds the SPA, then runs the release server on it.
pub fn run(ctx: &Ctx, server_args: Vec<String>) -> Result<(), Error> {
    tools::ensure_build_tools(ctx)?;
    build_spa(ctx)?;
    say!("starting the server (Ctrl-C stops it)…");
    ctx::run(
        ctx.cargo()
            .args([
                "run",
                "--release",
                "-p",
                "parley-backend",
                "--bin",
                "parley",
            ])
            .arg("--")
            .arg("--static-dir")
            .arg(ctx.dist_dir())
            .args(server_args),
    )
}

/// One stage of `cargo xtask test`, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Fmt,
    Clippy,
    Unit,
    Pg,
    Cluster,
    Wasm,
    E2e,
}

impl Step {
    const ALL: [Step; 7] = [
        Step::Fmt,
        Step::Clippy,
        Step::Unit,
        Step::Pg,
        Step::Cluster,
        Step::Wasm,
        Step::E2e,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Unit => "unit",
            Step::Pg => "pg",
            Step::Cluster => "cluster",
            Step::Wasm => "wasm",
            Step::E2e => "e2e",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Step::Fmt => "formatting (cargo fmt --check)",
            Step::Clippy => "lints (clippy -D warnings, native and wasm32)",
            Step::Unit => "native tests of every crate except e2e",
            Step::Pg => "the API tests again, on a throwaway PostgreSQL and Redis",
            Step::Cluster => "three nodes on PostgreSQL + Redis through faults (the cluster test)",
            Step::Wasm => "frontend browser tests (wasm-bindgen-test, headless Chromium)",
            Step::E2e => "end-to-end: release SPA + real server + two headless Chromium users",
        }
    }
}

/// `test` with no arguments runs everything; otherwise the named steps, in pipeline order.
pub fn parse_steps(args: &[String]) -> Result<Vec<Step>, Error> {
    if args.is_empty() {
        return Ok(Step::ALL.to_vec());
    }
    for arg in args {
        if !Step::ALL.iter().any(|s| s.name() == arg) {
            let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
            return Err(Error::new(format!(
                "unknown test step `{arg}`; steps are: {}",
                names.join(", ")
            )));
        }
    }
    Ok(Step::ALL
        .into_iter()
        .filter(|s| args.iter().any(|a| a == s.name()))
        .collect())
}

/// Runs `steps` in order and stops at the first failure, then prints a summary.
pub fn test(ctx: &Ctx, steps: &[Step]) -> Result<(), Error> {
    let started = Instant::now();
    let mut pipeline = Pipeline { ctx, browser: None };
    let mut results: Vec<(Step, Duration, bool)> = Vec::new();
    let mut failure = None;
    for (i, &step) in steps.iter().enumerate() {
        banner(&format!(
            "step {}/{}: {} — {}",
            i + 1,
            steps.len(),
            step.name(),
            step.title()
        ));
        let t = Instant::now();
        let outcome = pipeline.run(step);
        results.push((step, t.elapsed(), outcome.is_ok()));
        if let Err(err) = outcome {
            failure = Some(Error::new(format!("step `{}` failed: {err}", step.name())));
            break;
        }
    }

    banner("summary");
    for &step in steps {
        match results.iter().find(|(s, _, _)| *s == step) {
            Some((_, took, ok)) => say!(
                "  {:<7} {:<7} {}",
                step.name(),
                if *ok { "passed" } else { "FAILED" },
                ctx::human(*took)
            ),
            None => say!("  {:<7} not run (an earlier step failed)", step.name()),
        }
    }
    say!("  total           {}", ctx::human(started.elapsed()));
    match failure {
        Some(err) => Err(err),
        None => {
            say!("all {} steps passed", steps.len());
            Ok(())
        }
    }
}

fn banner(text: &str) {
    let rule = "=".repeat(78);
    eprintln!("\n{rule}\n[xtask] {text}\n{rule}");
}

struct Pipeline<'a> {
    ctx: &'a Ctx,
    /// Set once the tools have been checked, so later steps don't check again.
    browser: Option<Browser>,
}

impl Pipeline<'_> {
    fn run(&mut self, step: Step) -> Result<(), Error> {
        let ctx = self.ctx;
        match step {
            Step::Fmt => {
                tools::ensure_component(ctx, "rustfmt", "fmt")?;
                ctx::run(ctx.cargo().args(["fmt", "--all", "--", "--check"]))
            }
            Step::Clippy => {
                tools::ensure_component(ctx, "clippy", "clippy")?;
                ctx::run(ctx.cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]))?;
                tools::ensure_wasm_target(ctx)?;
                ctx::run(ctx.cargo().args([
                    "clippy",
                    "-p",
                    "parley-frontend",
                    "--target",
                    WASM_TARGET,
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]))
            }
            Step::Unit => {
                ctx::run(
                    ctx.cargo()
                        .args(["test", "--workspace", "--exclude", "parley-e2e"]),
                )
            }
            Step::Pg => {
                tools::ensure_engines(ctx)?;
                crate::pg_pass::run(ctx)
            }
            Step::Cluster => {
                // The test starts its own engines and nodes (the release-less
                // debug binary is enough: it checks correctness, not speed).
                tools::ensure_engines(ctx)?;
                ctx::run(
                    ctx.cargo()
                        .args(["test", "-p", "parley-backend", "--test", "api", "cluster::"])
                        .args(["--", "--nocapture"])
                        .env("PARLEY_TEST_CLUSTER", "1"),
                )
            }
            Step::Wasm => {
                let chromedriver = self.tools()?;
                ctx::run(
                    ctx.cargo()
                        .args([
                            "test",
                            "--target",
                            WASM_TARGET,
                            "-p",
                            "parley-frontend",
                            "--test",
                            "browser",
                        ])
                        .env(
                            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                            "wasm-bindgen-test-runner",
                        )
                        .env("CHROMEDRIVER", chromedriver),
                )
            }
            Step::E2e => {
                let chromedriver = self.tools()?;
                build_spa(ctx)?.check_budget()?;
                ctx::run(
                    ctx.cargo()
                        .args(["test", "-p", "parley-e2e"])
                        .env("PARLEY_DIST", ctx.dist_dir())
                        .env("CHROMEDRIVER", chromedriver),
                )
            }
        }
    }

    /// Installs whatever is missing (once) and returns chromedriver's path.
    fn tools(&mut self) -> Result<PathBuf, Error> {
        if let Some(browser) = &self.browser {
            return Ok(browser.chromedriver.clone());
        }
        say!("checking tools…");
        let browser = tools::ensure_all(self.ctx)?;
        let chromedriver = browser.chromedriver.clone();
        self.browser = Some(browser);
        Ok(chromedriver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn the_integrity_value_is_the_base64_sha384_browsers_check() {
        // `printf abc | openssl dgst -sha384 -binary | base64`
        assert_eq!(
            sri_sha384(b"abc"),
            "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn"
        );
    }

    #[test]
    fn a_page_s_files_are_named_after_their_final_content() {
        let a = content_stem("parley-frontend-d84b6a33bcbf1b37", b"js", b"wasm");
        assert!(a.starts_with("parley-frontend-"), "{a}");
        assert_eq!(a.len(), "parley-frontend-".len() + 16);
        assert_ne!(a, "parley-frontend-d84b6a33bcbf1b37");
        assert_eq!(
            a,
            content_stem("parley-frontend-0000000000000000", b"js", b"wasm")
        );
        assert_ne!(
            a,
            content_stem("parley-frontend-d84b6a33bcbf1b37", b"js", b"wasm2")
        );
        assert!(content_stem("parley-lab-92c7324de0604c09", b"", b"").starts_with("parley-lab-"));
    }

    #[test]
    fn no_step_means_all_in_pipeline_order() {
        assert_eq!(parse_steps(&[]).unwrap(), Step::ALL.to_vec());
    }

    #[test]
    fn named_steps_run_in_pipeline_order() {
        assert_eq!(
            parse_steps(&args(&["e2e", "fmt"])).unwrap(),
            vec![Step::Fmt, Step::E2e]
        );
        assert!(parse_steps(&args(&["lint"])).is_err());
    }
}

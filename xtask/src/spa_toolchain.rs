//! Which Rust toolchain trunk's cargo builds the SPA's wasm with.
//!
//! The first download has a budget (DESIGN.md rule 11). The nightly
//! toolchain can rebuild std from source (`-Z build-std`) with
//! `-C panic=immediate-abort`: a panic then traps at once instead of formatting
//! a message and its source location first. The release profile already aborts
//! on a panic, so the app behaves the same; what goes is the panic machinery and
//! its messages, about 15 KB of the gzipped wasm. `-Z fmt-debug=none` takes
//! derived `Debug` code out as well, another 2.5 KB (frontend/README.md, "Size").
//!
//! `PARLEY_SPA_TOOLCHAIN` picks: `auto` (the default) uses nightly when it is
//! installed with rust-src and understands the flags, else stable; `nightly`
//! insists; `stable` never tries. Once picked, the toolchain is final: a
//! failed nightly build fails the command (it used to fall back to stable
//! silently, which shipped a bigger app than the README said), and the size
//! report names the toolchain that built the wasm.

use std::path::Path;
use std::process::Command;

use crate::ctx::{self, Ctx, Error, say};

const VAR: &str = "PARLEY_SPA_TOOLCHAIN";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The wasm's rustc flags on nightly (the probe asks rustc about the same ones):
/// a panic traps at once, and `{:?}` prints nothing, so derived `Debug` code
/// goes too (−2.5 KB gzip). Nothing shown to a person uses `{:?}`
/// (`parley_common::CharName` names a character instead).
const NIGHTLY_RUSTFLAGS: [&str; 3] = [
    "-Zunstable-options",
    "-Cpanic=immediate-abort",
    "-Zfmt-debug=none",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpaToolchain {
    /// Nightly, std rebuilt with `-C panic=immediate-abort`.
    Nightly,
    Stable,
}

/// What `PARLEY_SPA_TOOLCHAIN` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    Auto,
    Nightly,
    Stable,
}

fn parse_choice(value: Option<&str>) -> Result<Choice, Error> {
    match value.map(str::trim) {
        None | Some("" | "auto") => Ok(Choice::Auto),
        Some("nightly") => Ok(Choice::Nightly),
        Some("stable") => Ok(Choice::Stable),
        Some(other) => Err(Error::new(format!(
            "{VAR} must be auto, nightly or stable, not {other:?}"
        ))),
    }
}

impl SpaToolchain {
    /// Decides from `PARLEY_SPA_TOOLCHAIN` and what is installed, and says why.
    pub fn pick(ctx: &Ctx) -> Result<Self, Error> {
        let value = std::env::var(VAR).ok();
        match parse_choice(value.as_deref())? {
            Choice::Stable => {
                say!("SPA toolchain: stable ({VAR}=stable)");
                Ok(Self::Stable)
            }
            Choice::Nightly => match nightly_unavailable(ctx) {
                None => {
                    say!("SPA toolchain: nightly with -Z build-std ({VAR}=nightly)");
                    Ok(Self::Nightly)
                }
                Some(why) => Err(Error::new(format!(
                    "{VAR}=nightly, but the nightly toolchain cannot build the SPA: {why}"
                ))),
            },
            Choice::Auto => match nightly_unavailable(ctx) {
                None => {
                    say!(
                        "SPA toolchain: nightly with -Z build-std and -C panic=immediate-abort \
                         (smaller wasm; {VAR}=stable to use stable)"
                    );
                    Ok(Self::Nightly)
                }
                Some(why) => {
                    say!("SPA toolchain: stable ({why}; the wasm is ~17 KB gzip larger)");
                    Ok(Self::Stable)
                }
            },
        }
    }

    /// What built the wasm, for the size report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Nightly => "NIGHTLY (-Z build-std, panic=immediate-abort)",
            Self::Stable => "STABLE (no -Z build-std: ~17 KB gzip more than nightly)",
        }
    }

    /// Sets what trunk's cargo needs for this toolchain on `cmd` (a trunk command).
    pub fn apply(self, cmd: &mut Command) {
        if self == Self::Nightly {
            cmd.env("RUSTUP_TOOLCHAIN", "nightly")
                .env("CARGO_UNSTABLE_BUILD_STD", "std,panic_abort")
                .env(
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
                    NIGHTLY_RUSTFLAGS.join(" "),
                );
        }
    }
}

/// `None` when nightly can build the SPA; otherwise why not. Adds rust-src to an
/// installed nightly that lacks it (rustup, like the wasm target).
fn nightly_unavailable(ctx: &Ctx) -> Option<String> {
    let rustc = |args: &[&str]| {
        let mut cmd = ctx.command("rustup");
        cmd.args(["run", "nightly", "rustc"]).args(args);
        cmd
    };
    let Some(sysroot) = ctx::probe(&mut rustc(&["--print", "sysroot"])) else {
        return Some("no nightly toolchain".into());
    };
    let std_src = Path::new(&sysroot).join("lib/rustlib/src/rust/library/std/Cargo.toml");
    if !std_src.is_file() {
        say!("adding rust-src to the nightly toolchain (rustup)…");
        let added = ctx::probe(ctx.command("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]));
        if added.is_none() || !std_src.is_file() {
            return Some("nightly has no rust-src and rustup could not add it".into());
        }
    }
    // `-Z build-std` compiles std's own dependencies, and trunk builds
    // `--offline`: on a fresh machine they were never downloaded, and the
    // build failed. Fetch them now (a no-op once they are in cargo's cache).
    let library = Path::new(&sysroot).join("lib/rustlib/src/rust/library/Cargo.toml");
    let fetched = ctx::probe(
        ctx.command("rustup")
            .args(["run", "nightly", "cargo", "fetch", "--manifest-path"])
            .arg(&library),
    );
    if fetched.is_none() {
        return Some("cargo could not fetch the standard library's dependencies".into());
    }
    let mut probe = NIGHTLY_RUSTFLAGS.to_vec();
    probe.extend(["--print", "cfg", "--target", WASM_TARGET]);
    let knows_flags = ctx::probe(&mut rustc(&probe)).is_some();
    (!knows_flags).then(|| format!("this nightly does not know {}", NIGHTLY_RUSTFLAGS.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_defaults_to_auto_and_refuses_unknown_values() {
        assert_eq!(parse_choice(None).ok(), Some(Choice::Auto));
        assert_eq!(parse_choice(Some("")).ok(), Some(Choice::Auto));
        assert_eq!(parse_choice(Some(" nightly ")).ok(), Some(Choice::Nightly));
        assert_eq!(parse_choice(Some("stable")).ok(), Some(Choice::Stable));
        let err = parse_choice(Some("beta")).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("PARLEY_SPA_TOOLCHAIN must be auto, nightly or stable, not \"beta\"")
        );
    }

    #[test]
    fn stable_leaves_the_trunk_command_alone_and_nightly_sets_build_std() {
        let mut stable = Command::new("trunk");
        SpaToolchain::Stable.apply(&mut stable);
        assert_eq!(stable.get_envs().count(), 0);

        let mut nightly = Command::new("trunk");
        SpaToolchain::Nightly.apply(&mut nightly);
        let envs: Vec<(String, String)> = nightly
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
            .collect();
        assert!(envs.contains(&("RUSTUP_TOOLCHAIN".into(), "nightly".into())));
        assert!(envs.contains(&("CARGO_UNSTABLE_BUILD_STD".into(), "std,panic_abort".into())));
        assert!(envs.contains(&(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS".into(),
            "-Zunstable-options -Cpanic=immediate-abort -Zfmt-debug=none".into()
        )));
    }
}

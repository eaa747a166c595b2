//! Where things are (repo root, cargo, tool directories) and how child processes are
//! started: every child gets the same PATH, with cargo's bin directory on it so tools
//! that `cargo install` just put there are found.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// An xtask failure: a message meant for the person at the terminal.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Prints one xtask progress line (stderr, like cargo's own output).
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("[xtask] {}", format_args!($($arg)*)) };
}
pub(crate) use say;

#[derive(Debug)]
pub struct Ctx {
    /// The workspace root (parent of `xtask/`).
    pub root: PathBuf,
    /// The cargo that runs us (`$CARGO`), so a pinned toolchain stays pinned.
    cargo: OsString,
    /// PATH for every child: cargo's bin directory first, then the caller's PATH.
    path: OsString,
}

impl Ctx {
    pub fn new() -> Result<Self, Error> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir
            .parent()
            .ok_or_else(|| Error::new("xtask's manifest directory has no parent"))?
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));

        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(bin) = cargo_bin_dir() {
            dirs.push(bin);
        }
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&inherited) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        let path = std::env::join_paths(dirs)
            .map_err(|e| Error::new(format!("cannot build PATH for child processes: {e}")))?;
        Ok(Self { root, cargo, path })
    }

    /// `.tools/binaryen/node_modules/.bin`: the repo-local wasm-opt (npm `binaryen`).
    pub fn binaryen_dir(&self) -> PathBuf {
        self.root.join(".tools").join("binaryen")
    }

    pub fn binaryen_bin(&self) -> PathBuf {
        self.binaryen_dir().join("node_modules").join(".bin")
    }

    pub fn terser_dir(&self) -> PathBuf {
        self.root.join(".tools").join("terser")
    }

    /// terser's command-line script, run with `node`.
    pub fn terser_js(&self) -> PathBuf {
        self.terser_dir()
            .join("node_modules")
            .join("terser")
            .join("bin")
            .join("terser")
    }

    pub fn dist_dir(&self) -> PathBuf {
        self.root.join("dist")
    }

    /// Where cargo puts what it builds: `$CARGO_TARGET_DIR` (relative to the
    /// root when relative), else `target/`.
    pub fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => self.root.join(dir),
            None => self.root.join("target"),
        }
    }

    /// A command run at the repo root with the shared PATH.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root).env("PATH", &self.path);
        cmd
    }

    pub fn cargo(&self) -> Command {
        self.command(&self.cargo)
    }

    /// A trunk invocation: the repo-local wasm-opt comes first on PATH so trunk
    /// (offline, pinned versions in Trunk.toml) finds it instead of an older system one.
    pub fn trunk(&self) -> Result<Command, Error> {
        let mut dirs = vec![self.binaryen_bin()];
        dirs.extend(std::env::split_paths(&self.path));
        let path = std::env::join_paths(dirs)
            .map_err(|e| Error::new(format!("cannot build PATH for trunk: {e}")))?;
        let mut cmd = self.command("trunk");
        cmd.env("PATH", path);
        Ok(cmd)
    }

    /// Looks `name` up on the children's PATH.
    pub fn find_program(&self, name: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    }
}

/// Where `cargo install` puts binaries: `$CARGO_INSTALL_ROOT/bin`, else
/// `$CARGO_HOME/bin`, else `~/.cargo/bin`.
fn cargo_bin_dir() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("CARGO_INSTALL_ROOT").filter(|r| !r.is_empty()) {
        return Some(PathBuf::from(root).join("bin"));
    }
    if let Some(home) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home).join("bin"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo").join("bin"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `cmd` with inherited stdio after echoing it; a non-zero exit is an error.
pub fn run(cmd: &mut Command) -> Result<(), Error> {
    let shown = display(cmd);
    say!("$ {shown}");
    let status = cmd
        .status()
        .map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("`{shown}` failed ({status})")))
    }
}

/// Runs `cmd` quietly and returns its trimmed stdout, or `None` when it cannot be
/// started or fails: the answer to "is this tool here, and which version?".
pub fn probe(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `VAR=value program args`, the way a person would type it (PATH left out).
pub fn display(cmd: &Command) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (key, value) in cmd.get_envs() {
        if key == "PATH" {
            continue;
        }
        if let Some(value) = value {
            parts.push(format!(
                "{}={}",
                key.to_string_lossy(),
                quote(&value.to_string_lossy())
            ));
        }
    }
    // `$CARGO` is a long toolchain path; "cargo" is what a person would type.
    let program = Path::new(cmd.get_program());
    if program.file_name().is_some_and(|name| name == "cargo") {
        parts.push("cargo".to_string());
    } else {
        parts.push(quote(&program.to_string_lossy()));
    }
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%~".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

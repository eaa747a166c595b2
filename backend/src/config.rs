//! Typed configuration: command-line flags with matching environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Parley chat server.
#[derive(Debug, Clone, Parser)]
#[command(name = "parley", version, about)]
pub struct Config {
    /// Address to listen on (use 0.0.0.0:8080 to accept other machines).
    #[arg(long, env = "PARLEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory holding the built single-page app (trunk's `dist/`). Unknown paths
    /// are answered with its index.html so client-side routes work.
    #[arg(long, env = "PARLEY_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,
}

impl Config {
    /// A configuration for tests: an ephemeral port on loopback.
    pub fn for_tests(static_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            static_dir: static_dir.into(),
        }
    }
}

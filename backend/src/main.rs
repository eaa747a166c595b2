//! The `parley` binary: parse flags, set up logging, run until ctrl-c or SIGTERM.

use clap::Parser;
use parley_backend::{Application, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    // The PostgreSQL client logs every statement's parameters at debug: message
    // bodies, password hashes. Never logged, whatever RUST_LOG says.
    if let Ok(quiet) = "tokio_postgres=info".parse() {
        filter = filter.add_directive(quiet);
    }
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let config = Config::parse();
    let app = match Application::build(config.clone()).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(listen = %config.listen, %err, "could not start");
            return std::process::ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "server failed");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

//! The real `parley` binary as a child process, and a WebSocket to it.

use futures_util::SinkExt;
use parley_common::PROTOCOL_VERSION;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TIMEOUT;

/// The real binary, on a fresh database in `dir`; returns it and its address
/// (read from its "listening" log line).
pub async fn start_binary(dir: &std::path::Path) -> (tokio::process::Child, std::net::SocketAddr) {
    let (child, addr, _) = start_binary_logging(dir, "info").await;
    (child, addr)
}

/// `start_binary` at log level `rust_log`, collecting what it logs.
pub async fn start_binary_logging(
    dir: &std::path::Path,
    rust_log: &str,
) -> (
    tokio::process::Child,
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    let mut args: Vec<std::ffi::OsString> = vec!["--listen".into(), "127.0.0.1:0".into()];
    args.push("--database".into());
    args.push(super::database_for(dir).await.into());
    args.push("--static-dir".into());
    args.push(dir.into());
    start_parley(args, rust_log).await
}

/// The real binary with `args`, logging at `rust_log`; returns it, its address
/// (from its "listening" line) and what it logs.
pub async fn start_parley(
    args: Vec<std::ffi::OsString>,
    rust_log: &str,
) -> (
    tokio::process::Child,
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut err_lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let err_log = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = err_lines.next_line().await {
            err_log.lock().unwrap().push_str(&line);
            err_log.lock().unwrap().push('\n');
        }
    });
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.lock().unwrap().push_str(&line);
            log.lock().unwrap().push('\n');
            if let Some(rest) = line.split("parley listening addr=").nth(1) {
                return rest.trim().parse().unwrap();
            }
        }
        panic!("the server ended before listening");
    })
    .await
    .expect("the server did not start in time");
    // Keep collecting its log so it never blocks on a full pipe.
    let out_log = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            out_log.lock().unwrap().push_str(&line);
            out_log.lock().unwrap().push('\n');
        }
    });
    (child, addr, log)
}

/// A WebSocket to the server at `addr` with session `token`, `hello` already
/// sent (for tests that run the real binary, without a `TestApp`).
pub async fn ws_hello(
    addr: std::net::SocketAddr,
    token: &str,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tungstenite::Error> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request.headers_mut().insert(
        "cookie",
        HeaderValue::from_str(&format!("parley_session={token}"))
            .map_err(|e| tungstenite::Error::HttpFormat(e.into()))?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let hello = json!({"type": "hello", "protocol": PROTOCOL_VERSION});
    ws.send(Message::text(hello.to_string())).await?;
    Ok(ws)
}

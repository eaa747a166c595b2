//! `spawn_app()` and a small WebSocket client with one helper per operation.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parley_backend::{Application, Config};
use parley_common::{ErrorCode, PROTOCOL_VERSION, ServerMsg};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    _static_dir: TempDir,
}

pub async fn spawn_app() -> TestApp {
    let static_dir = TempDir::new();
    std::fs::write(
        static_dir.0.join("index.html"),
        "<!doctype html><title>Parley test SPA</title>",
    )
    .unwrap();
    let app = Application::build(Config::for_tests(&static_dir.0))
        .await
        .unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        stop: Some(stop),
        server,
        _static_dir: static_dir,
    }
}

impl TestApp {
    pub async fn connect(&self) -> Client {
        let url = format!("ws://{}/ws", self.addr);
        let (ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("websocket connect failed");
        Client { ws }
    }

    /// Connects and says hello; returns once the lobby has been joined.
    pub async fn join_as(&self, name: &str) -> Client {
        let mut client = self.connect().await;
        client.hello(name).await;
        client
    }

    /// A plain HTTP/1.1 GET over a real socket; returns (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = String::new();
        tokio::time::timeout(TIMEOUT, stream.read_to_string(&mut raw))
            .await
            .expect("http response timed out")
            .unwrap();
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let body = raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Asks the server to shut down and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), &mut self.server)
            .await
            .expect("server did not stop in time")
            .unwrap()
            .unwrap();
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.unwrap();
    }

    /// The next server message (pings and pongs skipped), waiting at most `TIMEOUT`.
    pub async fn recv(&mut self) -> ServerMsg {
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("no message from the server in time")
                .expect("connection ended")
                .expect("websocket error");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("server sent invalid JSON {text}: {e}"));
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Waits for the server to close the connection; returns its close frame.
    pub async fn recv_close(&mut self) -> Option<CloseFrame> {
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("connection not closed in time");
            match frame {
                Some(Ok(Message::Close(frame))) => {
                    // Keep polling so tungstenite sends our close reply, until the
                    // server ends the connection.
                    while let Ok(Some(_)) = tokio::time::timeout(TIMEOUT, self.ws.next()).await {}
                    return frame;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("connection failed instead of closing: {e}"),
                None => return None,
            }
        }
    }

    pub async fn hello(&mut self, name: &str) {
        self.send_json(json!({"type": "hello", "protocol": PROTOCOL_VERSION, "name": name}))
            .await;
        match self.recv().await {
            ServerMsg::Welcome { name: got, .. } => assert_eq!(got.as_str(), name.trim()),
            other => panic!("expected welcome, got {other:?}"),
        }
        match self.recv().await {
            ServerMsg::Joined { room, .. } => assert_eq!(room.as_str(), "lobby"),
            other => panic!("expected joined, got {other:?}"),
        }
    }

    pub async fn say(&mut self, room: &str, client_id: &str, body: &str) {
        self.send_json(json!({"type": "send", "room": room, "client_id": client_id, "body": body}))
            .await;
    }

    /// Expects an `error` event with this code; returns its client id.
    pub async fn expect_error(&mut self, code: ErrorCode) -> Option<String> {
        match self.recv().await {
            ServerMsg::Error {
                code: got,
                message,
                client_id,
            } => {
                assert_eq!(got, code, "error message was: {message}");
                assert!(!message.is_empty());
                client_id.map(|c| c.to_string())
            }
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "parley-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

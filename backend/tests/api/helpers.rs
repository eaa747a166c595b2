//! `spawn_app()` and small clients (HTTP and WebSocket) with one helper per
//! operation.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parley_backend::{Application, Config};
use parley_common::{ChatMessage, ErrorCode, LongPollBatch, MyRoom, PROTOCOL_VERSION, ServerMsg};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A password that passes the strength rules.
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    pub dir: TempDir,
    config: Config,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `spawn_app` with changes to the configuration.
pub async fn spawn_app_with(change: impl FnOnce(&mut Config)) -> TestApp {
    // Server logs show up with `--nocapture`; RUST_LOG picks the level.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let dir = TempDir::new();
    std::fs::write(
        dir.0.join("index.html"),
        "<!doctype html><title>Parley test SPA</title>",
    )
    .unwrap();
    let mut config = Config::for_tests(&dir.0);
    config.database = dir.0.join("data").join("parley.db");
    change(&mut config);
    start(config, dir).await
}

async fn start(config: Config, dir: TempDir) -> TestApp {
    let app = Application::build(config.clone()).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        stop: Some(stop),
        server: Some(server),
        dir,
        config,
    }
}

/// An HTTP response: status, `Set-Cookie` session token (if any), JSON body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn error_code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The session token from `Set-Cookie`.
    pub fn session(&self) -> Option<String> {
        let cookie = self.header("set-cookie")?;
        let value = cookie.strip_prefix("parley_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    }
}

impl TestApp {
    /// A raw HTTP/1.1 request over a real socket.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra_headers: &[(&str, &str)],
    ) -> HttpResponse {
        http_to(self.addr, method, path, body, extra_headers).await
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.http("GET", path, None, &[]).await;
        (r.status, r.body)
    }

    pub async fn post_credentials(&self, path: &str, name: &str, password: &str) -> HttpResponse {
        let body = json!({"name": name, "password": password}).to_string();
        self.http("POST", path, Some(&body), &[]).await
    }

    /// Registers `name` and returns the session token.
    pub async fn register(&self, name: &str) -> String {
        let r = self.post_credentials("/api/register", name, PASSWORD).await;
        assert_eq!(r.status, 201, "register {name}: {}", r.body);
        r.session().expect("a session cookie")
    }

    pub async fn login(&self, name: &str) -> String {
        let r = self.post_credentials("/api/login", name, PASSWORD).await;
        assert_eq!(r.status, 200, "login {name}: {}", r.body);
        r.session().expect("a session cookie")
    }

    /// Tries to open a WebSocket with these cookies/origin; the HTTP status on
    /// refusal.
    pub async fn try_ws(&self, token: Option<&str>, origin: Option<&str>) -> Result<Client, u16> {
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        if let Some(token) = token {
            request.headers_mut().insert(
                "cookie",
                HeaderValue::from_str(&format!("parley_session={token}")).unwrap(),
            );
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect timed out")
        {
            Ok((ws, _)) => Ok(Client {
                ws,
                side: Vec::new(),
            }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// Opens a WebSocket with the session and says hello; returns the client and
    /// the rooms from `welcome`.
    pub async fn connect(&self, token: &str) -> (Client, Vec<MyRoom>) {
        let mut client = self
            .try_ws(Some(token), None)
            .await
            .expect("upgrade refused");
        let rooms = client.hello().await;
        (client, rooms)
    }

    /// Opens a WebSocket that says hello resuming `room` from `seq`; the
    /// welcome has been read.
    pub async fn resume_ws(&self, token: &str, room: &str, seq: u64) -> Client {
        let mut client = self
            .try_ws(Some(token), None)
            .await
            .expect("upgrade refused");
        client
            .send_json(json!({"type": "hello", "protocol": PROTOCOL_VERSION,
                              "resume": [{"room": room, "seq": seq}]}))
            .await;
        assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
        client
    }

    /// Registers `name` and connects; the lobby is joined.
    pub async fn user(&self, name: &str) -> Client {
        let token = self.register(name).await;
        self.connect(&token).await.0
    }

    /// Stops the server (gracefully) and starts a new one on the same database.
    pub async fn restart(mut self) -> TestApp {
        self.shutdown().await;
        start(self.config, self.dir).await
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server)
                .await
                .expect("server did not stop in time")
                .unwrap()
                .unwrap();
        }
    }

    /// Asks the server to shut down and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Presence, online lists and typing signals that `recv` stepped over.
    pub side: Vec<ServerMsg>,
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
    /// The next server message that is not presence, an online list or typing
    /// (those are kept in `side`), waiting at most `TIMEOUT`.
    pub async fn recv(&mut self) -> ServerMsg {
        loop {
            let msg = self.recv_any().await;
            match msg {
                ServerMsg::Presence { .. }
                | ServerMsg::Online { .. }
                | ServerMsg::Typing { .. } => {
                    self.side.push(msg);
                }
                other => return other,
            }
        }
    }

    /// Waits for a message matching `pred`, looking first at what `recv` stepped
    /// over; other messages met on the way are kept in `side`.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        if let Some(i) = self.side.iter().position(&pred) {
            return self.side.remove(i);
        }
        loop {
            let msg = match tokio::time::timeout(TIMEOUT, self.next_text()).await {
                Ok(Some(msg)) => msg,
                _ => panic!("waited in vain for {what}; saw {:?}", self.side),
            };
            if pred(&msg) {
                return msg;
            }
            self.side.push(msg);
        }
    }

    /// The next server message, `Err(close frame)` when the server closed, `None`
    /// when the connection ended without a close frame.
    pub async fn next_frame(&mut self) -> Option<Result<ServerMsg, Option<CloseFrame>>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(Ok(serde_json::from_str(&text).expect("valid JSON")));
                }
                Ok(Message::Close(frame)) => return Some(Err(frame)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next server message, or `None` if the connection ended.
    async fn next_text(&mut self) -> Option<ServerMsg> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next server message of any kind (pings and pongs skipped).
    pub async fn recv_any(&mut self) -> ServerMsg {
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

    /// Waits for `n` pings from the server (tungstenite answers each with a pong).
    pub async fn expect_pings(&mut self, n: usize) {
        let mut seen = 0;
        while seen < n {
            match tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("no ping in time")
            {
                Some(Ok(Message::Ping(_))) => seen += 1,
                Some(Ok(Message::Close(f))) => panic!("closed while waiting for pings: {f:?}"),
                Some(Ok(_)) => {}
                other => panic!("connection ended while waiting for pings: {other:?}"),
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

    /// Says hello; returns the rooms of the welcome.
    pub async fn hello(&mut self) -> Vec<MyRoom> {
        self.send_json(json!({"type": "hello", "protocol": PROTOCOL_VERSION}))
            .await;
        match self.recv().await {
            ServerMsg::Welcome { rooms, .. } => rooms,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn say(&mut self, room: &str, client_id: &str, body: &str) {
        self.send_json(json!({"type": "send", "room": room, "client_id": client_id, "body": body}))
            .await;
    }

    /// Sends a message and waits for its ack (skipping its own echo and other
    /// messages); returns the seq.
    pub async fn say_acked(&mut self, room: &str, client_id: &str, body: &str) -> u64 {
        self.say(room, client_id, body).await;
        loop {
            match self.recv().await {
                ServerMsg::Ack {
                    client_id: c, seq, ..
                } if c.as_str() == client_id => return seq,
                ServerMsg::Message(_) => {}
                other => panic!("expected the ack of {client_id}, got {other:?}"),
            }
        }
    }

    /// The next chat message (anything else is a test failure).
    pub async fn recv_message(&mut self) -> ChatMessage {
        match self.recv().await {
            ServerMsg::Message(m) => m,
            other => panic!("expected a chat message, got {other:?}"),
        }
    }

    /// Sends `join`/`create_room` and waits for `joined` + `history`; returns the
    /// history page.
    pub async fn enter(&mut self, kind: &str, room: &str) -> (Vec<ChatMessage>, bool) {
        self.send_json(json!({"type": kind, "room": room})).await;
        match self.recv().await {
            ServerMsg::Joined { room: r, .. } => assert_eq!(r.as_str(), room),
            other => panic!("expected joined {room}, got {other:?}"),
        }
        self.expect_history(room).await
    }

    pub async fn expect_history(&mut self, room: &str) -> (Vec<ChatMessage>, bool) {
        match self.recv().await {
            ServerMsg::History {
                channel,
                messages,
                has_more,
            } => {
                let name = match &channel {
                    parley_common::Channel::Room(r) => r.to_string(),
                    parley_common::Channel::Dm(u) => u.to_string(),
                };
                assert_eq!(name, room);
                (messages, has_more)
            }
            other => panic!("expected history of {room}, got {other:?}"),
        }
    }

    /// The latest page of the conversation with `user`.
    pub async fn dm_history(&mut self, user: &str) -> Vec<ChatMessage> {
        self.send_json(json!({"type": "history", "dm": user})).await;
        match self.recv().await {
            ServerMsg::History { messages, .. } => messages,
            other => panic!("expected the conversation with {user}, got {other:?}"),
        }
    }

    pub async fn history(&mut self, room: &str, before: Option<u64>) -> (Vec<ChatMessage>, bool) {
        let mut msg = json!({"type": "history", "room": room});
        if let Some(b) = before {
            msg["before"] = json!(b);
        }
        self.send_json(msg).await;
        self.expect_history(room).await
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

    /// Proves nothing else is queued for this client: a round trip through the
    /// server (a history request) comes back first.
    pub async fn expect_quiet(&mut self) {
        self.send_json(json!({"type": "list_rooms"})).await;
        match self.recv().await {
            ServerMsg::RoomList { .. } => {}
            other => panic!("expected nothing before the room list, got {other:?}"),
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A temporary directory (its path, `.0`), removed on drop.
pub struct TempDir(
    pub PathBuf,
    #[expect(dead_code, reason = "held for its drop, which removes the directory")]
    tempfile::TempDir,
);

impl TempDir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("parley-api-")
            .tempdir()
            .unwrap();
        Self(dir.path().to_path_buf(), dir)
    }
}

/// A WebSocket client at the byte level: it completes the handshake, then never
/// answers pings by itself (a real dead client), and reads raw frames.
pub struct RawWs {
    pub stream: TcpStream,
}

impl TestApp {
    pub async fn raw_ws(&self, token: &str) -> RawWs {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        self.raw_ws_over(stream, token).await
    }

    /// A raw WebSocket whose socket has a small receive buffer, so a client that
    /// stops reading pushes back on the server quickly.
    pub async fn raw_ws_small(&self, token: &str) -> RawWs {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(self.addr).await.unwrap();
        self.raw_ws_over(stream, token).await
    }

    async fn raw_ws_over(&self, mut stream: TcpStream, token: &str) -> RawWs {
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Cookie: parley_session={token}\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // Read the 101 response head byte by byte, so no frame bytes are consumed.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            tokio::time::timeout(TIMEOUT, stream.read_exact(&mut byte))
                .await
                .expect("handshake timed out")
                .unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        RawWs { stream }
    }
}

impl RawWs {
    /// Reads one (unmasked, server-sent) frame: opcode and payload.
    pub async fn read_frame(&mut self) -> (u8, Vec<u8>) {
        let mut hdr = [0u8; 2];
        tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut hdr))
            .await
            .expect("no frame in time")
            .unwrap();
        let opcode = hdr[0] & 0x0f;
        let len = match hdr[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                self.stream.read_exact(&mut ext).await.unwrap();
                usize::from(u16::from_be_bytes(ext))
            }
            127 => panic!("unexpectedly large frame"),
            n => usize::from(n),
        };
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await.unwrap();
        (opcode, payload)
    }

    /// Reads one frame, or `None` when the connection ends (or nothing comes
    /// within `TIMEOUT`).
    pub async fn try_read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut hdr = [0u8; 2];
        tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut hdr))
            .await
            .ok()?
            .ok()?;
        let len = match hdr[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                self.stream.read_exact(&mut ext).await.ok()?;
                usize::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                self.stream.read_exact(&mut ext).await.ok()?;
                usize::try_from(u64::from_be_bytes(ext)).ok()?
            }
            n => usize::from(n),
        };
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some((hdr[0] & 0x0f, payload))
    }

    /// Sends a (masked, as clients must) text frame.
    pub async fn write_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81];
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | n as u8),
            n @ 126..=65535 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x12, 0x34, 0x56, 0x78];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Reads frames until a close frame; returns its code.
    pub async fn read_close_code(&mut self) -> u16 {
        loop {
            let (opcode, payload) = self.read_frame().await;
            if opcode == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

/// A long-polling client: the HTTP requests of `/api/lp`, one TCP connection each.
pub struct Lp {
    pub addr: std::net::SocketAddr,
    pub token: String,
    pub sid: String,
    /// The cursor: `next` of the last batch received.
    pub since: u64,
}

impl TestApp {
    /// Opens a long-poll connection with `messages` (a JSON array) as the first
    /// body; the status and body on refusal.
    pub async fn try_lp(&self, token: &str, messages: Value) -> Result<Lp, HttpResponse> {
        let cookie = format!("parley_session={token}");
        let r = self
            .http(
                "POST",
                "/api/lp",
                Some(&messages.to_string()),
                &[("Cookie", &cookie)],
            )
            .await;
        if r.status != 201 {
            return Err(r);
        }
        let sid = r.json()["sid"].as_str().expect("a sid").to_owned();
        Ok(Lp {
            addr: self.addr,
            token: token.to_owned(),
            sid,
            since: 0,
        })
    }

    /// Opens a long-poll connection that says hello (resuming from `resume`).
    pub async fn lp(&self, token: &str, resume: Value) -> Lp {
        let hello = json!([{"type": "hello", "protocol": PROTOCOL_VERSION, "resume": resume}]);
        self.try_lp(token, hello).await.expect("long-poll refused")
    }
}

impl Lp {
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> HttpResponse {
        let cookie = format!("parley_session={}", self.token);
        let mut headers = vec![("Cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        http_to(self.addr, method, path, body, &headers).await
    }

    /// Submits client messages (a JSON array); the HTTP status.
    pub async fn post(&self, messages: Value) -> u16 {
        let path = format!("/api/lp/{}", self.sid);
        let r = self
            .request("POST", &path, Some(&messages.to_string()), &[])
            .await;
        assert!(
            r.status == 204 || r.status >= 400,
            "unexpected {}",
            r.status
        );
        r.status
    }

    /// One GET (waiting up to `wait` seconds) at the current cursor; moves the
    /// cursor on. Panics on an error status.
    pub async fn get(&mut self, wait: u64) -> LongPollBatch {
        let r = self.get_raw(self.since, wait).await;
        assert_eq!(r.status, 200, "long-poll GET: {}", r.body);
        let batch: LongPollBatch = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("bad long-poll batch {}: {e}", r.body));
        self.since = batch.next;
        batch
    }

    pub async fn get_raw(&self, since: u64, wait: u64) -> HttpResponse {
        let path = format!("/api/lp/{}?since={since}&wait={wait}", self.sid);
        self.request("GET", &path, None, &[]).await
    }
}

/// An HTTP/1.1 request over a new connection (`Connection: close`, none kept
/// for another request); a body is JSON unless `extra_headers` say otherwise.
pub async fn http_to(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> HttpResponse {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("connection", "close");
    let mut has_type = false;
    for (name, value) in extra_headers {
        has_type |= name.eq_ignore_ascii_case("content-type");
        request = request.header(*name, *value);
    }
    if body.is_some() && !has_type {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    // A connection per request, as before: some tests count connections or
    // hold one request open while sending another.
    let client = HttpClient::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(HttpConnector::new());
    let (head, body) = tokio::time::timeout(Duration::from_secs(40), async {
        let (head, body) = client.request(request).await.unwrap().into_parts();
        (head, body.collect().await.unwrap().to_bytes())
    })
    .await
    .expect("http response timed out");
    let headers = head
        .headers
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes());
            (n.as_str().to_owned(), value.trim().to_owned())
        })
        .collect();
    HttpResponse {
        status: head.status.as_u16(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

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
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(dir.join("parley.db"))
        .arg("--static-dir")
        .arg(dir)
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

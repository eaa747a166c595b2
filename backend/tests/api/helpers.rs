//! `spawn_app()` and small clients with one helper per operation: HTTP here,
//! the WebSocket, raw WebSocket, long-polling and real-binary ones in `helpers/`.

mod binary;
mod longpoll;
mod raw_ws;
mod ws;

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parley_backend::store::Database;
use parley_backend::{Application, Config};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use binary::{start_binary, start_binary_logging, start_parley, ws_hello};
pub use longpoll::Lp;
pub use ws::Client;

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
    config.database = match postgres_url() {
        Some(url) => Database::Postgres(postgres_database(&url, &fresh_name()).await),
        None => dir.0.join("data").join("parley.db").into(),
    };
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

/// The PostgreSQL server to run the tests against (`PARLEY_TEST_POSTGRES`, a
/// URL such as postgres://parley@127.0.0.1:5432/postgres), if set; else SQLite.
pub fn postgres_url() -> Option<String> {
    std::env::var("PARLEY_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A database name no other test uses.
pub fn fresh_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "parley_t_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` naming database `db` instead of its own.
pub fn url_with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let host = base.find("://").map_or(0, |i| i + 3);
    let base = base[host..].find('/').map_or(base, |i| &base[..host + i]);
    match query {
        Some(query) => format!("{base}/{db}?{query}"),
        None => format!("{base}/{db}"),
    }
}

/// A connection to the database at `url`, its driver running on a task.
pub async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Database `name` on the test PostgreSQL at `url` (created if missing); its URL.
pub async fn postgres_database(url: &str, name: &str) -> String {
    let client = pg_connect(url).await;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    }
    url_with_db(url, name)
}

/// What `--database` names for a server whose files are in `dir`: the SQLite
/// file there, or on PostgreSQL a database named after `dir` (so a restart in
/// the same `dir` finds the same data).
pub async fn database_for(dir: &std::path::Path) -> String {
    match postgres_url() {
        Some(url) => {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            dir.hash(&mut hasher);
            postgres_database(&url, &format!("parley_b_{:x}", hasher.finish())).await
        }
        None => dir.join("parley.db").display().to_string(),
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

    /// The database the server stores in.
    pub fn database(&self) -> &Database {
        &self.config.database
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

/// An HTTP/1.1 request over a new connection (`Connection: close`, none kept
/// for another request); a body is JSON unless `extra_headers` say otherwise.
pub async fn http_to(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> HttpResponse {
    try_http_to(addr, method, path, body, extra_headers)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// [`http_to`] that reports a failed request (refused, cut, timed out) instead
/// of panicking.
pub async fn try_http_to(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Result<HttpResponse, String> {
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
        .map_err(|e| e.to_string())?;
    // A connection per request, as before: some tests count connections or
    // hold one request open while sending another.
    let client = HttpClient::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(HttpConnector::new());
    let (head, body) = tokio::time::timeout(Duration::from_secs(40), async {
        let (head, body) = client
            .request(request)
            .await
            .map_err(|e| e.to_string())?
            .into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok::<_, String>((head, body))
    })
    .await
    .map_err(|_| "http response timed out".to_owned())??;
    let headers = head
        .headers
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes());
            (n.as_str().to_owned(), value.trim().to_owned())
        })
        .collect();
    Ok(HttpResponse {
        status: head.status.as_u16(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

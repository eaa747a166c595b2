//! The end-to-end harness: the real server in-process serving the built SPA, a
//! chromedriver child, and headless Chromium sessions with throwaway profiles.
//!
//! The server runs on a tokio runtime of its own, on its own thread, with its
//! database in the harness's scratch directory. A test can stop it (gracefully, as
//! on SIGTERM, or abruptly, as on a kill) and start it again on the same port and
//! the same database, while its browsers stay open.
//!
//! Nothing here skips: a missing SPA build or chromedriver is a failure that says to
//! run `cargo xtask test`, which installs the tools, builds `dist/` and sets the env.
//! Every wait polls with a deadline; nothing sleeps hoping something happened.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::fmt::Write as _;
use std::fs::File;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parley_backend::{Application, Config};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub mod page;

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What a test returns: the failure text printed as is (a test's `Err` is shown with
/// `Debug`, which would squeeze a multi-line report into one escaped string).
pub struct Report(String);

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for Report {
    fn from(err: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self(err.to_string())
    }
}

/// How long any one thing may take to appear in the page. Generous: CI machines
/// have two cores and Chromium is not light.
pub const WAIT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(100);

const RUN_XTASK: &str = "run `cargo xtask test` (it installs the tools, builds the SPA \
                         and sets PARLEY_DIST and CHROMEDRIVER), or `cargo xtask test e2e`";

const CHROME_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,900",
];

/// How long a server may take to stop (its own drain timeout is 10 s).
const STOP_WITHIN: Duration = Duration::from_secs(15);
/// How long a restarted server may wait for its port to be free again.
const REBIND_WITHIN: Duration = Duration::from_secs(10);

/// How the harness's server is configured, beyond [`Config::for_tests`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerOptions {
    /// Answer WebSocket upgrades with 503 (`--refuse-websocket`), like a proxy
    /// that blocks them: pages fall back to long-polling.
    pub refuse_websocket: bool,
}

/// A running Parley with everything needed to drive it from browsers.
pub struct Harness {
    /// `http://127.0.0.1:<port>` of the in-process server; the same across restarts.
    pub base_url: String,
    /// What every (re)start of the server uses: after the first start, `listen`
    /// holds the port it got, and `database` is in `scratch`.
    config: Config,
    /// `None` while stopped.
    server: Option<Server>,
    driver: ChromeDriver,
    chrome: PathBuf,
    /// Holds the database, the chromedriver log and the browser profiles; removed
    /// on drop.
    scratch: TempDir,
}

/// One run of the server: a thread with its own runtime.
struct Server {
    /// Graceful stop: like SIGTERM (WebSockets closed with 1001, store drained).
    /// A dropped sender (a failing test) stops the server too.
    stop: Option<oneshot::Sender<()>>,
    /// Abrupt stop: the runtime is dropped with every task on it, so every socket
    /// just closes (no close frame, no final long-poll batch), as when the
    /// process is killed. A dropped sender does nothing.
    kill: Option<oneshot::Sender<()>>,
    /// How the server's thread ended.
    ended: oneshot::Receiver<std::io::Result<()>>,
}

impl Server {
    /// Builds the application on a new thread with its own runtime and serves
    /// until stopped or killed. Returns once it listens (or could not start).
    async fn spawn(config: Config) -> std::io::Result<(Self, SocketAddr)> {
        let (ready_tx, ready) = oneshot::channel::<std::io::Result<SocketAddr>>();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (kill, kill_rx) = oneshot::channel::<()>();
        let (ended_tx, ended) = oneshot::channel::<std::io::Result<()>>();
        std::thread::Builder::new()
            .name("parley-server".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("parley-server-rt")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let outcome = runtime.block_on(async move {
                    let app = match Application::build(config).await {
                        Ok(app) => app,
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            return None;
                        }
                    };
                    let _ = ready_tx.send(Ok(app.local_addr()));
                    let stopped = async move {
                        let _ = stop_rx.await;
                    };
                    let killed = async move {
                        if kill_rx.await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::select! {
                        result = app.run_until_stopped(stopped) => Some(result),
                        () = killed => Some(Ok(())),
                    }
                });
                // Whatever is still running (after a kill: every connection) is
                // dropped here, closing its sockets.
                runtime.shutdown_timeout(Duration::from_secs(2));
                if let Some(outcome) = outcome {
                    let _ = ended_tx.send(outcome);
                }
            })?;
        let addr = ready
            .await
            .map_err(|_| std::io::Error::other("the server thread ended before listening"))??;
        Ok((
            Self {
                stop: Some(stop),
                kill: Some(kill),
                ended,
            },
            addr,
        ))
    }

    /// Stops it (`abrupt`: kills it) and waits until its thread is done, so the
    /// port and the database are free again.
    async fn end(mut self, abrupt: bool) -> TestResult {
        let signal = if abrupt {
            self.kill.take()
        } else {
            self.stop.take()
        };
        if let Some(signal) = signal {
            let _ = signal.send(());
        }
        match tokio::time::timeout(STOP_WITHIN, self.ended).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(err))) => Err(format!("server stopped with an error: {err}").into()),
            Ok(Err(_)) => Err("the server's thread ended without saying how (a panic?)".into()),
            Err(_) => Err(format!(
                "server did not stop within {} s of {}",
                STOP_WITHIN.as_secs(),
                if abrupt { "being killed" } else { "shutdown" }
            )
            .into()),
        }
    }
}

impl Harness {
    pub async fn start() -> TestResult<Self> {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(options: ServerOptions) -> TestResult<Self> {
        let dist = dist_dir()?;
        let chromedriver = chromedriver_path()?;
        let chrome = chrome_path()?;
        let scratch = TempDir::new("parley-e2e")?;

        let mut config = Config::for_tests(dist);
        config.database = scratch.path().join("data").join("parley.db").into();
        config.refuse_websocket = options.refuse_websocket;
        let (server, addr) = Server::spawn(config.clone()).await?;
        // Restarts listen on the port the first start got.
        config.listen = addr;
        let base_url = format!("http://{addr}");

        let log = scratch.path().join("chromedriver.log");
        let driver = ChromeDriver::start(&chromedriver, &log).await?;

        Ok(Self {
            base_url,
            config,
            server: Some(server),
            driver,
            chrome,
            scratch,
        })
    }

    /// Stops the server as SIGTERM would (WebSockets get 1001 "going away",
    /// long-polls a final batch saying so) and waits until it is gone.
    pub async fn stop_server(&mut self) -> TestResult {
        let server = self
            .server
            .take()
            .ok_or("stop_server: the server is not running")?;
        server.end(false).await
    }

    /// Stops the server abruptly, as a kill would: every connection just closes,
    /// with no close frame and no final batch; nothing is drained.
    pub async fn kill_server(&mut self) -> TestResult {
        let server = self
            .server
            .take()
            .ok_or("kill_server: the server is not running")?;
        server.end(true).await
    }

    /// Starts the server again on the same port and the same database (waiting,
    /// within [`REBIND_WITHIN`], for the port to be free should it not be yet).
    pub async fn start_server(&mut self) -> TestResult {
        if self.server.is_some() {
            return Err("start_server: the server is already running".into());
        }
        let deadline = Instant::now() + REBIND_WITHIN;
        loop {
            match Server::spawn(self.config.clone()).await {
                Ok((server, _)) => {
                    self.server = Some(server);
                    return Ok(());
                }
                Err(err)
                    if err.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
                {
                    tokio::time::sleep(POLL_EVERY).await;
                }
                Err(err) => {
                    return Err(
                        format!("restarting the server on {}: {err}", self.config.listen).into(),
                    );
                }
            }
        }
    }

    /// [`Harness::stop_server`] then [`Harness::start_server`].
    pub async fn restart_server(&mut self) -> TestResult {
        self.stop_server().await?;
        self.start_server().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A new headless Chromium session with its own empty profile.
    pub async fn browser(&self, label: &str) -> TestResult<Browser> {
        let profile = self.scratch.subdir(&format!("profile-{label}"))?;
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|a| (*a).to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chrome.to_string_lossy(),
                "args": args,
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            return Err("capabilities must be a JSON object".into());
        };
        let caps: Capabilities = caps;
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.driver.url())
            .await
            .map_err(|e| {
                format!(
                    "{label}: cannot start a Chromium session: {e}\nchromedriver log:\n{}",
                    self.driver.log_tail()
                )
            })?;
        Ok(Browser {
            label: label.to_string(),
            client,
        })
    }

    /// Closes the browsers, then stops the server (if running) and waits for it to drain.
    /// Runs on failure too: the first error wins, the cleanup still happens.
    pub async fn finish(
        mut self,
        browsers: Vec<Browser>,
        outcome: TestResult,
    ) -> Result<(), Report> {
        let mut outcome: TestResult = match outcome {
            Ok(()) => Ok(()),
            Err(err) => {
                let mut report = format!("{err}\n\n--- evidence ---");
                for browser in &browsers {
                    report.push_str(&browser.evidence().await);
                }
                Err(report.into())
            }
        };
        for browser in browsers {
            let label = browser.label.clone();
            if let Err(err) = browser.client.close().await {
                if outcome.is_ok() {
                    outcome = Err(format!("{label}: closing the WebDriver session: {err}").into());
                }
            }
        }
        if let Some(server) = self.server.take() {
            if let Err(err) = server.end(false).await {
                if outcome.is_ok() {
                    outcome = Err(err);
                }
            }
        }
        outcome.map_err(Report::from)
    }
}

/// One user's browser.
pub struct Browser {
    pub label: String,
    pub client: Client,
}

impl Browser {
    pub async fn goto(&self, url: &str) -> TestResult {
        self.client
            .goto(url)
            .await
            .map_err(|e| format!("{}: opening {url}: {e}", self.label).into())
    }

    /// Waits until `css` matches an element.
    pub async fn wait_for(&self, css: &str) -> TestResult<fantoccini::elements::Element> {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL_EVERY)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => Ok(element),
            Err(CmdError::WaitTimeout) => Err(format!(
                "{}: `{css}` did not appear within {} s",
                self.label,
                WAIT.as_secs()
            )
            .into()),
            Err(err) => Err(format!("{}: waiting for `{css}`: {err}", self.label).into()),
        }
    }

    /// With `PARLEY_SCREENSHOTS=/some/dir`, saves what this browser shows at 1280
    /// and 375 px wide as `<name>-1280.png` and `<name>-375.png`, for a person to
    /// look at the UI; without it, does nothing. `settle` is extra time for pages
    /// that change with the clock (the lab's figures); each shot also waits until
    /// the page's finite CSS transitions and animations have finished (at most
    /// 2 s: the sidebar slides away at the narrow width), then two frames.
    pub async fn screenshots(&self, name: &str, settle: Duration) -> TestResult {
        let Some(dir) = std::env::var_os("PARLEY_SCREENSHOTS") else {
            return Ok(());
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        for width in [1280, 375] {
            self.client.set_window_size(width, 800).await?;
            tokio::time::sleep(settle).await;
            self.client
                .execute_async(
                    "const done = arguments[0]; const until = Date.now() + 2000; \
                     const moving = () => document.getAnimations().some(a => \
                       a.playState === 'running' && \
                       a.effect?.getComputedTiming().iterations !== Infinity); \
                     const frames = () => requestAnimationFrame(() => \
                       requestAnimationFrame(() => done(true))); \
                     const check = () => moving() && Date.now() < until \
                       ? setTimeout(check, 50) : frames(); \
                     requestAnimationFrame(check);",
                    vec![],
                )
                .await?;
            let shot = self.client.screenshot().await?;
            std::fs::write(dir.join(format!("{name}-{width}.png")), shot)?;
        }
        self.client.set_window_size(1280, 900).await?;
        Ok(())
    }

    /// Runs `script` (which must `return` something) in the page.
    pub async fn eval(&self, script: &str) -> TestResult<Value> {
        self.client
            .execute(script, vec![])
            .await
            .map_err(|e| format!("{}: running a script: {e}", self.label).into())
    }

    /// Polls `check` until it yields `Some`, or fails after [`WAIT`] with `what` and the
    /// last thing `check` saw.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, check: F) -> TestResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = TestResult<Result<T, String>>>,
    {
        self.wait_until_within(WAIT, what, check).await
    }

    /// [`Browser::wait_until`] with a deadline of its own (for things that must
    /// happen within a stated time).
    pub async fn wait_until_within<T, F, Fut>(
        &self,
        limit: Duration,
        what: &str,
        mut check: F,
    ) -> TestResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = TestResult<Result<T, String>>>,
    {
        let deadline = Instant::now() + limit;
        loop {
            let last = match check().await? {
                Ok(value) => return Ok(value),
                Err(last) => last,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: timed out after {} s waiting until {what}; last seen: {last}",
                    self.label,
                    limit.as_secs()
                )
                .into());
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Cuts this browser off the network, or connects it again (DevTools network
    /// emulation): while offline, every new request and WebSocket of the page
    /// fails at once, as with the cable pulled; the page itself keeps running.
    pub async fn set_offline(&self, offline: bool) -> TestResult {
        self.emulate_network(offline, &Link::UNTHROTTLED).await
    }

    /// Gives this browser a slow link (DevTools network emulation: each request
    /// waits `link`'s round trip, bytes flow at its rates) and turns its HTTP
    /// cache off, so that every load is a first visit.
    pub async fn set_network(&self, link: &Link) -> TestResult {
        self.emulate_network(false, link).await?;
        self.cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
            .await?;
        Ok(())
    }

    async fn emulate_network(&self, offline: bool, link: &Link) -> TestResult {
        self.cdp("Network.enable", json!({})).await?;
        self.cdp(
            "Network.emulateNetworkConditions",
            json!({
                "offline": offline,
                "latency": link.latency_ms,
                "downloadThroughput": link.download_bytes_per_sec,
                "uploadThroughput": link.upload_bytes_per_sec,
            }),
        )
        .await?;
        Ok(())
    }

    /// One Chrome DevTools Protocol command, through chromedriver; its result.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> TestResult<Value> {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .map_err(|e| format!("{}: DevTools {cmd}: {e}", self.label).into())
    }

    /// What a failure report needs: where the page is, what it shows, what it logged.
    async fn evidence(&self) -> String {
        let mut out = format!("\n[{}]", self.label);
        match self.client.current_url().await {
            Ok(url) => {
                let _ = write!(out, "\n  url: {url}");
            }
            Err(err) => {
                let _ = write!(out, "\n  url: <{err}>");
            }
        }
        let html = self
            .eval(
                "const pick = (s) => { const e = document.querySelector(s); \
                 return e ? e.outerHTML : '<none: ' + s + '>'; }; \
                 return [pick('#status'), pick('#my-rooms'), pick('#my-dms'), \
                 pick('#messages'), pick('#typing-indicator'), \
                 document.body ? document.body.outerHTML.slice(0, 4000) : '<no body>'];",
            )
            .await;
        match html {
            Ok(Value::Array(parts)) => {
                let names = [
                    "#status",
                    "#my-rooms",
                    "#my-dms",
                    "#messages",
                    "#typing-indicator",
                    "body (first 4000 chars)",
                ];
                for (name, part) in names.iter().zip(parts) {
                    let _ = write!(out, "\n  {name}: {}", part.as_str().unwrap_or_default());
                }
            }
            Ok(other) => {
                let _ = write!(out, "\n  page: {other}");
            }
            Err(err) => {
                let _ = write!(out, "\n  page: <{err}>");
            }
        }
        match self.client.issue_cmd(BrowserLog).await {
            Ok(Value::Array(entries)) if entries.is_empty() => {
                out.push_str("\n  console: (empty)");
            }
            Ok(Value::Array(entries)) => {
                out.push_str("\n  console:");
                for entry in entries {
                    let _ = write!(
                        out,
                        "\n    {} {}",
                        entry["level"].as_str().unwrap_or("?"),
                        entry["message"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(other) => {
                let _ = write!(out, "\n  console: {other}");
            }
            Err(err) => {
                let _ = write!(out, "\n  console: <{err}>");
            }
        }
        out
    }
}

/// A network link for [`Browser::set_network`], in DevTools' units.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// Added to every request's round trip.
    pub latency_ms: f64,
    /// Bytes per second; -1 is unthrottled.
    pub download_bytes_per_sec: f64,
    pub upload_bytes_per_sec: f64,
}

impl Link {
    /// No throttling at all.
    pub const UNTHROTTLED: Link = Link {
        latency_ms: 0.0,
        download_bytes_per_sec: -1.0,
        upload_bytes_per_sec: -1.0,
    };
    /// "Fast 3G" as issue #20 measures it (and Lighthouse's mobile throttling,
    /// give or take): 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up.
    pub const FAST_3G: Link = Link {
        latency_ms: 150.0,
        download_bytes_per_sec: 1_600_000.0 / 8.0,
        upload_bytes_per_sec: 750_000.0 / 8.0,
    };
}

/// chromedriver's `goog/cdp/execute`: one Chrome DevTools Protocol command.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}

/// chromedriver's (non-W3C but long-standing) "read the browser console" command.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// The chromedriver child; killed when dropped, so a failing test leaves nothing behind.
struct ChromeDriver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl ChromeDriver {
    /// Spawns chromedriver on a free port and waits until `/status` says ready.
    async fn start(program: &Path, log: &Path) -> TestResult<Self> {
        let port = free_port()?;
        let log_file = File::create(log)?;
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}; {RUN_XTASK}", program.display()))?;
        let mut driver = Self {
            child,
            port,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = driver.child.try_wait()? {
                return Err(format!(
                    "chromedriver exited ({status}) before it was ready:\n{}",
                    driver.log_tail()
                )
                .into());
            }
            if driver.is_ready().await {
                return Ok(driver);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver did not answer /status within {} s:\n{}",
                    WAIT.as_secs(),
                    driver.log_tail()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One `GET /status`; true once chromedriver reports `"ready": true`.
    async fn is_ready(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        http_get(addr, "/status").await.is_ok_and(|(status, body)| {
            status == 200
                && serde_json::from_slice::<Value>(&body)
                    .is_ok_and(|v| v["value"]["ready"] == Value::Bool(true))
        })
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP GET, bounded in time: status code and body.
async fn http_get(addr: SocketAddr, path: &str) -> TestResult<(u16, Vec<u8>)> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(1)));
    let client = HttpClient::builder(TokioExecutor::new()).build::<_, String>(connector);
    let uri: http::Uri = format!("http://{addr}{path}").parse()?;
    let response = tokio::time::timeout(Duration::from_secs(2), async {
        let response = client.get(uri).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        TestResult::Ok((status, body.to_vec()))
    })
    .await;
    response.map_err(|_| format!("GET {path}: no answer within 2 s"))?
}

/// A port nobody listens on right now (the OS picks it; we release it for chromedriver).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// `PARLEY_DIST`, else the workspace's `dist/`; it must hold a built SPA.
fn dist_dir() -> TestResult<PathBuf> {
    let dist = match std::env::var_os("PARLEY_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("dist"),
    };
    if dist.join("index.html").is_file() {
        Ok(dist)
    } else {
        Err(format!(
            "no built SPA at {} (no index.html); {RUN_XTASK}",
            dist.display()
        )
        .into())
    }
}

/// `CHROMEDRIVER`, else `chromedriver` on PATH.
fn chromedriver_path() -> TestResult<PathBuf> {
    find_binary("CHROMEDRIVER", "chromedriver")
}

/// `CHROME`, else /usr/bin/chromium, else `chromium` on PATH.
fn chrome_path() -> TestResult<PathBuf> {
    if std::env::var_os("CHROME").is_none() {
        let debian = PathBuf::from("/usr/bin/chromium");
        if debian.is_file() {
            return Ok(debian);
        }
    }
    find_binary("CHROME", "chromium")
}

fn find_binary(var: &str, default: &str) -> TestResult<PathBuf> {
    let wanted = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if wanted.components().count() > 1 {
        return if wanted.is_file() {
            Ok(wanted)
        } else {
            Err(format!("{var}={} does not exist; {RUN_XTASK}", wanted.display()).into())
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(&wanted))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "`{}` not found on PATH (set {var} to its path); {RUN_XTASK}",
                wanted.display()
            )
            .into()
        })
}

/// A directory under the system temp dir, removed (best effort) on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()?;
        Ok(Self(dir))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    fn subdir(&self, name: &str) -> std::io::Result<PathBuf> {
        let dir = self.0.path().join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Chromium may still be flushing its profile for a moment after the session
        // ends, and `tempfile` tries only once: a few attempts first, then leave it
        // to the OS's temp cleaning.
        for _ in 0..5 {
            match std::fs::remove_dir_all(self.0.path()) {
                Ok(()) => return,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

//! The runner's side of the load generator: several `parley-bench worker`
//! processes (no more than [`PER_WORKER`] connections each, every one from its own
//! loopback source address), all pinned to the generator's core.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::future::join_all;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::procs::{self, GENERATOR_CPU, ServerProc};
use crate::proto::Proto;
use crate::wire::{
    ClientSpec, Command, ConnectSpec, Report, SenderSpec, StepPlan, StepReport, VotePlan,
    VoteReport, new_histogram,
};
use crate::worker::now_us;
use anyhow::{Context, Error, Result, bail};

/// Connections per worker process: well under the 20,000 open files a process
/// may have, and under the ~28k ports of one source address.
pub const PER_WORKER: usize = 5000;
/// A worker ends by itself after this long, whatever happens to the runner.
const WORKER_MAX_SECS: u64 = 3600;
/// Steps start this long after the runner sends them, so every worker has the
/// plan in time.
const LEAD: Duration = Duration::from_millis(300);

/// Hands out loopback source addresses 127.x.y.z: one per worker, never reused
/// within a run, so no worker finds its ports taken by TIME_WAIT sockets of an
/// earlier one. A run starts at an address derived from the clock (1,000 further
/// on per second), so a run started right after another does not meet the
/// previous run's TIME_WAIT sockets either (they last 60 s; a run uses a few
/// hundred addresses).
#[derive(Debug)]
pub struct SourceAddrs(u32);

impl Default for SourceAddrs {
    fn default() -> Self {
        let secs = now_us() / 1_000_000;
        let offset = u32::try_from((secs * 1000) % 0x00f0_0000).unwrap_or(0);
        Self(2 + offset)
    }
}

impl SourceAddrs {
    pub fn next_addr(&mut self) -> Ipv4Addr {
        let n = self.0;
        self.0 += 1;
        // Stay inside 127.0.0.0/8 and off .0 and .255 host bytes.
        let n = n % 0x00ff_0000;
        let ip = Ipv4Addr::from(0x7f00_0000 + n);
        if matches!(ip.octets()[3], 0 | 255) {
            self.next_addr()
        } else {
            ip
        }
    }
}

struct WorkerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    pid: u32,
    /// Global index of this worker's first client.
    first: usize,
    clients: usize,
}

impl WorkerProc {
    fn spawn(exe: &Path, first: usize, clients: usize) -> Result<Self> {
        let mut cmd = tokio::process::Command::from(procs::pinned(exe, GENERATOR_CPU));
        cmd.args(["worker", "--max-secs", &WORKER_MAX_SECS.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("cannot start a generator worker")?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        // prlimit and taskset exec the worker: same pid.
        let pid = child.id().context("worker pid")?;
        Ok(Self {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            pid,
            first,
            clients,
        })
    }

    async fn send(&mut self, command: &Command) -> Result<()> {
        let mut line = serde_json::to_string(command)?;
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .context("generator worker is gone")?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Report> {
        let line = self
            .stdout
            .next_line()
            .await?
            .context("generator worker exited (see its messages above)")?;
        Ok(serde_json::from_str(&line)?)
    }
}

/// How connecting went, over all workers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Connected {
    pub ok: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    /// First attempt → last client ready (s).
    pub elapsed_s: f64,
    /// Completed WebSocket upgrades per second: the first 99% of them, from the
    /// first attempt.
    pub upgrades_per_s: f64,
    /// The same over all of them (first attempt → last upgrade).
    pub upgrades_all_per_s: f64,
    /// Clients ready to chat per second (the first 99%, from the first attempt).
    pub ready_per_s: f64,
    /// Per connection, ms.
    pub upgrade_p50_ms: f64,
    pub upgrade_p99_ms: f64,
    pub ready_p50_ms: f64,
    pub ready_p99_ms: f64,
    /// Generator CPU while connecting, as a fraction of its core.
    pub generator_cpu: f64,
}

/// One load step, over all workers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepOutcome {
    pub duration_s: f64,
    pub sent: u64,
    /// Each message sent × the members of its room.
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub stale: u64,
    pub closed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub send_lag_p99_ms: f64,
    /// Generator CPU while sending, as a fraction of its core.
    pub generator_cpu: f64,
    /// Server CPU seconds from the step's start to the end of its drain.
    pub server_cpu_s: f64,
}

impl StepOutcome {
    pub fn delivered_per_s(&self) -> f64 {
        self.received as f64 / self.duration_s.max(1e-9)
    }
}

/// A step's senders, by global client index.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    pub client: usize,
    pub id: u32,
    pub rate: f64,
    pub phase: f64,
}

pub struct Generator {
    workers: Vec<WorkerProc>,
    members: HashMap<String, u64>,
    next_step: u32,
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

impl Generator {
    /// Starts the workers and connects `clients` (in order: global index i is
    /// client i) to the server at `addr`.
    pub async fn connect(
        exe: &Path,
        proto: Proto,
        addr: SocketAddr,
        clients: Vec<ClientSpec>,
        concurrency: usize,
        addrs: &mut SourceAddrs,
    ) -> Result<(Self, Connected)> {
        let mut members: HashMap<String, u64> = HashMap::new();
        for c in &clients {
            *members.entry(c.room.clone()).or_default() += 1;
        }
        let chunks: Vec<Vec<ClientSpec>> = clients.chunks(PER_WORKER).map(<[_]>::to_vec).collect();
        let mut workers = Vec::with_capacity(chunks.len());
        let mut first = 0;
        for chunk in &chunks {
            workers.push(WorkerProc::spawn(exe, first, chunk.len())?);
            first += chunk.len();
        }
        let mut generator = Self {
            workers,
            members,
            next_step: 1,
        };
        let cpu0 = generator.cpu_seconds();
        let wall0 = now_us();
        for (w, chunk) in generator.workers.iter_mut().zip(chunks) {
            let spec = ConnectSpec {
                proto,
                addr,
                source_ip: addrs.next_addr(),
                clients: chunk,
                concurrency: concurrency.max(1),
                timeout_ms: 60_000,
            };
            w.send(&Command::Connect(spec)).await?;
        }
        let reports = join_all(generator.workers.iter_mut().map(WorkerProc::recv)).await;
        let cpu = generator.cpu_seconds() - cpu0;
        let wall = (now_us().saturating_sub(wall0)) as f64 / 1e6;
        let mut out = Connected::default();
        let mut upgrade = new_histogram()?;
        let mut ready = new_histogram()?;
        let (mut first_start, mut last_upgraded, mut last_ready) = (u64::MAX, 0u64, 0u64);
        let (mut upgraded_at, mut ready_at) = (Vec::new(), Vec::new());
        for report in reports {
            match report? {
                Report::Connected(r) => {
                    out.ok += u64::from(r.ok);
                    out.failed += u64::from(r.failed);
                    for e in r.errors {
                        if out.errors.len() < 5 && !out.errors.contains(&e) {
                            out.errors.push(e);
                        }
                    }
                    if r.ok > 0 {
                        first_start = first_start.min(r.first_start_us);
                        last_upgraded = last_upgraded.max(r.last_upgraded_us);
                        last_ready = last_ready.max(r.last_ready_us);
                    }
                    upgraded_at.extend(r.upgraded_at_us);
                    ready_at.extend(r.ready_at_us);
                    r.upgrade.add_to(&mut upgrade);
                    r.ready.add_to(&mut ready);
                }
                Report::Failed(e) => return Err(Error::msg(format!("worker: {e}"))),
                other => bail!("unexpected answer to connect: {other:?}"),
            }
        }
        if out.ok > 0 {
            let span = |end: u64| (end.saturating_sub(first_start)) as f64 / 1e6;
            out.elapsed_s = span(last_ready);
            out.upgrades_all_per_s = out.ok as f64 / span(last_upgraded).max(1e-6);
            // The rate of the first 99%: one straggler (a SYN retransmitted after
            // 1 s) must not halve the figure of a ramp that takes a second.
            let rate99 = |times: &mut Vec<u64>| {
                times.sort_unstable();
                let k = ((times.len() as f64 * 0.99).ceil() as usize).clamp(1, times.len());
                k as f64 / span(times[k - 1]).max(1e-6)
            };
            out.upgrades_per_s = rate99(&mut upgraded_at);
            out.ready_per_s = rate99(&mut ready_at);
        }
        out.upgrade_p50_ms = ms(&upgrade, 0.5);
        out.upgrade_p99_ms = ms(&upgrade, 0.99);
        out.ready_p50_ms = ms(&ready, 0.5);
        out.ready_p99_ms = ms(&ready, 0.99);
        out.generator_cpu = cpu / wall.max(1e-6);
        Ok((generator, out))
    }

    /// CPU seconds used by all workers so far.
    pub fn cpu_seconds(&self) -> f64 {
        self.workers
            .iter()
            .filter_map(|w| procs::cpu_seconds(w.pid).ok())
            .sum()
    }

    /// Runs one step: `senders` send for `duration`, receivers count for `drain`
    /// more. Measures the server's CPU over the whole step and the generator's
    /// while sending.
    pub async fn step(
        &mut self,
        server: &ServerProc,
        senders: &[Sender],
        duration: Duration,
        drain: Duration,
        body_len: usize,
    ) -> Result<StepOutcome> {
        let step = self.next_step;
        self.next_step += 1;
        let start_us = now_us() + LEAD.as_micros() as u64;
        let duration_ms = duration.as_millis() as u64;
        let mut by_worker: Vec<Vec<SenderSpec>> = vec![Vec::new(); self.workers.len()];
        for s in senders {
            let Some(w) = self
                .workers
                .iter()
                .position(|w| s.client >= w.first && s.client < w.first + w.clients)
            else {
                bail!("sender {} is no client of this generator", s.client);
            };
            by_worker[w].push(SenderSpec {
                client: u32::try_from(s.client - self.workers[w].first)?,
                id: s.id,
                rate: s.rate,
                phase: s.phase,
            });
        }
        for (w, senders) in self.workers.iter_mut().zip(by_worker) {
            let plan = StepPlan {
                step,
                start_us,
                duration_ms,
                drain_ms: drain.as_millis() as u64,
                body_len,
                senders,
            };
            w.send(&Command::Run(plan)).await?;
        }
        sleep_until_us(start_us).await;
        let server0 = server.cpu_seconds()?;
        let gen0 = self.cpu_seconds();
        sleep_until_us(start_us + duration_ms * 1000).await;
        let gen_cpu = self.cpu_seconds() - gen0;
        let reports = join_all(self.workers.iter_mut().map(WorkerProc::recv)).await;
        let server_cpu = server.cpu_seconds()? - server0;

        let mut out = StepOutcome {
            duration_s: duration.as_secs_f64(),
            generator_cpu: gen_cpu / duration.as_secs_f64().max(1e-6),
            server_cpu_s: server_cpu,
            ..StepOutcome::default()
        };
        let mut latency = new_histogram()?;
        let mut lag = new_histogram()?;
        let mut sent_by_room: HashMap<String, u64> = HashMap::new();
        for report in reports {
            let r: StepReport = match report? {
                Report::Step(r) => r,
                Report::Failed(e) => bail!("worker: {e}"),
                other => bail!("unexpected answer to a step: {other:?}"),
            };
            for (room, n) in r.sent {
                *sent_by_room.entry(room).or_default() += n;
            }
            out.received += r.received;
            out.duplicates += r.duplicates;
            out.reordered += r.reordered;
            out.stale += r.stale;
            out.closed += u64::from(r.closed);
            out.errors += r.errors;
            if out.first_error.is_none() {
                out.first_error = r.first_error;
            }
            r.latency.add_to(&mut latency);
            r.send_lag.add_to(&mut lag);
        }
        for (room, n) in sent_by_room {
            out.sent += n;
            out.expected += n * self.members.get(&room).copied().unwrap_or(0);
        }
        out.lost = out.expected.saturating_sub(out.received);
        out.p50_ms = ms(&latency, 0.5);
        out.p99_ms = ms(&latency, 0.99);
        out.p999_ms = ms(&latency, 0.999);
        out.max_ms = if latency.is_empty() {
            0.0
        } else {
            latency.max() as f64 / 1000.0
        };
        out.send_lag_p99_ms = ms(&lag, 0.99);
        Ok(out)
    }

    /// Parley's vote burst over every connected client; returns the workers'
    /// reports in client order.
    pub async fn vote(
        &mut self,
        poll: u64,
        options: u32,
        window: Duration,
    ) -> Result<Vec<VoteReport>> {
        let voters: usize = self.workers.iter().map(|w| w.clients).sum();
        let start_us = now_us() + 500_000;
        for w in &mut self.workers {
            let plan = VotePlan {
                poll,
                options,
                voters: voters as u64,
                first_index: u32::try_from(w.first)?,
                start_us,
                window_ms: window.as_millis() as u64,
                deadline_ms: 20_000,
            };
            w.send(&Command::Vote(plan)).await?;
        }
        let mut out = Vec::new();
        for report in join_all(self.workers.iter_mut().map(WorkerProc::recv)).await {
            match report? {
                Report::Vote(r) => out.push(r),
                Report::Failed(e) => bail!("worker: {e}"),
                other => bail!("unexpected answer to a vote: {other:?}"),
            }
        }
        Ok(out)
    }

    /// Tells every worker to exit and waits for them (the kernel closes their
    /// sockets).
    pub async fn quit(mut self) {
        for w in &mut self.workers {
            let _ = w.send(&Command::Quit).await;
        }
        for w in &mut self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(10), w.child.wait()).await;
        }
    }
}

async fn sleep_until_us(at_us: u64) {
    let now = now_us();
    if at_us > now {
        tokio::time::sleep(Duration::from_micros(at_us - now)).await;
    }
}

//! The floor under S3's latency in a big room: the same fan-out with no server
//! at all.
//!
//! A process pinned to the server's core holds `room` TCP connections and, at
//! S3's message rate, writes one frame of a delivery's size to each of them in
//! turn with plain blocking writes (`TCP_NODELAY`, no runtime, no framing, no
//! queues) — the least any server can do. The runner, on the generator's core,
//! reads them with one task per connection, as a generator worker does. Each
//! frame carries its burst's *scheduled* time, so latency is measured as in S3.
//!
//! On loopback the sender's core also runs the receiving side of TCP (softirq),
//! so a write costs several µs and one message to 1,000 receivers takes that
//! many of them in a row: whatever a server does, its p99 in that room cannot be
//! below this one.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::procs::{self, SERVER_CPU};
use crate::wire::new_histogram;
use crate::worker::now_us;
use anyhow::{Context, Result, bail};

/// Bytes per frame: about what Parley puts on the wire per delivery in S3 (a
/// `message` frame with S3's 100-byte body).
pub const FRAME_BYTES: usize = 200;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloorRun {
    pub rep: usize,
    pub room: usize,
    /// Deliveries per second (messages per second × room).
    pub offered: f64,
    pub frame_bytes: usize,
    pub expected: u64,
    pub received: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The writing process's CPU time per delivery.
    pub source_us_per_delivery: f64,
    pub error: Option<String>,
}

/// Runs the floor for `room` receivers at `offered` deliveries/s for `secs`.
pub async fn measure(exe: &Path, rep: usize, room: usize, offered: f64, secs: f64) -> FloorRun {
    let mut run = FloorRun {
        rep,
        room,
        offered,
        frame_bytes: FRAME_BYTES,
        ..FloorRun::default()
    };
    if let Err(e) = sink(exe, &mut run, secs).await {
        run.error = Some(format!("{e:#}"));
    }
    run
}

async fn sink(exe: &Path, run: &mut FloorRun, secs: f64) -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let room = run.room;
    let bursts = ((run.offered / room as f64) * secs).round().max(1.0) as u64;
    run.expected = bursts * room as u64;
    let mut cmd = procs::pinned(exe, SERVER_CPU);
    cmd.args([
        "floor-source",
        "--addr",
        &addr.to_string(),
        "--connections",
        &room.to_string(),
        "--bursts",
        &bursts.to_string(),
        "--interval-us",
        &((1e6 * room as f64 / run.offered).round() as u64).to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped());
    let child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the floor's writer")?;

    let latency = Rc::new(RefCell::new(new_histogram()?));
    let received = Rc::new(Cell::new(0u64));
    let done = Rc::new(tokio::sync::Notify::new());
    let expected = run.expected;
    let accepting = async {
        let mut writers = Vec::with_capacity(room);
        for _ in 0..room {
            let (socket, _) = listener.accept().await?;
            let (mut socket, writer) = socket.into_split();
            writers.push(writer);
            let latency = Rc::clone(&latency);
            let received = Rc::clone(&received);
            let done = Rc::clone(&done);
            tokio::task::spawn_local(async move {
                let mut frame = [0u8; FRAME_BYTES];
                while socket.read_exact(&mut frame).await.is_ok() {
                    let now = now_us();
                    let mut stamp = [0u8; 8];
                    stamp.copy_from_slice(&frame[..8]);
                    let sent = u64::from_le_bytes(stamp);
                    let _ = latency.borrow_mut().record(now.saturating_sub(sent).max(1));
                    received.set(received.get() + 1);
                    if received.get() == expected {
                        done.notify_one();
                    }
                }
            });
        }
        Ok::<_, std::io::Error>(writers)
    };
    let local = tokio::task::LocalSet::new();
    let deadline = Duration::from_secs_f64(secs + 10.0);
    let outcome = local
        .run_until(async {
            let mut writers = accepting.await?;
            // Every connection is up and read: tell the writer when to start (on
            // every connection; it reads the first of its own).
            let start_us = now_us() + 300_000;
            for w in &mut writers {
                w.write_all(&start_us.to_le_bytes()).await?;
            }
            tokio::time::timeout(deadline, done.notified()).await.ok();
            Ok::<(), std::io::Error>(())
        })
        .await;
    outcome.context("floor: accepting the writer's connections")?;
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .context("the floor's writer did not finish")??;
    if !output.status.success() {
        bail!("the floor's writer failed ({})", output.status);
    }
    let cpu_s: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    run.received = received.get();
    run.source_us_per_delivery = cpu_s * 1e6 / run.expected.max(1) as f64;
    let h = latency.borrow();
    run.p50_ms = h.value_at_quantile(0.5) as f64 / 1000.0;
    run.p99_ms = h.value_at_quantile(0.99) as f64 / 1000.0;
    run.max_ms = h.max() as f64 / 1000.0;
    if run.received != run.expected {
        bail!("floor: {} of {} frames arrived", run.received, run.expected);
    }
    Ok(())
}

/// The writer (`parley-bench floor-source`, pinned to the server's core):
/// connects, learns the start time from the reader, then writes `bursts` frames
/// to every connection, one burst every `interval_us`, each stamped with its
/// scheduled time. Prints its CPU seconds.
pub fn source(addr: SocketAddr, connections: usize, bursts: u64, interval_us: u64) -> Result<()> {
    let mut sockets = Vec::with_capacity(connections);
    for _ in 0..connections {
        let s = TcpStream::connect(addr).context("floor: connect")?;
        s.set_nodelay(true)?;
        sockets.push(s);
    }
    let mut start = [0u8; 8];
    sockets
        .first_mut()
        .context("floor: no connections")?
        .read_exact(&mut start)
        .context("floor: the reader never said when to start")?;
    let start_us = u64::from_le_bytes(start);
    let mut frame = [b'x'; FRAME_BYTES];
    for k in 0..bursts {
        let due = start_us + k * interval_us;
        let now = now_us();
        if due > now {
            std::thread::sleep(Duration::from_micros(due - now));
        }
        frame[..8].copy_from_slice(&due.to_le_bytes());
        for s in &mut sockets {
            s.write_all(&frame).context("floor: write")?;
        }
    }
    let cpu = procs::cpu_seconds(std::process::id())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{cpu}")?;
    Ok(())
}

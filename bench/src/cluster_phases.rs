//! The cluster scenario's phases (see [`crate::cluster`] for what each one
//! measures) and the counting they share.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::cluster::{
    CATCH_UP, Cluster, ClusterSizes, Delivery, FAILOVER_WAIT, FailoverRun, HotRun, Latency,
    SteadyRun,
};
use crate::cluster_client::{self as client, Received, Sent, Shared};
use crate::parley_db::Account;
use crate::procs;
use anyhow::{Context, Result};

/// A new prefix for client ids: a retry of a client id gets its original
/// seq back, so no two phases (or repetitions) may share one.
fn run_tag(kind: &str) -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    format!("{kind}{}", RUNS.fetch_add(1, SeqCst))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn latency(mut v: Vec<f64>) -> Latency {
    if v.is_empty() {
        return Latency::default();
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    Latency {
        count: v.len() as u64,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: v[v.len() - 1],
    }
}

/// Counts `received` against the acked seqs above its start; a kicked
/// receiver counts only its duplicates and disorder.
fn check(received: &Received, acked: &HashSet<u64>, kicked: bool) -> Delivery {
    if kicked {
        let mut d = check(received, &HashSet::new(), false);
        d.kicked = 1;
        d.receivers = 0;
        return d;
    }
    let mut d = Delivery {
        receivers: 1,
        ..Delivery::default()
    };
    let mut counts: HashMap<u64, u32> = HashMap::new();
    let mut prev = 0;
    for &(seq, _) in &received.seqs {
        if seq < prev {
            d.out_of_order += 1;
        }
        prev = seq;
        *counts.entry(seq).or_default() += 1;
    }
    d.duplicated = counts
        .values()
        .map(|&c| u64::from(c.saturating_sub(1)))
        .sum();
    for seq in acked.iter().filter(|&&s| s > received.start) {
        d.expected += 1;
        if !counts.contains_key(seq) {
            d.lost += 1;
        }
    }
    d
}

/// What a receiver missed, and how its stream and resumes went around it.
fn describe_loss(r: &Received, acked: &HashSet<u64>, killed_at: Instant) -> String {
    let got: HashSet<u64> = r.seqs.iter().map(|s| s.0).collect();
    let mut missing: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|s| *s > r.start && !got.contains(s))
        .collect();
    missing.sort_unstable();
    let at = |t: Instant| {
        let before = killed_at.saturating_duration_since(t).as_secs_f64();
        if before > 0.0 {
            format!("{before:.3} s before the kill")
        } else {
            let after = t.saturating_duration_since(killed_at).as_secs_f64();
            format!("{after:.3} s after the kill")
        }
    };
    let resumes: Vec<String> = r
        .resumes
        .iter()
        .map(|(from, addr, t)| format!("resumed from {from} on {addr} {}", at(*t)))
        .collect();
    let around: Vec<String> = missing
        .first()
        .map(|&m| {
            r.seqs
                .iter()
                .filter(|s| s.0 + 3 >= m && s.0 <= m + 3)
                .map(|s| format!("{} ({})", s.0, at(s.1)))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "start {}, missing {:?}{}; {}; arrivals near the first: {}",
        r.start,
        &missing[..missing.len().min(12)],
        if missing.len() > 12 { " …" } else { "" },
        resumes.join(", "),
        around.join(", ")
    )
}

/// Opens `accounts` on `addrs` (round robin), all at once.
async fn open_all(
    accounts: &[Account],
    addrs: &[SocketAddr],
) -> Result<Vec<(client::TxRx, String, usize)>> {
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in accounts.iter().enumerate() {
        let addr = addrs[i % addrs.len()];
        let token = a.token.clone();
        set.spawn(async move { (i, client::open(addr, &token, None).await, token) });
    }
    let mut out = Vec::with_capacity(accounts.len());
    while let Some(joined) = set.join_next().await {
        let (i, conn, token) = joined.context("connect task")?;
        out.push((conn?, token, i));
    }
    out.sort_by_key(|c| c.2);
    Ok(out)
}

pub async fn hot(cluster: &Cluster<'_>, sizes: &ClusterSizes) -> Result<HotRun> {
    let n = 3 * sizes.hot_senders_per_node;
    let addrs: Vec<SocketAddr> = (0..3).map(|i| cluster.node_addr(i)).collect();
    let conns = open_all(&cluster.accounts[..n], &addrs).await?;
    // Let the welcomes' presence traffic settle before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = cluster.cpu();
    let own0 = procs::cpu_seconds(std::process::id()).unwrap_or(0.0);
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(sizes.hot_secs);
    let mut tasks = Vec::new();
    let tag = run_tag("h");
    for (conn, _, i) in conns {
        tasks.push(tokio::spawn(client::pipelined(
            conn,
            format!("{tag}-{i}"),
            sizes.hot_window,
            until,
            Duration::from_secs(10),
        )));
    }
    let mut sent: Vec<(Sent, client::Rx)> = Vec::new();
    for t in tasks {
        sent.push(t.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = cluster.cpu();
    let own1 = procs::cpu_seconds(std::process::id()).unwrap_or(0.0);
    let acked: HashSet<u64> = sent
        .iter()
        .flat_map(|(s, _)| s.acked.iter().map(|a| a.0))
        .collect();
    let ack_ms: Vec<f64> = sent
        .iter()
        .flat_map(|(s, _)| s.acked.iter().map(|a| ms(a.2 - a.1)))
        .collect();
    let head = acked.iter().copied().max().unwrap_or(0);
    // Every sender also receives the room: read the rest of each stream.
    let mut delivery = Delivery::default();
    let mut errors = Vec::new();
    let mut readers = Vec::new();
    for (s, rx) in sent {
        errors.extend(s.errors.iter().cloned());
        let kicked = s.closed;
        readers.push(tokio::spawn(async move {
            let received = client::read_until(rx, s.received, head, CATCH_UP).await;
            (received, kicked)
        }));
    }
    for r in readers {
        let (received, kicked) = r.await?;
        delivery.add(&check(&received, &acked, kicked));
    }
    for e in errors.iter().take(3) {
        eprintln!("[bench] cluster:   {e}");
    }
    let ack = latency(ack_ms);
    Ok(HotRun {
        senders: n,
        acked: acked.len() as u64,
        secs,
        acked_per_s: acked.len() as f64 / secs,
        ack_p50_ms: ack.p50_ms,
        ack_p99_ms: ack.p99_ms,
        node_cpu: cpu0
            .iter()
            .zip(&cpu1)
            .take(3)
            .map(|(a, b)| (b - a) / secs)
            .collect(),
        engines_cpu: (cpu1.get(3).copied().unwrap_or(0.0) - cpu0.get(3).copied().unwrap_or(0.0))
            / secs,
        generator_cpu: (own1 - own0) / secs,
        delivery,
    })
}

/// Paced senders on node `from`, receivers on nodes `to`. With `gap`, the
/// hints that reached Redis are recorded, and the messages without one
/// measured apart.
pub async fn steady(
    cluster: &Cluster<'_>,
    sizes: &ClusterSizes,
    from: usize,
    to: [usize; 2],
    gap: bool,
) -> Result<SteadyRun> {
    let per = sizes.steady_receivers_per_node;
    let senders = &cluster.accounts[..sizes.steady_senders];
    let receivers = &cluster.accounts[sizes.steady_senders..sizes.steady_senders + 2 * per];
    let to_addrs: Vec<SocketAddr> = to.iter().map(|&i| cluster.node_addr(i)).collect();
    let rx_conns = open_all(receivers, &to_addrs).await?;
    let tx_conns = open_all(senders, &[cluster.node_addr(from)]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(sizes.steady_secs);
    let stop_listening = until + CATCH_UP;
    let hints = Arc::new(Mutex::new(HashSet::new()));
    let redis = SocketAddr::from(([127, 0, 0, 1], cluster.redis.port()));
    let listener = tokio::spawn(client::hint_listener(
        redis,
        format!("{}:events", cluster.prefix),
        Arc::clone(&hints),
        stop_listening,
    ));
    // Give the subscription a moment to be in place before the first send.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (halt, halted) = watch::channel(false);
    let mut shared = Vec::new();
    let mut readers = Vec::new();
    for (conn, token, _) in rx_conns {
        let s = Arc::new(Shared::default());
        shared.push(Arc::clone(&s));
        readers.push(tokio::spawn(client::receiver(
            conn,
            token,
            Vec::new(),
            0,
            Arc::new(AtomicU64::new(0)),
            s,
            stop_listening,
            halted.clone(),
        )));
    }
    let head = Arc::new(AtomicU64::new(0));
    let rate = sizes.steady_rate / sizes.steady_senders as f64;
    let mut tasks = Vec::new();
    let tag = run_tag(if gap { "g" } else { "s" });
    for (conn, _, i) in tx_conns {
        tasks.push(tokio::spawn(client::paced(
            conn,
            format!("{tag}-{i}"),
            rate,
            until,
            Duration::from_secs(10),
            Arc::clone(&head),
            halted.clone(),
        )));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.push(t.await?);
    }
    let mut times = HashMap::new();
    for s in &sent {
        for &(seq, at, acked_at) in &s.acked {
            times.insert(seq, (at, acked_at));
        }
    }
    let acked: HashSet<u64> = times.keys().copied().collect();
    let top = acked.iter().copied().max().unwrap_or(0);
    let deadline = Instant::now() + CATCH_UP;
    while shared.iter().any(|s| s.last() < top) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the listener see the last hints, then stop it and the receivers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    listener.abort();
    let _ = halt.send(true);
    for r in readers {
        r.await?;
    }
    for e in sent.iter().flat_map(|s| &s.errors).take(3) {
        eprintln!("[bench] cluster:   {e}");
    }
    let hinted: HashSet<u64> = hints.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut run = SteadyRun {
        offered_per_s: sizes.steady_rate,
        acked_per_s: acked.len() as f64 / sizes.steady_secs,
        ..SteadyRun::default()
    };
    let (mut all, mut after_ack, mut dropped, mut ok) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in &shared {
        let r = s
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let kicked = s.reconnects.load(SeqCst) > 0;
        run.delivery.add(&check(&r, &acked, kicked));
        for &(seq, at) in &r.seqs {
            let Some(&(sent_at, acked_at)) = times.get(&seq) else {
                continue;
            };
            let l = ms(at - sent_at);
            all.push(l);
            after_ack.push(ms(at.saturating_duration_since(acked_at)));
            if gap {
                if hinted.contains(&seq) {
                    ok.push(l);
                } else {
                    dropped.push(l);
                }
            }
        }
    }
    run.send_to_delivery = latency(all);
    run.ack_to_delivery = latency(after_ack);
    run.ack = latency(
        times
            .values()
            .map(|(at, acked_at)| ms(*acked_at - *at))
            .collect(),
    );
    if gap {
        run.dropped_hints = acked.iter().filter(|s| !hinted.contains(s)).count() as u64;
        run.gap_filled = latency(dropped);
        run.hinted = latency(ok);
    }
    Ok(run)
}

pub async fn failover(cluster: &mut Cluster<'_>, sizes: &ClusterSizes) -> Result<FailoverRun> {
    let n = sizes.failover_clients;
    let conns = open_all(&cluster.accounts[1..=n], &[cluster.node_addr(2)]).await?;
    let fallbacks = vec![cluster.node_addr(0), cluster.node_addr(1)];
    let head = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + FAILOVER_WAIT + CATCH_UP + Duration::from_secs(10);
    let (halt, halted) = watch::channel(false);
    let mut shared = Vec::new();
    let mut readers = Vec::new();
    for (conn, token, i) in conns {
        let s = Arc::new(Shared::default());
        shared.push(Arc::clone(&s));
        readers.push(tokio::spawn(client::receiver(
            conn,
            token,
            fallbacks.clone(),
            i,
            Arc::clone(&head),
            s,
            stop,
            halted.clone(),
        )));
    }
    // One sender on node 1 throughout: the replays hold what it sent while
    // the clients were away.
    let sender = client::open(cluster.node_addr(0), &cluster.accounts[0].token, None).await?;
    let (halt_sender, sender_halted) = watch::channel(false);
    let sending = tokio::spawn(client::paced(
        sender,
        run_tag("f"),
        sizes.failover_rate,
        stop,
        Duration::from_secs(5),
        Arc::clone(&head),
        sender_halted,
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let head_at_kill = head.load(SeqCst);
    let killed_at = Instant::now();
    cluster.kill_node(2)?;
    let deadline = killed_at + FAILOVER_WAIT;
    let resumed = |s: &Shared| *s.resumed_at.lock().unwrap_or_else(PoisonError::into_inner);
    while shared.iter().any(|s| resumed(s).is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut times: Vec<f64> = shared
        .iter()
        .filter_map(|s| resumed(s))
        .map(|t| t.saturating_duration_since(killed_at).as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    let acked_during = head.load(SeqCst).saturating_sub(head_at_kill);
    // Live traffic a moment longer, then everyone must have everything.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = halt_sender.send(true);
    let sent = sending.await?;
    let acked: HashSet<u64> = sent.acked.iter().map(|a| a.0).collect();
    let top = acked.iter().copied().max().unwrap_or(0);
    let wait = Instant::now() + CATCH_UP;
    while shared.iter().any(|s| s.last() < top) && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = halt.send(true);
    for r in readers {
        r.await?;
    }
    let mut delivery = Delivery::default();
    let mut failures = 0;
    let mut losers = Vec::new();
    for s in &shared {
        let r = s
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Every one of these lost its node on purpose and resumed: all count.
        let d = check(&r, &acked, false);
        if d.lost > 0 {
            losers.push(describe_loss(&r, &acked, killed_at));
        }
        delivery.add(&d);
        failures += s
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
    }
    for e in shared
        .iter()
        .flat_map(|s| {
            s.errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
        .chain(sent.errors)
        .take(3)
    {
        eprintln!("[bench] cluster:   {e}");
    }
    for l in losers.iter().take(10) {
        eprintln!("[bench] cluster:   LOST {l}");
    }
    Ok(FailoverRun {
        losses: losers,
        clients: n,
        resumed: times.len(),
        last_s: if times.len() == n {
            times.last().copied().unwrap_or(0.0)
        } else {
            f64::INFINITY
        },
        p50_s: times.get(times.len() / 2).copied().unwrap_or(0.0),
        reconnect_failures: failures,
        acked_during,
        delivery,
    })
}

//! The report's section "Cluster (3 nodes, PostgreSQL + Redis)", from the
//! cluster scenario's own raw results (`docs/bench/cluster.json`).

use crate::cluster::{
    ClusterResults, Delivery, GOAL_FAILOVER_S, GOAL_GAP_MS, GOAL_HOT, GOAL_P99_MS, Latency,
};

macro_rules! line {
    ($md:expr) => { $md.push('\n') };
    ($md:expr, $($arg:tt)*) => {{ $md.push_str(&format!($($arg)*)); $md.push('\n'); }};
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

fn status(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

fn lat(l: &Latency) -> String {
    if l.count == 0 {
        return "–".to_owned();
    }
    format!("{:.1} / {:.1} / {:.1} ms", l.p50_ms, l.p99_ms, l.max_ms)
}

fn delivery(d: &Delivery) -> String {
    let kicked = if d.kicked > 0 {
        format!(
            "; {} more kicked as slow consumers (the generator fell behind; left out)",
            d.kicked
        )
    } else {
        String::new()
    };
    format!(
        "{} receivers, {} expected: {} lost, {} duplicated, {} out of order{kicked}",
        d.receivers, d.expected, d.lost, d.duplicated, d.out_of_order
    )
}

pub fn section(results: Option<&ClusterResults>, md: &mut String) {
    line!(md, "## Cluster (3 nodes, PostgreSQL + Redis)");
    line!(md);
    let Some(r) = results else {
        line!(
            md,
            "Not run yet: `cargo xtask bench -- --only cluster` runs it (and rewrites only \
             this section)."
        );
        line!(md);
        return;
    };
    let s = &r.sizes;
    line!(
        md,
        "Issue #22's figures, measured on {}{} in {:.0} s by `cargo xtask bench -- --only cluster` \
         (also part of the full suite; raw results: [`bench/cluster.json`](bench/cluster.json); \
         this run: `{}`). Three `parley` nodes on 127.0.0.2–4, one PostgreSQL 15 with **fsync \
         on**, one Redis 7, all started by the scenario and stopped at its end; the lobby is the \
         one hot room. Hot and steady: median over {} repetition(s); gap fill and failover: one \
         run each.",
        r.date,
        if r.quick { " (quick mode)" } else { "" },
        r.elapsed_s,
        r.command,
        s.reps
    );
    line!(md);
    line!(
        md,
        "**On this machine this is a correctness-under-load figure, not a capacity figure**: \
         three nodes, PostgreSQL, Redis and the load generator share 2 cores, so every node \
         competes with the database for CPU and every commit waits for a real fsync. One node on \
         SQLite is faster here; the cluster is for more machines, not more speed on one.{}",
        r.load_before.map_or(String::new(), |l| format!(
            " Load average when the run started: {l:.2} (on a busy machine the commit's fsync, \
             and with it every p99 here, has a longer tail)."
        ))
    );
    line!(md);
    let hot = median(r.hot.iter().map(|h| h.acked_per_s).collect());
    let p99 = median(r.steady.iter().map(|x| x.send_to_delivery.p99_ms).collect());
    let p50 = median(r.steady.iter().map(|x| x.send_to_delivery.p50_ms).collect());
    let gap = r.gap.as_ref().filter(|g| g.gap_filled.count > 0);
    let fo = r.failover.as_ref();
    line!(md, "| goal (issue #22) | measured | status |");
    line!(md, "|---|---|---|");
    line!(
        md,
        "| ≥ {GOAL_HOT:.0} acked messages/s into one hot room, senders on all 3 nodes | {} | {} |",
        hot.map_or("–".to_owned(), |v| format!("{v:.0}/s")),
        status(hot.map(|v| v >= GOAL_HOT))
    );
    line!(
        md,
        "| cross-node delivery p99 ≤ {GOAL_P99_MS:.0} ms at {:.0} messages/s | p50 {}, p99 {} (send → delivery on another node) | {} |",
        s.steady_rate,
        p50.map_or("–".to_owned(), |v| format!("{v:.1} ms")),
        p99.map_or("–".to_owned(), |v| format!("{v:.1} ms")),
        status(p99.map(|v| v <= GOAL_P99_MS))
    );
    line!(
        md,
        "| a gap (hint dropped) filled in ≤ {:.0} s | {} | {} |",
        GOAL_GAP_MS / 1000.0,
        gap.map_or("–".to_owned(), |g| format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} of {} hints dropped)",
            g.gap_filled.p50_ms,
            g.gap_filled.p99_ms,
            g.gap_filled.max_ms,
            g.dropped_hints,
            (g.acked_per_s * s.steady_secs).round()
        )),
        status(gap.map(|g| g.gap_filled.max_ms <= GOAL_GAP_MS))
    );
    line!(
        md,
        "| every client of a SIGKILLed node resumed elsewhere in ≤ {GOAL_FAILOVER_S:.0} s | {} | {} |",
        fo.map_or("–".to_owned(), |f| if f.resumed == f.clients {
            format!(
                "{} clients: the last {:.2} s after the kill (p50 {:.2} s)",
                f.clients, f.last_s, f.p50_s
            )
        } else {
            format!("{} of {} resumed", f.resumed, f.clients)
        }),
        status(fo.map(|f| f.resumed == f.clients && f.last_s <= GOAL_FAILOVER_S))
    );
    let t = &r.total;
    line!(
        md,
        "| lost 0, duplicated 0 (every acked message exactly once to every receiver, all phases) | {} lost, {} duplicated of {} expected deliveries ({} out of order) | {} |",
        t.lost,
        t.duplicated,
        t.expected,
        t.out_of_order,
        status((t.expected > 0).then_some(t.lost == 0 && t.duplicated == 0))
    );
    line!(md);

    line!(md, "### Hot room");
    line!(md);
    line!(
        md,
        "{} pipelined senders ({} per node, round robin), each keeping {} messages in flight \
         (the next one goes when an ack comes back) for {:.0} s. Every sender is in the lobby, \
         so it also receives every message: the nodes fan each one out to {} connections. Node \
         CPU is CPU-seconds per second of the phase (1.0 = one core).",
        3 * s.hot_senders_per_node,
        s.hot_senders_per_node,
        s.hot_window,
        s.hot_secs,
        3 * s.hot_senders_per_node
    );
    line!(md);
    line!(
        md,
        "| rep | acked | acked/s | ack p50 | ack p99 | node CPU (1, 2, 3) | PostgreSQL + Redis CPU | generator CPU | delivery |"
    );
    line!(md, "|---:|---:|---:|---:|---:|---|---:|---:|---|");
    for (i, h) in r.hot.iter().enumerate() {
        line!(
            md,
            "| {} | {} | **{:.0}** | {:.1} ms | {:.1} ms | {} | {:.2} | {:.2} | {} |",
            i + 1,
            h.acked,
            h.acked_per_s,
            h.ack_p50_ms,
            h.ack_p99_ms,
            h.node_cpu
                .iter()
                .map(|c| format!("{c:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            h.engines_cpu,
            h.generator_cpu,
            delivery(&h.delivery)
        );
    }
    line!(md);

    line!(md, "### Cross-node delivery and gap fill");
    line!(md);
    line!(
        md,
        "{} paced senders on one node send {:.0} messages/s in all (open loop, on schedule), \
         {} receivers on each of the two other nodes. Send → delivery runs from the moment the \
         sender wrote the frame to the moment a receiver on another node read the message: it \
         includes the batch commit and its fsync. Ack → delivery is the cross-node part alone \
         (from the sender's ack to the remote delivery). Latencies are p50 / p99 / max. \
         The gap row restarts node 1 with `--cluster-drop-hints {}` and sends from it; a Redis \
         subscriber of the scenario's own records which hints were really published, so the \
         messages without one — which the other nodes could only get by reading the gap back \
         from PostgreSQL — are measured apart.",
        s.steady_senders,
        s.steady_rate,
        s.steady_receivers_per_node,
        s.drop_hints
    );
    line!(md);
    line!(
        md,
        "| run | acked/s | ack | send → delivery | ack → delivery | hint dropped: send → delivery | delivery |"
    );
    line!(md, "|---|---:|---:|---:|---:|---:|---|");
    for (i, x) in r.steady.iter().enumerate() {
        line!(
            md,
            "| steady, rep {} | {:.0} | {} | {} | {} | – | {} |",
            i + 1,
            x.acked_per_s,
            lat(&x.ack),
            lat(&x.send_to_delivery),
            lat(&x.ack_to_delivery),
            delivery(&x.delivery)
        );
    }
    if let Some(g) = &r.gap {
        line!(
            md,
            "| gap fill ({} hints dropped) | {:.0} | {} | {} (hinted: {}) | {} | **{}** | {} |",
            g.dropped_hints,
            g.acked_per_s,
            lat(&g.ack),
            lat(&g.send_to_delivery),
            lat(&g.hinted),
            lat(&g.ack_to_delivery),
            lat(&g.gap_filled),
            delivery(&g.delivery)
        );
    }
    line!(md);

    line!(md, "### Failover");
    line!(md);
    if let Some(f) = fo {
        line!(
            md,
            "{} WebSocket clients on node 3 while one sender on node 1 sends {:.0} messages/s; \
             node 3 is SIGKILLed. Each client notices its socket die, reconnects to node 1 or 2 \
             (alternating) with `hello` and its resume point, and counts as resumed once it has \
             its `welcome` and every message up to the highest seq acked when it said hello \
             (its replay). {} messages were acked between the kill and the last resume; {} \
             reconnect attempts failed (and were retried on the other node).",
            f.clients,
            s.failover_rate,
            f.acked_during,
            f.reconnect_failures
        );
        line!(md);
        line!(md, "| clients | resumed | p50 | last | delivery |");
        line!(md, "|---:|---:|---:|---:|---|");
        line!(
            md,
            "| {} | {} | {:.2} s | **{:.2} s** | {} |",
            f.clients,
            f.resumed,
            f.p50_s,
            f.last_s,
            delivery(&f.delivery)
        );
        if !f.losses.is_empty() {
            line!(md);
            line!(
                md,
                "Clients that missed acked messages ({} of {}; the first 5; seqs and times are \
                 this run's). A message missing right after `start` (the lobby head in the \
                 client's first `welcome`) and before the kill was never delivered to a \
                 *fresh* connection: on a cluster node a plain `hello` answers `welcome` with \
                 the heads it read, then registers the connection with the hub only after \
                 the relay's `attach` (which tracks the channels first), so a message \
                 delivered in between skips it. See the report to the lead.",
                f.losses.len(),
                f.clients
            );
            line!(md);
            for l in f.losses.iter().take(5) {
                line!(md, "- {l}");
            }
        }
    } else {
        line!(md, "Not measured.");
    }
    line!(md);
    if !r.errors.is_empty() {
        line!(md, "Problems in this run:");
        line!(md);
        for e in &r.errors {
            line!(md, "- {}", e.replace('\n', " "));
        }
        line!(md);
    }
}

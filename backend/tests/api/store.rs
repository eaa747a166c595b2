//! The store's API for the cluster layer and several nodes on one database,
//! driven directly (no server): nodes started together migrate once, appends
//! from two nodes into one room get gap-free seqs, votes from two nodes count
//! exactly, a session made on one node works on another, and `heads` /
//! `published` give back what the writer published. The multi-node tests need
//! PostgreSQL and say so when skipped on SQLite.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use parley_backend::store::{
    AuthUser, ChannelKey, Database, DmParties, Fanout, QueueLimits, Store, TokenHash,
};
use parley_common::{
    Channel, ChatMessage, ClientMsgId, MessageBody, PollSpec, RoomName, Tally, Username,
};

use crate::helpers::{TempDir, fresh_name, pg_connect, postgres_database, postgres_url};

/// What a node's writer handed to the fan-out, in order.
#[derive(Debug, Default)]
struct Recorded {
    messages: Mutex<Vec<(ChannelKey, ChatMessage, Option<DmParties>)>>,
    tallies: Mutex<Vec<(u64, Tally)>>,
}

impl Fanout for Recorded {
    fn publish(&self, key: &ChannelKey, msg: &ChatMessage, dm: Option<&DmParties>) {
        let mut messages = self.messages.lock().unwrap();
        messages.push((key.clone(), msg.clone(), dm.cloned()));
    }

    fn tally(&self, _: &ChannelKey, poll: u64, tally: &Tally) {
        self.tallies.lock().unwrap().push((poll, tally.clone()));
    }
}

/// A fresh database: PostgreSQL when the tests run on it, else a SQLite file
/// in `dir`.
async fn fresh_database(dir: &TempDir) -> Database {
    match postgres_url() {
        Some(url) => Database::Postgres(postgres_database(&url, &fresh_name()).await),
        None => dir.0.join("store.db").into(),
    }
}

async fn node(database: &Database) -> (Store, Arc<Recorded>) {
    let recorded = Arc::new(Recorded::default());
    let store = Store::connect(
        database,
        recorded.clone(),
        QueueLimits::default(),
        parley_backend::metrics::commit_seconds(),
    )
    .await
    .unwrap();
    (store, recorded)
}

async fn user(store: &Store, name: &str) -> AuthUser {
    let name = Username::parse(name).unwrap();
    let id = store.create_user(name.clone(), "x".into()).await.unwrap();
    AuthUser { id, name }
}

fn lobby() -> RoomName {
    RoomName::parse("lobby").unwrap()
}

async fn send(store: &Store, channel: Channel, sender: &AuthUser, id: &str) -> (u64, bool) {
    let appended = store
        .append(
            channel,
            sender.clone(),
            ClientMsgId::parse(id).unwrap(),
            MessageBody::parse("hi").unwrap(),
        )
        .await
        .await
        .unwrap();
    (appended.msg.seq, appended.duplicate)
}

/// The PostgreSQL URL, or `None` after saying why the test does nothing.
fn postgres_only(test: &str) -> Option<Database> {
    match postgres_url() {
        Some(url) => Some(Database::Postgres(url)),
        None => {
            eprintln!("{test}: skipped: several nodes on one database need PostgreSQL");
            None
        }
    }
}

#[tokio::test]
async fn nodes_started_together_migrate_once() {
    let Some(Database::Postgres(url)) = postgres_only("nodes_started_together_migrate_once") else {
        return;
    };
    let database = Database::Postgres(postgres_database(&url, &fresh_name()).await);
    let starts = (0..4).map(|_| node(&database));
    let nodes = futures_util::future::join_all(starts).await;
    assert_eq!(nodes.len(), 4);
    let Database::Postgres(db_url) = &database else {
        unreachable!()
    };
    let db = pg_connect(db_url).await;
    // Every migration applied, each once.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    let applied = db
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(applied.get::<_, i64>(0), files as i64);
    assert_eq!(applied.get::<_, i64>(1), files as i64);
    let lobbies = db
        .query_one("SELECT COUNT(*) FROM rooms WHERE name = 'lobby'", &[])
        .await
        .unwrap();
    assert_eq!(lobbies.get::<_, i64>(0), 1);
    for (store, _) in nodes {
        store.close().await;
    }
}

#[tokio::test]
async fn two_nodes_append_to_one_room_without_gaps_or_burnt_seqs() {
    if postgres_only("two_nodes_append_to_one_room_without_gaps_or_burnt_seqs").is_none() {
        return;
    }
    let dir = TempDir::new();
    let database = fresh_database(&dir).await;
    let (a, seen_a) = node(&database).await;
    let (b, seen_b) = node(&database).await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(user(&a, &format!("user{i}")).await);
    }
    const EACH: usize = 50;
    // Every user sends on both nodes at once, keeping many in flight.
    let mut tasks = Vec::new();
    for (i, sender) in users.iter().enumerate() {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let mut pending = Vec::new();
            for n in 0..EACH {
                pending.push(
                    store
                        .append(
                            Channel::Room(lobby()),
                            sender.clone(),
                            ClientMsgId::parse(&format!("m{n}")).unwrap(),
                            MessageBody::parse("hi").unwrap(),
                        )
                        .await,
                );
            }
            let mut seqs = Vec::new();
            for p in pending {
                seqs.push(p.await.unwrap().msg.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let total = (users.len() * EACH) as u64;
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique, (1..=total).collect(), "seqs 1..{total}, each once");
    // A retry on the other node gets the original seq back and burns none.
    let (seq, duplicate) = send(&b, Channel::Room(lobby()), &users[0], "m7").await;
    assert!(duplicate);
    let (next, fresh) = send(&b, Channel::Room(lobby()), &users[0], "new").await;
    assert!(!fresh);
    assert_eq!(next, total + 1);
    assert!(seq <= total);
    let heads = a
        .heads(vec![
            ChannelKey::Room(lobby()),
            ChannelKey::Room(RoomName::parse("nowhere").unwrap()),
        ])
        .await
        .unwrap();
    assert_eq!(heads, vec![(ChannelKey::Room(lobby()), total + 1)]);
    // Each node published its own messages in seq order; `published` gives
    // the same messages back.
    let mut by_seq = BTreeMap::new();
    for seen in [&seen_a, &seen_b] {
        let seen = seen.messages.lock().unwrap();
        let seqs: Vec<u64> = seen.iter().map(|(_, m, _)| m.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in commit order");
        for (key, msg, dm) in seen.iter() {
            by_seq.insert(msg.seq, (key.clone(), msg.clone(), dm.clone()));
        }
    }
    let published = b
        .published(ChannelKey::Room(lobby()), 0, total + 1)
        .await
        .unwrap();
    assert_eq!(published.len(), by_seq.len());
    for (p, (seq, (key, msg, dm))) in published.iter().zip(&by_seq) {
        assert_eq!((&p.key, &p.msg, &p.dm, p.duplicate), (key, msg, dm, false));
        assert_eq!(p.msg.seq, *seq);
    }
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn published_gives_back_what_the_writer_published() {
    let dir = TempDir::new();
    let database = fresh_database(&dir).await;
    let (store, seen) = node(&database).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    send(&store, Channel::Dm(bob.name.clone()), &alice, "d1").await;
    send(&store, Channel::Dm(alice.name.clone()), &bob, "d2").await;
    send(&store, Channel::Room(lobby()), &bob, "r1").await;
    let key = ChannelKey::dm(alice.id, bob.id);
    let heads = store
        .heads(vec![key.clone(), ChannelKey::Room(lobby())])
        .await
        .unwrap();
    assert_eq!(
        heads,
        vec![(key.clone(), 2), (ChannelKey::Room(lobby()), 1)]
    );
    let published = store.published(key.clone(), 0, 2).await.unwrap();
    let seen = seen.messages.lock().unwrap().clone();
    let dms: Vec<_> = seen.iter().filter(|(k, _, _)| *k == key).collect();
    assert_eq!(published.len(), 2);
    for (p, (k, msg, dm)) in published.iter().zip(dms) {
        assert_eq!((&p.key, &p.msg, &p.dm, p.duplicate), (k, msg, dm, false));
        assert!(p.dm.is_some());
    }
    assert_eq!(published[0].msg.channel, Channel::Dm(bob.name.clone()));
    assert_eq!(published[1].msg.channel, Channel::Dm(alice.name.clone()));
    let after = store.published(key, 1, 2).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].msg.seq, 2);
    assert_eq!(store.is_postgres(), postgres_url().is_some());
    store.close().await;
}

#[tokio::test]
async fn votes_from_two_nodes_count_exactly() {
    if postgres_only("votes_from_two_nodes_count_exactly").is_none() {
        return;
    }
    let dir = TempDir::new();
    let database = fresh_database(&dir).await;
    let (a, seen_a) = node(&database).await;
    let (b, seen_b) = node(&database).await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(user(&a, &format!("voter{i}")).await);
    }
    let spec = PollSpec::parse("?", &["x".into(), "y".into()]).unwrap();
    let poll = a
        .create_poll(lobby(), users[0].clone(), spec, None)
        .await
        .unwrap();
    let votes = users.iter().enumerate().map(|(i, u)| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let id = u.id;
        async move {
            store
                .vote(poll.id, id, u32::try_from(i % 2).unwrap())
                .await
                .unwrap()
        }
    });
    let results = futures_util::future::join_all(votes).await;
    let versions: HashSet<u64> = results.iter().map(|v| v.tally.version).collect();
    assert_eq!(versions, (1..=12).collect(), "one version per vote");
    let last = results.iter().max_by_key(|v| v.tally.version).unwrap();
    assert_eq!(last.tally.counts, vec![6, 6]);
    assert_eq!(last.tally.voters, 12);
    let info = b.poll(poll.id, users[3].id).await.unwrap();
    assert_eq!((info.tally.counts, info.tally.version), (vec![6, 6], 12));
    assert_eq!(
        seen_a.tallies.lock().unwrap().len() + seen_b.tallies.lock().unwrap().len(),
        12
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_session_made_on_one_node_works_on_another_until_revoked() {
    if postgres_only("a_session_made_on_one_node_works_on_another_until_revoked").is_none() {
        return;
    }
    let dir = TempDir::new();
    let database = fresh_database(&dir).await;
    let (a, _) = node(&database).await;
    let (b, _) = node(&database).await;
    let alice = user(&a, "alice").await;
    let token = TokenHash([7; 32]);
    let now = parley_backend::clock::now_ms();
    a.create_session(token, &alice, now + 60_000).await.unwrap();
    assert_eq!(b.session_user(&token, now).await.unwrap(), Some(alice));
    a.delete_session(token).await.unwrap();
    assert_eq!(a.session_user(&token, now).await.unwrap(), None);
    // Node b still has it cached until told (or 30 s pass).
    b.forget_session(&token);
    assert_eq!(b.session_user(&token, now).await.unwrap(), None);
    a.close().await;
    b.close().await;
}

/// A measurement, not a check: appends per second into one hot room, many
/// senders each keeping a window of appends in flight, through the store
/// alone (no sockets). On PostgreSQL point `PARLEY_TEST_POSTGRES` at a server
/// with fsync on:
/// `PARLEY_TEST_POSTGRES=postgres://… cargo test --release -p parley-backend
/// --test api hot_room_append_rate -- --ignored --nocapture`
/// (env: PARLEY_BENCH_SENDERS=64, PARLEY_BENCH_WINDOW=16, PARLEY_BENCH_SECS=5).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark"]
async fn hot_room_append_rate() {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (senders, window, secs) = (
        env("PARLEY_BENCH_SENDERS", 64),
        env("PARLEY_BENCH_WINDOW", 16),
        env("PARLEY_BENCH_SECS", 5),
    );
    let dir = TempDir::new();
    let database = fresh_database(&dir).await;
    let (store, _) = node(&database).await;
    let mut users = Vec::new();
    for i in 0..senders {
        users.push(user(&store, &format!("sender{i}")).await);
    }
    let (commits0, ops0) = (
        store.stats().commits.load(Ordering::Relaxed),
        store.stats().ops.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = users
        .into_iter()
        .map(|sender| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut in_flight = std::collections::VecDeque::new();
                let (mut n, mut acked) = (0u64, 0u64);
                loop {
                    while Instant::now() < deadline && (in_flight.len() as u64) < window {
                        n += 1;
                        in_flight.push_back(
                            store
                                .append(
                                    Channel::Room(lobby()),
                                    sender.clone(),
                                    ClientMsgId::parse(&format!("m{n}")).unwrap(),
                                    MessageBody::parse("a message of some length").unwrap(),
                                )
                                .await,
                        );
                    }
                    let Some(next) = in_flight.pop_front() else {
                        break;
                    };
                    next.await.unwrap();
                    acked += 1;
                }
                acked
            })
        })
        .collect();
    let mut acked = 0;
    for t in tasks {
        acked += t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let commits = store.stats().commits.load(Ordering::Relaxed) - commits0;
    let ops = store.stats().ops.load(Ordering::Relaxed) - ops0;
    eprintln!(
        "hot room on {database}: {senders} senders x window {window}: {acked} appends in \
         {elapsed:.2} s = {:.0} appends/s; {commits} commits, {:.1} per commit",
        acked as f64 / elapsed,
        ops as f64 / commits.max(1) as f64
    );
    store.close().await;
}

#[tokio::test]
async fn two_nodes_opening_one_conversation_at_once_share_it() {
    if postgres_only("two_nodes_opening_one_conversation_at_once_share_it").is_none() {
        return;
    }
    let dir = TempDir::new();
    let database = fresh_database(&dir).await;
    let (a, _) = node(&database).await;
    let (b, _) = node(&database).await;
    let mut pairs = Vec::new();
    for i in 0..6 {
        pairs.push((
            user(&a, &format!("left{i}")).await,
            user(&a, &format!("right{i}")).await,
        ));
    }
    // Each pair's first messages cross: one on each node, at once.
    let sends = pairs.iter().flat_map(|(l, r)| {
        [
            (a.clone(), l.clone(), r.clone()),
            (b.clone(), r.clone(), l.clone()),
        ]
    });
    let seqs = futures_util::future::join_all(sends.map(|(store, from, to)| async move {
        send(&store, Channel::Dm(to.name.clone()), &from, "first").await
    }))
    .await;
    for pair in seqs.chunks(2) {
        let got: HashSet<u64> = pair.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(got, HashSet::from([1, 2]), "one conversation, seqs 1 and 2");
    }
    for (l, r) in &pairs {
        let (_, conversations) = a.rooms_and_conversations(l.id).await.unwrap();
        assert_eq!(conversations.len(), 1);
        assert_eq!(conversations[0].peer, r.id);
    }
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn the_writer_gets_new_connections_after_postgres_drops_them() {
    let Some(Database::Postgres(url)) =
        postgres_only("the_writer_gets_new_connections_after_postgres_drops_them")
    else {
        return;
    };
    let name = fresh_name();
    let database = Database::Postgres(postgres_database(&url, &name).await);
    let (store, _) = node(&database).await;
    let alice = user(&store, "alice").await;
    assert_eq!(
        send(&store, Channel::Room(lobby()), &alice, "m1").await.0,
        1
    );
    // Every connection of this database is closed under the node's feet.
    let admin = pg_connect(&url).await;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap();
    // A request may fail (it was on a dropped connection); its retry, with
    // the same client id, is stored once.
    let mut stored = None;
    for _ in 0..5 {
        let appended = store
            .append(
                Channel::Room(lobby()),
                alice.clone(),
                ClientMsgId::parse("m2").unwrap(),
                MessageBody::parse("hi").unwrap(),
            )
            .await
            .await;
        if let Ok(a) = appended {
            stored = Some(a.msg.seq);
            break;
        }
    }
    assert_eq!(stored, Some(2));
    assert_eq!(
        send(&store, Channel::Room(lobby()), &alice, "m3").await.0,
        3
    );
    store.close().await;
}

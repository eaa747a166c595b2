//! Property tests of the store and the hub together: random sequences of joins,
//! leaves, sends (and retries), and votes by a few users, checked against a
//! simple model after every step. Sequence numbers are 1, 2, 3… per room with
//! no gap; a retried client id is stored once; a member's connection receives
//! exactly its rooms' messages, in order, while it is a member; non-members are
//! refused; tallies count each user's latest vote once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parley_backend::hub::Hub;
use parley_backend::outbox::{Outbox, OutboxReceiver};
use parley_backend::store::{AuthUser, ChannelKey, Store, StoreError, TokenHash};
use parley_common::{Channel, ClientMsgId, MessageBody, PollSpec, RoomName, ServerMsg, Username};
use proptest::prelude::*;

const USERS: usize = 3;
const ROOMS: [&str; 2] = ["lobby", "rust"];
const OPTIONS: u32 = 3;

#[derive(Debug, Clone)]
enum Op {
    Join(usize, usize),
    Leave(usize, usize),
    /// A send with client id `p{id}` (a repeated id is a retry).
    Send(usize, usize, u8),
    /// A vote; options beyond the poll's are refused.
    Vote(usize, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..USERS, 0..ROOMS.len()).prop_map(|(u, r)| Op::Join(u, r)),
        (0..USERS, 0..ROOMS.len()).prop_map(|(u, r)| Op::Leave(u, r)),
        (0..USERS, 0..ROOMS.len(), 0..12u8).prop_map(|(u, r, id)| Op::Send(u, r, id)),
        (0..USERS, 0..OPTIONS + 1).prop_map(|(u, o)| Op::Vote(u, o)),
    ]
}

/// What the store and hub should be doing.
#[derive(Default)]
struct Model {
    members: HashSet<(usize, usize)>,
    /// Per room, how many messages.
    seqs: [u64; ROOMS.len()],
    /// (user, id) → (room, seq) of what was stored.
    sent: HashMap<(usize, u8), (usize, u64)>,
    /// Per user, the (room, seq) their connection should have received.
    delivered: Vec<Vec<(String, u64)>>,
    votes: HashMap<usize, u32>,
}

fn room(r: usize) -> RoomName {
    RoomName::parse(ROOMS[r]).unwrap()
}

/// The chat messages a connection has received since last asked.
fn received(rx: &mut OutboxReceiver) -> Vec<(String, u64)> {
    let mut got = Vec::new();
    while let Ok(frame) = rx.frames.try_recv() {
        if let Ok(ServerMsg::Message(m)) = serde_json::from_str(frame.as_str()) {
            got.push((m.channel.to_string(), m.seq));
        }
    }
    got
}

async fn run(ops: Vec<Op>) {
    let dir = std::env::temp_dir().join(format!(
        "parley-prop-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let hub = Hub::new();
    let store = Store::open(&dir.join("p.db"), Arc::new(hub.clone())).unwrap();
    let mut users = Vec::new();
    let mut inboxes = Vec::new();
    let mut model = Model {
        delivered: vec![Vec::new(); USERS],
        ..Model::default()
    };
    for u in 0..USERS {
        let name = Username::parse(&format!("user{u}")).unwrap();
        let id = store.create_user(name.clone(), "x".into()).await.unwrap();
        users.push(AuthUser { id, name });
        model.members.insert((u, 0));
    }
    store.create_room(room(1), users[0].id).await.unwrap();
    model.members.insert((0, 1));
    let poll = store
        .create_poll(
            room(0),
            users[0].clone(),
            PollSpec::parse("?", &["a".into(), "b".into(), "c".into()]).unwrap(),
            None,
        )
        .await
        .unwrap();
    for (u, user) in users.iter().enumerate() {
        let (outbox, rx) = Outbox::new(100_000);
        let rooms = (0..ROOMS.len())
            .filter(|r| model.members.contains(&(u, *r)))
            .map(|r| ChannelKey::Room(room(r)));
        hub.connect(
            user,
            hub.next_conn_id(),
            TokenHash([u as u8; 32]),
            outbox,
            rooms,
        );
        inboxes.push(rx);
    }

    for op in ops {
        match op {
            Op::Join(u, r) => {
                let last = store.join(room(r), users[u].id).await.unwrap();
                assert_eq!(last, model.seqs[r], "join answers the room's latest seq");
                model.members.insert((u, r));
                hub.joined(users[u].id, &ChannelKey::Room(room(r)));
            }
            Op::Leave(u, r) => {
                let result = store.leave(room(r), users[u].id).await;
                if model.members.remove(&(u, r)) {
                    result.unwrap();
                    hub.left(users[u].id, &ChannelKey::Room(room(r)));
                } else {
                    assert!(matches!(result, Err(StoreError::NotInRoom)), "{result:?}");
                }
            }
            Op::Send(u, r, id) => {
                let result = store
                    .append(
                        Channel::Room(room(r)),
                        users[u].clone(),
                        ClientMsgId::parse(&format!("p{id}")).unwrap(),
                        MessageBody::parse("hi").unwrap(),
                    )
                    .await
                    .await;
                if let Some(&(first_room, seq)) = model.sent.get(&(u, id)) {
                    // A retry: the original, stored once, sent to nobody again.
                    let appended = result.unwrap();
                    assert!(appended.duplicate);
                    assert_eq!(appended.msg.seq, seq);
                    assert_eq!(appended.msg.channel, Channel::Room(room(first_room)));
                } else if model.members.contains(&(u, r)) {
                    let appended = result.unwrap();
                    model.seqs[r] += 1;
                    assert_eq!(appended.msg.seq, model.seqs[r], "no gap");
                    model.sent.insert((u, id), (r, model.seqs[r]));
                    for v in 0..USERS {
                        if model.members.contains(&(v, r)) {
                            model.delivered[v].push((format!("#{}", ROOMS[r]), model.seqs[r]));
                        }
                    }
                } else {
                    assert!(matches!(result, Err(StoreError::NotInRoom)), "{result:?}");
                }
            }
            Op::Vote(u, option) => {
                let result = store.vote(poll.id, users[u].id, option).await;
                if !model.members.contains(&(u, 0)) {
                    assert!(matches!(result, Err(StoreError::NotInRoom)), "{result:?}");
                } else if option >= OPTIONS {
                    assert!(
                        matches!(result, Err(StoreError::NoSuchOption)),
                        "{result:?}"
                    );
                } else {
                    let voted = result.unwrap();
                    model.votes.insert(u, option);
                    let mut counts = vec![0u64; OPTIONS as usize];
                    for o in model.votes.values() {
                        counts[*o as usize] += 1;
                    }
                    assert_eq!(voted.tally.counts, counts);
                    assert_eq!(voted.tally.voters, model.votes.len() as u64);
                }
            }
        }
        for (v, rx) in inboxes.iter_mut().enumerate() {
            let got = received(rx);
            let expected: Vec<_> = model.delivered[v].drain(..).collect();
            assert_eq!(got, expected, "what user{v}'s connection received");
        }
    }
    // Stored history is exactly the model's, per room.
    for r in 0..ROOMS.len() {
        let page = store
            .history(Channel::Room(room(r)), users[0].id, None, 1000)
            .await;
        if let Ok(page) = page {
            let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, (1..=model.seqs[r]).collect::<Vec<_>>());
        }
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn store_and_hub_keep_their_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops));
    }
}

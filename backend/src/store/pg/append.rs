//! One batch of appends in one transaction, safe with several nodes writing
//! the same rooms:
//!
//! 1. conversations written to for the first time are created
//!    (`ON CONFLICT (name) DO NOTHING`, names sorted so two nodes insert in the
//!    same order), with their two members;
//! 2. every room the batch touches is locked in id order (`FOR UPDATE`: two
//!    nodes never wait on each other in a circle), reading its latest seq;
//! 3. `(sender, client_id)` of every append is looked up *after* the locks
//!    (what another node committed meanwhile is seen) and *before* any seq is
//!    assigned: a retry gets its original seq back and no seq is burnt;
//! 4. seqs are assigned in memory, the messages inserted with one statement,
//!    each room's `last_seq`/`last_ts` and each sender's read marker updated
//!    once. The caller commits.
//!
//! No statement here can fail on a conflict, so the transaction is never
//! poisoned by an expected case.

use std::collections::{BTreeSet, HashMap, HashSet};

use parley_common::{Channel, ChatMessage, ClientMsgId, MessageBody, RoomName, Username};

use super::read::text;
use super::{Reply, corrupt, i, u};
use crate::clock::now_ms;
use crate::store::{Appended, AuthUser, ChannelKey, DmParties, StoreError, UserId};

/// A message waiting for the writer task.
pub struct Request {
    pub channel: Channel,
    pub sender: AuthUser,
    pub client_id: ClientMsgId,
    pub body: MessageBody,
    pub reply: Reply<Appended>,
}

/// Where a request goes, once resolved.
enum Target {
    Refused(StoreError),
    Channel {
        db_name: String,
        key: ChannelKey,
        /// The recipient of a private message.
        peer: Option<AuthUser>,
    },
}

/// Runs the batch's statements in `tx` (not committed); one answer per request,
/// in order.
pub async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[Request],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let now = now_ms();
    let targets = resolve(tx, batch).await?;
    create_conversations(tx, &targets, now).await?;
    // 2. Lock every room of the batch, in id order.
    let names: Vec<&str> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Channel { db_name, .. } => Some(db_name.as_str()),
            Target::Refused(_) => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stmt = tx
        .prepare_cached(
            "SELECT id, name, last_seq FROM rooms WHERE name = ANY($1) ORDER BY id FOR UPDATE",
        )
        .await?;
    let mut rooms: HashMap<String, (i64, u64)> = HashMap::with_capacity(names.len());
    for r in tx.query(&stmt, &[&names]).await? {
        rooms.insert(r.try_get(1)?, (r.try_get(0)?, u(r.try_get(2)?)));
    }
    let mut stored = duplicates(tx, batch).await?;
    let members = memberships(tx, batch, &targets, &rooms).await?;
    // 4. Seqs in memory, in the batch's order.
    let mut answers = Vec::with_capacity(batch.len());
    let mut rows = Rows::default();
    let mut latest: HashMap<i64, (u64, u64)> = HashMap::new();
    let mut read_to: HashMap<(i64, i64), u64> = HashMap::new();
    for (req, target) in batch.iter().zip(targets) {
        let dedup = (req.sender.id.0, req.client_id.as_str().to_owned());
        if let Some(original) = stored.get(&dedup) {
            answers.push(Ok(original.clone()));
            continue;
        }
        let (db_name, key, peer) = match target {
            Target::Refused(err) => {
                answers.push(Err(err));
                continue;
            }
            Target::Channel { db_name, key, peer } => (db_name, key, peer),
        };
        let Some((room_id, last_seq)) = rooms.get_mut(&db_name) else {
            answers.push(Err(StoreError::NoSuchRoom));
            continue;
        };
        if !members.contains(&(req.sender.id.0, *room_id)) {
            answers.push(Err(StoreError::NotInRoom));
            continue;
        }
        *last_seq += 1;
        let seq = *last_seq;
        rows.push(*room_id, seq, req, now);
        latest.insert(*room_id, (seq, now));
        // Sending means having read the channel up to your own message.
        read_to.insert((req.sender.id.0, *room_id), seq);
        let channel = match &peer {
            Some(recipient) => Channel::Dm(recipient.name.clone()),
            None => req.channel.clone(),
        };
        let appended = Appended {
            msg: ChatMessage {
                channel,
                seq,
                sender: req.sender.name.clone(),
                body: req.body.clone(),
                ts: now,
                client_id: req.client_id.clone(),
            },
            key,
            dm: peer.map(|recipient| DmParties {
                sender: req.sender.clone(),
                recipient,
            }),
            duplicate: false,
        };
        // A retry within the same batch answers with this one.
        stored.insert(
            dedup,
            Appended {
                dm: None,
                duplicate: true,
                ..appended.clone()
            },
        );
        answers.push(Ok(appended));
    }
    if !rows.seq.is_empty() {
        write_rows(tx, &rows, &latest, &read_to).await?;
    }
    Ok(answers)
}

/// Step 0: each request's channel, a room by name or a conversation by its users (the
/// recipient looked up by name, all in one query).
async fn resolve(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[Request],
) -> Result<Vec<Target>, StoreError> {
    let keys: Vec<String> = batch
        .iter()
        .filter_map(|r| match &r.channel {
            Channel::Dm(name) => Some(name.key()),
            Channel::Room(_) => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut users: HashMap<String, AuthUser> = HashMap::new();
    if !keys.is_empty() {
        let stmt = tx
            .prepare_cached("SELECT id, name, name_key FROM users WHERE name_key = ANY($1)")
            .await?;
        for r in tx.query(&stmt, &[&keys]).await? {
            let user = AuthUser {
                id: UserId(r.try_get(0)?),
                name: text(&r, 1, Username::parse)?,
            };
            users.insert(r.try_get(2)?, user);
        }
    }
    Ok(batch
        .iter()
        .map(|req| match &req.channel {
            Channel::Room(room) => Target::Channel {
                db_name: room.as_str().to_owned(),
                key: ChannelKey::Room(room.clone()),
                peer: None,
            },
            Channel::Dm(name) => match users.get(&name.key()) {
                None => Target::Refused(StoreError::UnknownUser),
                Some(peer) if peer.id == req.sender.id => {
                    Target::Refused(StoreError::CannotMessageSelf)
                }
                Some(peer) => {
                    let key = ChannelKey::dm(req.sender.id, peer.id);
                    Target::Channel {
                        db_name: key.db_name(),
                        key,
                        peer: Some(peer.clone()),
                    }
                }
            },
        })
        .collect())
}

/// Step 1: the conversations of the batch that have no row yet, with their members.
async fn create_conversations(
    tx: &deadpool_postgres::Transaction<'_>,
    targets: &[Target],
    now: u64,
) -> Result<(), StoreError> {
    let mut wanted: Vec<(String, i64, i64)> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Channel {
                db_name,
                key: ChannelKey::Dm(a, b),
                ..
            } => Some((db_name.clone(), a.0, b.0)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    wanted.sort();
    wanted.dedup();
    let names: Vec<&str> = wanted.iter().map(|w| w.0.as_str()).collect();
    let creators: Vec<i64> = wanted.iter().map(|w| w.1).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO rooms (name, kind, created_by, created_at)
             SELECT n, 'dm', c, $3 FROM UNNEST($1::text[], $2::bigint[]) AS t(n, c)
             ORDER BY n
             ON CONFLICT (name) DO NOTHING RETURNING id, name",
        )
        .await?;
    let created = tx.query(&stmt, &[&names, &creators, &i(now)]).await?;
    if created.is_empty() {
        return Ok(());
    }
    let (mut users, mut room_ids) = (Vec::new(), Vec::new());
    for r in &created {
        let (id, name): (i64, &str) = (r.try_get(0)?, r.try_get(1)?);
        let Some((_, a, b)) = wanted.iter().find(|w| w.0 == name) else {
            return Err(corrupt(name));
        };
        users.extend([*a, *b]);
        room_ids.extend([id, id]);
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO memberships (user_id, room_id, joined_at, last_read)
             SELECT u, r, $3, 0 FROM UNNEST($1::bigint[], $2::bigint[]) AS t(u, r)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&users, &room_ids, &i(now)]).await?;
    Ok(())
}

/// Step 3: the messages already stored under the batch's `(sender, client_id)`s, as
/// their senders saw them, marked duplicate.
async fn duplicates(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[Request],
) -> Result<HashMap<(i64, String), Appended>, StoreError> {
    let senders: Vec<i64> = batch.iter().map(|r| r.sender.id.0).collect();
    let ids: Vec<&str> = batch.iter().map(|r| r.client_id.as_str()).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT m.sender_id, m.client_id, m.seq, m.body, m.ts, r.name, r.kind,
                    CASE WHEN r.kind = 'dm' THEN
                        (SELECT u.name FROM memberships o JOIN users u ON u.id = o.user_id
                         WHERE o.room_id = r.id AND o.user_id <> m.sender_id LIMIT 1) END
             FROM messages m JOIN rooms r ON r.id = m.room_id
             WHERE (m.sender_id, m.client_id) IN
                   (SELECT * FROM UNNEST($1::bigint[], $2::text[]))",
        )
        .await?;
    let mut found = HashMap::new();
    for r in tx.query(&stmt, &[&senders, &ids]).await? {
        let sender_id: i64 = r.try_get(0)?;
        let client_id: String = r.try_get(1)?;
        let Some(req) = batch
            .iter()
            .find(|q| q.sender.id.0 == sender_id && q.client_id.as_str() == client_id)
        else {
            continue;
        };
        let room: &str = r.try_get(5)?;
        let (channel, key) = if r.try_get::<_, &str>(6)? == "dm" {
            let (a, b) = room
                .strip_prefix('@')
                .and_then(|ids| ids.split_once(':'))
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| corrupt(room))?;
            let peer: Option<&str> = r.try_get(7)?;
            let peer = peer
                .and_then(|p| Username::parse(p).ok())
                .ok_or_else(|| corrupt(room))?;
            (Channel::Dm(peer), ChannelKey::dm(UserId(a), UserId(b)))
        } else {
            let name = RoomName::parse(room).map_err(|_| corrupt(room))?;
            (Channel::Room(name.clone()), ChannelKey::Room(name))
        };
        let original = Appended {
            msg: ChatMessage {
                channel,
                seq: u(r.try_get(2)?),
                sender: req.sender.name.clone(),
                body: text(&r, 3, MessageBody::parse)?,
                ts: u(r.try_get(4)?),
                client_id: req.client_id.clone(),
            },
            key,
            dm: None,
            duplicate: true,
        };
        found.insert((sender_id, client_id), original);
    }
    Ok(found)
}

/// Which (sender, room) pairs of the batch are memberships.
async fn memberships(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[Request],
    targets: &[Target],
    rooms: &HashMap<String, (i64, u64)>,
) -> Result<HashSet<(i64, i64)>, StoreError> {
    let pairs: BTreeSet<(i64, i64)> = batch
        .iter()
        .zip(targets)
        .filter_map(|(req, t)| match t {
            Target::Channel { db_name, .. } => {
                rooms.get(db_name).map(|(id, _)| (req.sender.id.0, *id))
            }
            Target::Refused(_) => None,
        })
        .collect();
    let users: Vec<i64> = pairs.iter().map(|p| p.0).collect();
    let room_ids: Vec<i64> = pairs.iter().map(|p| p.1).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT user_id, room_id FROM memberships
             WHERE (user_id, room_id) IN (SELECT * FROM UNNEST($1::bigint[], $2::bigint[]))",
        )
        .await?;
    let mut members = HashSet::with_capacity(pairs.len());
    for r in tx.query(&stmt, &[&users, &room_ids]).await? {
        members.insert((r.try_get(0)?, r.try_get(1)?));
    }
    Ok(members)
}

/// The new messages, column by column (for one `UNNEST` insert).
#[derive(Default)]
struct Rows {
    room: Vec<i64>,
    seq: Vec<i64>,
    sender: Vec<i64>,
    body: Vec<String>,
    ts: Vec<i64>,
    client_id: Vec<String>,
}

impl Rows {
    fn push(&mut self, room: i64, seq: u64, req: &Request, ts: u64) {
        self.room.push(room);
        self.seq.push(i(seq));
        self.sender.push(req.sender.id.0);
        self.body.push(req.body.as_str().to_owned());
        self.ts.push(i(ts));
        self.client_id.push(req.client_id.as_str().to_owned());
    }
}

/// Step 4: the messages, each room's latest (seq, ts) and the senders' read markers.
async fn write_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &Rows,
    latest: &HashMap<i64, (u64, u64)>,
    read_to: &HashMap<(i64, i64), u64>,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO messages (room_id, seq, sender_id, body, ts, client_id)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],
                                  $5::bigint[], $6::text[])",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &rows.room,
            &rows.seq,
            &rows.sender,
            &rows.body,
            &rows.ts,
            &rows.client_id,
        ],
    )
    .await?;
    let (ids, seqs, tss): (Vec<i64>, Vec<i64>, Vec<i64>) = latest.iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut a, mut b, mut c), (id, (seq, ts))| {
            a.push(*id);
            b.push(i(*seq));
            c.push(i(*ts));
            (a, b, c)
        },
    );
    let stmt = tx
        .prepare_cached(
            "UPDATE rooms SET last_seq = t.seq, last_ts = t.ts
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS t(id, seq, ts)
             WHERE rooms.id = t.id",
        )
        .await?;
    tx.execute(&stmt, &[&ids, &seqs, &tss]).await?;
    let (users, room_ids, marks): (Vec<i64>, Vec<i64>, Vec<i64>) = read_to.iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut a, mut b, mut c), ((user, room), seq)| {
            a.push(*user);
            b.push(*room);
            c.push(i(*seq));
            (a, b, c)
        },
    );
    let stmt = tx
        .prepare_cached(
            "UPDATE memberships SET last_read = GREATEST(last_read, t.seq)
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS t(u, r, seq)
             WHERE memberships.user_id = t.u AND memberships.room_id = t.r",
        )
        .await?;
    tx.execute(&stmt, &[&users, &room_ids, &marks]).await?;
    Ok(())
}

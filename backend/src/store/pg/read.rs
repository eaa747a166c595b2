//! Queries on the connection pool: accounts, sessions, history, rooms, and the
//! channel heads and published ranges the cluster layer reads. Every query
//! holds a read permit ([`Pg::reader`]): past the bound, `Busy` at once.

use parley_common::{
    Channel, ChatMessage, ClientMsgId, Conversation, MessageBody, MyRoom, RoomInfo, RoomName,
    Username, ValidationError,
};
use tokio_postgres::{GenericClient, Row};

use super::{Pg, corrupt, i, u};
use crate::store::sqlite::as_published;
use crate::store::{
    Appended, AuthUser, ChannelKey, HistoryPage, MyConversation, StoreError, StoredUser, TokenHash,
    UserId,
};

/// Reads a validated text column; a stored value that no longer validates is
/// a database error, not a panic.
pub(super) fn text<T>(
    row: &Row,
    idx: usize,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<T, StoreError> {
    let raw: &str = row.try_get(idx)?;
    parse(raw).map_err(|_| corrupt(raw))
}

/// A user by name (any spelling), as stored.
pub(super) async fn user_named(
    c: &impl GenericClient,
    name: &Username,
) -> Result<Option<AuthUser>, StoreError> {
    let row = c
        .query_opt(
            "SELECT id, name FROM users WHERE name_key = $1",
            &[&name.key()],
        )
        .await?;
    row.map(|r| {
        Ok(AuthUser {
            id: UserId(r.try_get(0)?),
            name: text(&r, 1, Username::parse)?,
        })
    })
    .transpose()
}

const RANGE: &str = "SELECT m.seq, u.name, m.body, m.ts, m.client_id
     FROM messages m JOIN users u ON u.id = m.sender_id
     WHERE m.room_id = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq";

/// One row of `SELECT m.seq, u.name, m.body, m.ts, m.client_id`.
fn message(r: &Row, channel: &Channel) -> Result<ChatMessage, StoreError> {
    Ok(ChatMessage {
        channel: channel.clone(),
        seq: u(r.try_get(0)?),
        sender: text(r, 1, Username::parse)?,
        body: text(r, 2, MessageBody::parse)?,
        ts: u(r.try_get(3)?),
        client_id: text(r, 4, ClientMsgId::parse)?,
    })
}

/// The messages of room `room_id` after `after` up to `upto`, oldest first,
/// named as `channel`.
pub(super) async fn range(
    c: &impl GenericClient,
    room_id: i64,
    channel: &Channel,
    after: u64,
    upto: u64,
) -> Result<Vec<ChatMessage>, StoreError> {
    let rows = c.query(RANGE, &[&room_id, &i(after), &i(upto)]).await?;
    rows.iter().map(|r| message(r, channel)).collect()
}

const ROOMS_AND_CONVERSATIONS: &str = "
    SELECT r.kind, r.name, r.last_seq, m.last_read, r.last_ts,
           CASE WHEN r.kind = 'dm' THEN
               (SELECT o.user_id FROM memberships o
                WHERE o.room_id = r.id AND o.user_id <> m.user_id LIMIT 1) END,
           CASE WHEN r.kind = 'dm' THEN
               (SELECT u.name FROM memberships o JOIN users u ON u.id = o.user_id
                WHERE o.room_id = r.id AND o.user_id <> m.user_id LIMIT 1) END,
           r.id
    FROM memberships m JOIN rooms r ON r.id = m.room_id
    WHERE m.user_id = $1";

impl Pg {
    pub async fn user_by_name(&self, name: &Username) -> Result<Option<StoredUser>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let stmt = c
            .prepare_cached("SELECT id, name, password_hash FROM users WHERE name_key = $1")
            .await?;
        let row = c.query_opt(&stmt, &[&name.key()]).await?;
        row.map(|r| {
            Ok(StoredUser {
                id: UserId(r.try_get(0)?),
                name: text(&r, 1, Username::parse)?,
                password_hash: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// A live session's user and expiry, from the sessions table.
    pub async fn session(
        &self,
        token: &TokenHash,
        now_ms: u64,
    ) -> Result<Option<(AuthUser, u64)>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let stmt = c
            .prepare_cached(
                "SELECT u.id, u.name, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .await?;
        let row = c.query_opt(&stmt, &[&&token.0[..], &i(now_ms)]).await?;
        row.map(|r| {
            let user = AuthUser {
                id: UserId(r.try_get(0)?),
                name: text(&r, 1, Username::parse)?,
            };
            Ok((user, u(r.try_get(2)?)))
        })
        .transpose()
    }

    pub async fn history(
        &self,
        channel: Channel,
        user: UserId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let (_permit, c) = self.reader().await?;
        // A conversation is named as the other user spells their name.
        let (db_name, channel) = match &channel {
            Channel::Room(room) => (room.as_str().to_owned(), channel.clone()),
            Channel::Dm(name) => {
                let peer = user_named(&**c, name)
                    .await?
                    .ok_or(StoreError::UnknownUser)?;
                if peer.id == user {
                    return Err(StoreError::CannotMessageSelf);
                }
                (
                    ChannelKey::dm(user, peer.id).db_name(),
                    Channel::Dm(peer.name),
                )
            }
        };
        let stmt = c
            .prepare_cached(
                "SELECT r.id, EXISTS (SELECT 1 FROM memberships m
                                      WHERE m.room_id = r.id AND m.user_id = $2)
                 FROM rooms r WHERE r.name = $1",
            )
            .await?;
        let membership = c.query_opt(&stmt, &[&db_name, &user.0]).await?;
        let membership = match membership {
            Some(r) => Some((r.try_get::<_, i64>(0)?, r.try_get::<_, bool>(1)?)),
            None => None,
        };
        let room_id = match (membership, &channel) {
            // A conversation nobody has written in yet: empty.
            (None, Channel::Dm(_)) => {
                return Ok(HistoryPage {
                    channel,
                    messages: Vec::new(),
                    has_more: false,
                });
            }
            (None, Channel::Room(_)) => return Err(StoreError::NoSuchRoom),
            (Some((_, false)), _) => return Err(StoreError::NotInRoom),
            (Some((id, true)), _) => id,
        };
        let before = before.map_or(i64::MAX, i);
        // One more than asked for tells whether older messages exist.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let stmt = c
            .prepare_cached(
                "SELECT m.seq, u.name, m.body, m.ts, m.client_id
                 FROM messages m JOIN users u ON u.id = m.sender_id
                 WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3",
            )
            .await?;
        let rows = c.query(&stmt, &[&room_id, &before, &fetch]).await?;
        let mut messages = rows
            .iter()
            .map(|r| message(r, &channel))
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = messages.len() > limit;
        messages.truncate(limit);
        messages.reverse();
        Ok(HistoryPage {
            channel,
            messages,
            has_more,
        })
    }

    pub async fn rooms_and_conversations(
        &self,
        user: UserId,
    ) -> Result<(Vec<MyRoom>, Vec<MyConversation>), StoreError> {
        let (_permit, c) = self.reader().await?;
        let stmt = c.prepare_cached(ROOMS_AND_CONVERSATIONS).await?;
        let rows = c.query(&stmt, &[&user.0]).await?;
        let (mut rooms, mut conversations) = (Vec::new(), Vec::new());
        for r in &rows {
            let kind: &str = r.try_get(0)?;
            if kind == "room" {
                rooms.push(MyRoom {
                    room: text(r, 1, RoomName::parse)?,
                    last_seq: u(r.try_get(2)?),
                    last_read: u(r.try_get(3)?),
                });
            } else if kind == "dm" {
                // A conversation whose other member is gone has no peer: not listed.
                let Some(peer) = r.try_get::<_, Option<i64>>(5)? else {
                    continue;
                };
                let id: i64 = r.try_get(7)?;
                conversations.push((
                    id,
                    MyConversation {
                        peer: UserId(peer),
                        summary: Conversation {
                            with: text(r, 6, Username::parse)?,
                            last_seq: u(r.try_get(2)?),
                            last_read: u(r.try_get(3)?),
                            last_ts: u(r.try_get(4)?),
                            online: false,
                        },
                    },
                ));
            }
        }
        rooms.sort_unstable_by(|a, b| a.room.as_str().cmp(b.room.as_str()));
        // Most recent first; at the same millisecond, the newer conversation.
        conversations.sort_unstable_by(|(a_id, a), (b_id, b)| {
            (b.summary.last_ts, b_id).cmp(&(a.summary.last_ts, a_id))
        });
        Ok((rooms, conversations.into_iter().map(|(_, c)| c).collect()))
    }

    pub async fn room_list(&self, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let stmt = c
            .prepare_cached(
                "SELECT r.name,
                        (SELECT COUNT(*) FROM memberships m WHERE m.room_id = r.id),
                        EXISTS (SELECT 1 FROM memberships m
                                WHERE m.room_id = r.id AND m.user_id = $1)
                 FROM rooms r WHERE r.kind = 'room' ORDER BY r.name COLLATE \"C\"",
            )
            .await?;
        let rows = c.query(&stmt, &[&user.0]).await?;
        rows.iter()
            .map(|r| {
                Ok(RoomInfo {
                    room: text(r, 0, RoomName::parse)?,
                    members: u32::try_from(r.try_get::<_, i64>(1)?).unwrap_or(u32::MAX),
                    joined: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// The secret the cluster's nodes share (made by migration 0002).
    pub async fn cluster_secret(&self) -> Result<Vec<u8>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let row = c
            .query_one("SELECT secret FROM cluster_secret WHERE id = 1", &[])
            .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn heads(&self, keys: Vec<ChannelKey>) -> Result<Vec<(ChannelKey, u64)>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let names: Vec<String> = keys.iter().map(ChannelKey::db_name).collect();
        let stmt = c
            .prepare_cached("SELECT name, last_seq FROM rooms WHERE name = ANY($1)")
            .await?;
        let rows = c.query(&stmt, &[&names]).await?;
        let mut seqs = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            seqs.insert(r.try_get::<_, String>(0)?, u(r.try_get(1)?));
        }
        Ok(keys
            .into_iter()
            .filter_map(|k| seqs.get(&k.db_name()).map(|s| (k, *s)))
            .collect())
    }

    pub async fn published(
        &self,
        key: ChannelKey,
        after: u64,
        upto: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let row = c
            .query_opt("SELECT id FROM rooms WHERE name = $1", &[&key.db_name()])
            .await?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let room_id: i64 = row.try_get(0)?;
        let (channel, parties) = match &key {
            ChannelKey::Room(room) => (Channel::Room(room.clone()), None),
            ChannelKey::Dm(a, b) => {
                let rows = c
                    .query(
                        "SELECT id, name FROM users WHERE id = ANY($1)",
                        &[&vec![a.0, b.0]],
                    )
                    .await?;
                let mut users = Vec::with_capacity(2);
                for r in &rows {
                    users.push(AuthUser {
                        id: UserId(r.try_get(0)?),
                        name: text(r, 1, Username::parse)?,
                    });
                }
                let [x, y]: [AuthUser; 2] = users
                    .try_into()
                    .map_err(|_| corrupt("a conversation's users"))?;
                // Renamed per message (after its recipient) by `as_published`.
                (Channel::Dm(x.name.clone()), Some((x, y)))
            }
        };
        Ok(range(&**c, room_id, &channel, after, upto)
            .await?
            .into_iter()
            .map(|m| as_published(&key, m, parties.as_ref().map(|(a, b)| (a, b))))
            .collect())
    }
}

//! Reads of messages: a page of history, and the range a resume replays.

use parley_common::{Channel, ChatMessage, ClientMsgId, MessageBody, Username};
use rusqlite::{Connection, OptionalExtension, params};

use super::accounts::user_by_name;
use super::text;
use crate::store::{ChannelKey, HistoryPage, StoreError, UserId};

pub fn history(
    c: &Connection,
    channel: &Channel,
    user: UserId,
    before: Option<u64>,
    limit: usize,
) -> Result<HistoryPage, StoreError> {
    // A conversation is named as the other user spells their name.
    let (db_name, channel) = match channel {
        Channel::Room(room) => (room.as_str().to_owned(), channel.clone()),
        Channel::Dm(name) => {
            let peer = user_by_name(c, &name.key())?.ok_or(StoreError::UnknownUser)?;
            if peer.id == user {
                return Err(StoreError::CannotMessageSelf);
            }
            (
                ChannelKey::dm(user, peer.id).db_name(),
                Channel::Dm(peer.name),
            )
        }
    };
    let channel = &channel;
    let membership: Option<(i64, bool)> = c
        .prepare_cached(
            "SELECT r.id, EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?2)
             FROM rooms r WHERE r.name = ?1",
        )?
        .query_row(params![db_name, user.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let room_id = match (membership, channel) {
        // A conversation nobody has written in yet: empty.
        (None, Channel::Dm(_)) => {
            return Ok(HistoryPage {
                channel: channel.clone(),
                messages: Vec::new(),
                has_more: false,
            });
        }
        (None, Channel::Room(_)) => return Err(StoreError::NoSuchRoom),
        (Some((_, false)), _) => return Err(StoreError::NotInRoom),
        (Some((id, true)), _) => id,
    };
    let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
    // One more than asked for tells whether older messages exist.
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    let mut stmt = c.prepare_cached(
        "SELECT m.seq, u.name, m.body, m.ts, m.client_id
         FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![room_id, before, fetch], |r| message(r, channel))?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = messages.len() > limit;
    messages.truncate(limit);
    messages.reverse();
    Ok(HistoryPage {
        channel: channel.clone(),
        messages,
        has_more,
    })
}

/// One row of `SELECT m.seq, u.name, m.body, m.ts, m.client_id` as a message of
/// `channel`.
fn message(r: &rusqlite::Row<'_>, channel: &Channel) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        channel: channel.clone(),
        seq: r.get(0)?,
        sender: text(r, 1, Username::parse)?,
        body: text(r, 2, MessageBody::parse)?,
        ts: r.get(3)?,
        client_id: text(r, 4, ClientMsgId::parse)?,
    })
}

/// The messages of room `room_id` after `after` up to `upto`, oldest first, named
/// as `channel` (for replaying what a reconnecting client missed).
pub fn range(
    c: &Connection,
    room_id: i64,
    channel: &Channel,
    after: u64,
    upto: u64,
) -> Result<Vec<ChatMessage>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT m.seq, u.name, m.body, m.ts, m.client_id
         FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.room_id = ?1 AND m.seq > ?2 AND m.seq <= ?3 ORDER BY m.seq",
    )?;
    let rows = stmt.query_map(params![room_id, after, upto], |r| message(r, channel))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Each channel's latest seq; channels without a row yet are left out.
pub fn heads(c: &Connection, keys: Vec<ChannelKey>) -> Result<Vec<(ChannelKey, u64)>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT last_seq FROM rooms WHERE name = ?1")?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let seq: Option<u64> = stmt
            .query_row(params![key.db_name()], |r| r.get(0))
            .optional()?;
        if let Some(seq) = seq {
            out.push((key, seq));
        }
    }
    Ok(out)
}

/// The messages of `key` with `after < seq <= upto`, as they were published.
pub fn published(
    c: &Connection,
    key: &ChannelKey,
    after: u64,
    upto: u64,
) -> Result<Vec<crate::store::Appended>, StoreError> {
    let room_id: Option<i64> = c
        .prepare_cached("SELECT id FROM rooms WHERE name = ?1")?
        .query_row(params![key.db_name()], |r| r.get(0))
        .optional()?;
    let Some(room_id) = room_id else {
        return Ok(Vec::new());
    };
    let parties = match key {
        ChannelKey::Room(_) => None,
        ChannelKey::Dm(a, b) => {
            let mut stmt = c.prepare_cached("SELECT name FROM users WHERE id = ?1")?;
            let mut user = |id: UserId| -> Result<crate::store::AuthUser, StoreError> {
                let name = stmt.query_row(params![id.0], |r| text(r, 0, Username::parse))?;
                Ok(crate::store::AuthUser { id, name })
            };
            Some((user(*a)?, user(*b)?))
        }
    };
    let channel = match key {
        ChannelKey::Room(room) => Channel::Room(room.clone()),
        // Renamed per message (after its recipient) below.
        ChannelKey::Dm(..) => match &parties {
            Some((a, _)) => Channel::Dm(a.name.clone()),
            None => return Ok(Vec::new()),
        },
    };
    Ok(range(c, room_id, &channel, after, upto)?
        .into_iter()
        .map(|m| crate::store::sqlite::as_published(key, m, parties.as_ref().map(|(a, b)| (a, b))))
        .collect())
}

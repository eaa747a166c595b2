//! Writes of messages, in rooms and private conversations: the room's next
//! sequence number, the conversation created by its first message, and client
//! message ids that make a retried send answer with the original.

use parley_common::{Channel, ChatMessage, ClientMsgId, MessageBody, RoomName, Username};
use rusqlite::{OptionalExtension, params};

use super::rooms::RoomRow;
use super::{Done, Publish, Reply, Tables};
use crate::clock::now_ms;
use crate::store::{Appended, AuthUser, ChannelKey, DmParties, StoreError, UserId};

impl Tables {
    /// Stores a message; a new one is published after the commit, a retried one
    /// answers with the original and is not published again.
    pub(super) fn append(
        &mut self,
        channel: Channel,
        sender: AuthUser,
        client_id: ClientMsgId,
        body: MessageBody,
        reply: Reply<Appended>,
    ) -> Result<Done, StoreError> {
        let r = self.store_message(channel, sender, client_id, body)?;
        let publish = match &r {
            Ok(a) if !a.duplicate => Some(Publish::Message(a.clone())),
            _ => None,
        };
        Ok(Done::new(reply, r).publishing(publish))
    }

    fn store_message(
        &mut self,
        channel: Channel,
        sender: AuthUser,
        client_id: ClientMsgId,
        body: MessageBody,
    ) -> Result<Result<Appended, StoreError>, StoreError> {
        let (key, peer, row) = match self.resolve(&channel, &sender)? {
            Ok(resolved) => resolved,
            Err(refusal) => {
                return Ok(match self.stored(&sender, &client_id)? {
                    Some(original) => Ok(original),
                    None => Err(refusal),
                });
            }
        };
        let row = match (row, &peer) {
            (Some(row), _) => row,
            // The first message of a conversation creates it.
            (None, Some(peer)) => self.create_conversation(&key, sender.id, peer.id)?,
            (None, None) => {
                return Ok(match self.stored(&sender, &client_id)? {
                    Some(original) => Ok(original),
                    None => Err(StoreError::NoSuchRoom),
                });
            }
        };
        if !self.is_member(sender.id, row.id)? {
            // A retry of a message stored before the sender left still gets its ack.
            return Ok(match self.stored(&sender, &client_id)? {
                Some(original) => Ok(original),
                None => Err(StoreError::NotInRoom),
            });
        }
        let seq = row.last_seq + 1;
        let ts = now_ms();
        // The common case is one statement; a retry hits the (sender, client_id)
        // unique index and inserts nothing.
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO messages (room_id, seq, sender_id, body, ts, client_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (sender_id, client_id) DO NOTHING",
            )?
            .execute(params![
                row.id,
                seq,
                sender.id.0,
                body.as_str(),
                ts,
                client_id.as_str()
            ])?;
        if inserted == 0 {
            return Ok(self.stored(&sender, &client_id)?.ok_or(StoreError::Aborted));
        }
        self.rooms.insert(
            key.db_name(),
            RoomRow {
                id: row.id,
                last_seq: seq,
            },
        );
        // Written once per room (and reader) per batch, before the commit. Sending
        // means having read the channel up to your own message.
        self.dirty_rooms.insert(row.id, (seq, ts));
        self.dirty_reads.insert((sender.id.0, row.id), seq);
        // A conversation is named as the recipient spells their name.
        let channel = match &peer {
            Some(recipient) => Channel::Dm(recipient.name.clone()),
            None => channel,
        };
        let dm = peer.map(|recipient| DmParties {
            sender: sender.clone(),
            recipient,
        });
        Ok(Ok(Appended {
            msg: ChatMessage {
                channel,
                seq,
                sender: sender.name,
                body,
                ts,
                client_id,
            },
            key,
            dm,
            duplicate: false,
        }))
    }

    fn create_conversation(
        &mut self,
        key: &ChannelKey,
        a: UserId,
        b: UserId,
    ) -> rusqlite::Result<RoomRow> {
        let name = key.db_name();
        self.conn
            .prepare_cached(
                "INSERT INTO rooms (name, kind, created_by, created_at) VALUES (?1, 'dm', ?2, ?3)",
            )?
            .execute(params![name, a.0, now_ms()])?;
        let row = RoomRow {
            id: self.conn.last_insert_rowid(),
            last_seq: 0,
        };
        self.rooms.insert(name, row);
        self.add_member(row, a)?;
        self.add_member(row, b)?;
        Ok(row)
    }

    /// The message `sender` already stored under `client_id`, if any, as the
    /// sender sees it.
    fn stored(
        &mut self,
        sender: &AuthUser,
        client_id: &ClientMsgId,
    ) -> Result<Option<Appended>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT r.name, r.kind, m.seq, m.body, m.ts FROM messages m JOIN rooms r ON r.id = m.room_id
                 WHERE m.sender_id = ?1 AND m.client_id = ?2",
            )?
            .query_row(params![sender.id.0, client_id.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u64>(4)?,
                ))
            })
            .optional()?;
        let Some((room, kind, seq, body, ts)) = row else {
            return Ok(None);
        };
        let corrupt = || {
            StoreError::Db(rusqlite::Error::InvalidColumnType(
                0,
                "rooms.name".into(),
                rusqlite::types::Type::Text,
            ))
        };
        let (channel, key) = if kind == "dm" {
            let (a, b) = room
                .strip_prefix('@')
                .and_then(|ids| ids.split_once(':'))
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(corrupt)?;
            let key = ChannelKey::dm(UserId(a), UserId(b));
            let peer_id = key.peer(sender.id).ok_or_else(corrupt)?;
            let peer: String = self
                .conn
                .prepare_cached("SELECT name FROM users WHERE id = ?1")?
                .query_row(params![peer_id.0], |r| r.get(0))?;
            (
                Channel::Dm(Username::parse(&peer).map_err(|_| corrupt())?),
                key,
            )
        } else {
            let room = RoomName::parse(&room).map_err(|_| corrupt())?;
            (Channel::Room(room.clone()), ChannelKey::Room(room))
        };
        Ok(Some(Appended {
            msg: ChatMessage {
                channel,
                seq,
                sender: sender.name.clone(),
                body: MessageBody::parse(&body).map_err(|_| corrupt())?,
                ts,
                client_id: client_id.clone(),
            },
            key,
            dm: None,
            duplicate: true,
        }))
    }

    /// Each room's latest (seq, ts), once per batch however many messages it got.
    pub(super) fn flush_latest_seqs(&mut self) -> Result<(), StoreError> {
        for (room_id, (seq, ts)) in self.dirty_rooms.drain() {
            self.conn
                .prepare_cached("UPDATE rooms SET last_seq = ?1, last_ts = ?2 WHERE id = ?3")?
                .execute(params![seq, ts, room_id])?;
        }
        Ok(())
    }
}

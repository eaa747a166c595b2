//! Writes of rooms and membership: creating a room, joining and leaving, and
//! the writer's caches of rooms and members that every other write consults.

use parley_common::{Channel, RoomName, Username};
use rusqlite::{OptionalExtension, params};

use super::{Done, Reply, Tables};
use crate::clock::now_ms;
use crate::store::{AuthUser, ChannelKey, StoreError, UserId};

/// A room as the writer knows it: id and latest sequence number.
#[derive(Clone, Copy)]
pub struct RoomRow {
    pub id: i64,
    pub last_seq: u64,
}

impl Tables {
    pub(super) fn create_room(
        &mut self,
        room: &RoomName,
        creator: UserId,
        reply: Reply<()>,
    ) -> Result<Done, StoreError> {
        let r = if self.room(room.as_str())?.is_some() {
            Err(StoreError::RoomExists)
        } else {
            self.conn
                .prepare_cached(
                    "INSERT INTO rooms (name, created_by, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![room.as_str(), creator.0, now_ms()])?;
            let id = self.conn.last_insert_rowid();
            self.rooms
                .insert(room.as_str().to_owned(), RoomRow { id, last_seq: 0 });
            self.add_member(RoomRow { id, last_seq: 0 }, creator)?;
            Ok(())
        };
        Ok(Done::new(reply, r))
    }

    pub(super) fn join(
        &mut self,
        room: &RoomName,
        user: UserId,
        reply: Reply<u64>,
    ) -> Result<Done, StoreError> {
        let r = match self.room(room.as_str())? {
            None => Err(StoreError::NoSuchRoom),
            Some(row) => {
                self.add_member(row, user)?;
                Ok(row.last_seq)
            }
        };
        Ok(Done::new(reply, r))
    }

    pub(super) fn leave(
        &mut self,
        room: &RoomName,
        user: UserId,
        reply: Reply<()>,
    ) -> Result<Done, StoreError> {
        let r = match self.room(room.as_str())? {
            None => Err(StoreError::NoSuchRoom),
            Some(row) => {
                let n = self
                    .conn
                    .prepare_cached("DELETE FROM memberships WHERE user_id = ?1 AND room_id = ?2")?
                    .execute(params![user.0, row.id])?;
                self.members.remove(&(user.0, row.id));
                if n == 0 {
                    Err(StoreError::NotInRoom)
                } else {
                    Ok(())
                }
            }
        };
        Ok(Done::new(reply, r))
    }

    /// Makes `user` a member of the room whose latest message is `last_seq`.
    /// What was said before you arrived does not count as unread.
    pub(super) fn add_member(&mut self, room: RoomRow, user: UserId) -> rusqlite::Result<()> {
        let room_id = room.id;
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at, last_read)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![user.0, room_id, now_ms(), room.last_seq])?;
        self.members.insert((user.0, room_id));
        Ok(())
    }

    pub(super) fn room(&mut self, name: &str) -> rusqlite::Result<Option<RoomRow>> {
        if let Some(row) = self.rooms.get(name) {
            return Ok(Some(*row));
        }
        let row = self
            .conn
            .prepare_cached("SELECT id, last_seq FROM rooms WHERE name = ?1")?
            .query_row(params![name], |r| {
                Ok(RoomRow {
                    id: r.get(0)?,
                    last_seq: r.get(1)?,
                })
            })
            .optional()?;
        if let Some(row) = row {
            self.rooms.insert(name.to_owned(), row);
        }
        Ok(row)
    }

    /// Membership, cached: every change goes through this writer.
    pub(super) fn is_member(&mut self, user: UserId, room_id: i64) -> rusqlite::Result<bool> {
        if self.members.contains(&(user.0, room_id)) {
            return Ok(true);
        }
        let member = self
            .conn
            .prepare_cached("SELECT 1 FROM memberships WHERE user_id = ?1 AND room_id = ?2")?
            .exists(params![user.0, room_id])?;
        if member {
            self.members.insert((user.0, room_id));
        }
        Ok(member)
    }

    /// Looks a user up by name (for private messages).
    fn user_named(&mut self, name: &Username) -> rusqlite::Result<Option<AuthUser>> {
        self.conn
            .prepare_cached("SELECT id, name FROM users WHERE name_key = ?1")?
            .query_row(params![name.key()], |r| {
                Ok((UserId(r.get(0)?), r.get::<_, String>(1)?))
            })
            .optional()
            .map(|row| {
                row.and_then(|(id, name)| {
                    Username::parse(&name)
                        .ok()
                        .map(|name| AuthUser { id, name })
                })
            })
    }

    /// Resolves where a message goes: the channel key, the peer of a conversation,
    /// and its row if it exists yet. `Ok(Err(..))` is a refusal.
    #[allow(clippy::type_complexity)]
    pub(super) fn resolve(
        &mut self,
        channel: &Channel,
        me: &AuthUser,
    ) -> Result<Result<(ChannelKey, Option<AuthUser>, Option<RoomRow>), StoreError>, StoreError>
    {
        Ok(Ok(match channel {
            Channel::Room(room) => {
                let key = ChannelKey::Room(room.clone());
                let row = self.room(room.as_str())?;
                (key, None, row)
            }
            Channel::Dm(name) => {
                let Some(peer) = self.user_named(name)? else {
                    return Ok(Err(StoreError::UnknownUser));
                };
                if peer.id == me.id {
                    return Ok(Err(StoreError::CannotMessageSelf));
                }
                let key = ChannelKey::dm(me.id, peer.id);
                let row = self.room(&key.db_name())?;
                (key, Some(peer), row)
            }
        }))
    }
}

//! Writes that publish nothing, as short statements or transactions on the
//! pool: accounts, sessions, rooms and membership, read markers, new polls.
//! Each is written so that no statement fails on a conflict (a failed
//! statement would poison its transaction): `ON CONFLICT DO NOTHING` and
//! reading back what happened.

use parley_common::{Channel, PollInfo, PollSpec, RoomName, Tally, Username};

use super::read::user_named;
use super::{Pg, PgError, i, u};
use crate::clock::now_ms;
use crate::store::{AuthUser, ChannelKey, StoreError, TokenHash, UserId};

impl Pg {
    /// Creates an account and puts it in the lobby.
    pub async fn create_user(
        &self,
        name: Username,
        password_hash: String,
    ) -> Result<UserId, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let now = i(now_ms());
        let row = tx
            .query_opt(
                "INSERT INTO users (name, name_key, password_hash, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name_key) DO NOTHING RETURNING id",
                &[&name.as_str(), &name.key(), &password_hash, &now],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NameTaken);
        };
        let id: i64 = row.try_get(0)?;
        // What was said before you arrived does not count as unread.
        tx.execute(
            "INSERT INTO memberships (user_id, room_id, joined_at, last_read)
             SELECT $1, id, $2, last_seq FROM rooms WHERE name = $3
             ON CONFLICT DO NOTHING",
            &[&id, &now, &parley_common::LOBBY],
        )
        .await?;
        tx.commit().await?;
        Ok(UserId(id))
    }

    pub async fn create_session(
        &self,
        token: TokenHash,
        user: UserId,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
            &[&&token.0[..], &user.0, &i(now_ms()), &i(expires_at)],
        )
        .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token: TokenHash) -> Result<(), StoreError> {
        let c = self.conn().await?;
        c.execute(
            "DELETE FROM sessions WHERE token_hash = $1",
            &[&&token.0[..]],
        )
        .await?;
        Ok(())
    }

    pub async fn create_room(&self, room: RoomName, creator: UserId) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let now = i(now_ms());
        let row = tx
            .query_opt(
                "INSERT INTO rooms (name, created_by, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&room.as_str(), &creator.0, &now],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::RoomExists);
        };
        let id: i64 = row.try_get(0)?;
        tx.execute(
            "INSERT INTO memberships (user_id, room_id, joined_at, last_read)
             VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
            &[&creator.0, &id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Joins an existing room; returns its latest seq (the new read marker).
    pub async fn join(&self, room: RoomName, user: UserId) -> Result<u64, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "WITH r AS (SELECT id, last_seq FROM rooms WHERE name = $1),
                      joined AS (
                          INSERT INTO memberships (user_id, room_id, joined_at, last_read)
                          SELECT $2, id, $3, last_seq FROM r ON CONFLICT DO NOTHING)
                 SELECT last_seq FROM r",
                &[&room.as_str(), &user.0, &i(now_ms())],
            )
            .await?;
        match row {
            Some(r) => Ok(u(r.try_get(0)?)),
            None => Err(StoreError::NoSuchRoom),
        }
    }

    pub async fn leave(&self, room: RoomName, user: UserId) -> Result<(), StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "WITH r AS (SELECT id FROM rooms WHERE name = $1),
                      gone AS (
                          DELETE FROM memberships m USING r
                          WHERE m.room_id = r.id AND m.user_id = $2 RETURNING 1)
                 SELECT (SELECT COUNT(*) FROM gone) FROM r",
                &[&room.as_str(), &user.0],
            )
            .await?;
        match row {
            None => Err(StoreError::NoSuchRoom),
            Some(r) if r.try_get::<_, i64>(0)? == 0 => Err(StoreError::NotInRoom),
            Some(_) => Ok(()),
        }
    }

    /// Moves a read marker forward (never back: `GREATEST`).
    pub async fn mark_read(
        &self,
        channel: Channel,
        user: AuthUser,
        seq: u64,
    ) -> Result<(Channel, u64), StoreError> {
        let c = self.conn().await?;
        let (db_name, named) = match &channel {
            Channel::Room(room) => (room.as_str().to_owned(), channel.clone()),
            Channel::Dm(name) => {
                let peer = user_named(&**c, name)
                    .await?
                    .ok_or(StoreError::UnknownUser)?;
                if peer.id == user.id {
                    return Err(StoreError::CannotMessageSelf);
                }
                (
                    ChannelKey::dm(user.id, peer.id).db_name(),
                    Channel::Dm(peer.name),
                )
            }
        };
        let row = c
            .query_opt(
                "SELECT r.last_seq,
                        (SELECT m.last_read FROM memberships m
                         WHERE m.room_id = r.id AND m.user_id = $2)
                 FROM rooms r WHERE r.name = $1",
                &[&db_name, &user.id.0],
            )
            .await?;
        let Some(row) = row else {
            return Err(match channel {
                Channel::Room(_) => StoreError::NoSuchRoom,
                Channel::Dm(_) => StoreError::BadReadMarker("there are no messages yet"),
            });
        };
        let last_seq = u(row.try_get(0)?);
        let Some(current) = row.try_get::<_, Option<i64>>(1)?.map(u) else {
            return Err(StoreError::NotInRoom);
        };
        if seq > last_seq {
            return Err(StoreError::BadReadMarker("beyond the latest message"));
        }
        if seq < current {
            return Err(StoreError::BadReadMarker("behind the current read marker"));
        }
        c.execute(
            "UPDATE memberships SET last_read = GREATEST(last_read, $1)
             WHERE user_id = $2 AND room_id = (SELECT id FROM rooms WHERE name = $3)",
            &[&i(seq), &user.id.0, &db_name],
        )
        .await?;
        Ok((named, seq))
    }

    pub async fn create_poll(
        &self,
        room: RoomName,
        creator: AuthUser,
        spec: PollSpec,
        closes_at: Option<u64>,
    ) -> Result<PollInfo, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT r.id, EXISTS (SELECT 1 FROM memberships m
                                      WHERE m.room_id = r.id AND m.user_id = $2)
                 FROM rooms r WHERE r.name = $1",
                &[&room.as_str(), &creator.id.0],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NoSuchRoom);
        };
        if !row.try_get::<_, bool>(1)? {
            return Err(StoreError::NotInRoom);
        }
        let room_id: i64 = row.try_get(0)?;
        let options = serde_json::to_string(spec.options())
            .map_err(|e| StoreError::Pg(PgError::Other(e.to_string())))?;
        let row = c
            .query_one(
                "INSERT INTO polls (room_id, creator_id, question, options, closes_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &room_id,
                    &creator.id.0,
                    &spec.question(),
                    &options,
                    &closes_at.map(i),
                    &i(now_ms()),
                ],
            )
            .await?;
        Ok(PollInfo {
            id: u(row.try_get(0)?),
            room,
            creator: creator.name,
            question: spec.question().to_owned(),
            options: spec.options().to_vec(),
            closes_at,
            tally: Tally {
                version: 0,
                counts: vec![0; spec.options().len()],
                voters: 0,
                closed: false,
            },
            my_vote: None,
        })
    }
}

//! Writes of polls and votes: creating a poll, a vote (replacing the voter's
//! earlier one) and closing, with the writer's exact counts per poll so a new
//! tally never has to be counted from the votes table.

use std::collections::HashSet;

use parley_common::{PollInfo, PollSpec, RoomName, Tally};
use rusqlite::{OptionalExtension, params};

use super::{Done, Publish, Reply, Tables};
use crate::clock::now_ms;
use crate::store::read::polls::vote_counts;
use crate::store::{AuthUser, ChannelKey, StoreError, UserId, Voted};

/// A poll as the writer knows it, with exact counts.
pub struct PollRow {
    room_id: i64,
    room: RoomName,
    creator: i64,
    closes_at: Option<u64>,
    tally: Tally,
}

/// `poll`'s tally (in `row`) changed: a new version, written with the batch.
fn changed(row: &mut PollRow, dirty: &mut HashSet<u64>, poll: u64, key: ChannelKey) -> Voted {
    row.tally.version += 1;
    dirty.insert(poll);
    Voted {
        key,
        tally: row.tally.clone(),
        changed: true,
    }
}

/// A tally that changed goes to the fan-out after the commit.
fn done(poll: u64, reply: Reply<Voted>, r: Result<Voted, StoreError>) -> Done {
    let publish = match &r {
        Ok(v) if v.changed => Some(Publish::Tally(v.key.clone(), poll, v.tally.clone())),
        _ => None,
    };
    Done::new(reply, r).publishing(publish)
}

impl Tables {
    pub(super) fn create_poll(
        &mut self,
        room: &RoomName,
        creator: &AuthUser,
        spec: &PollSpec,
        closes_at: Option<u64>,
        reply: Reply<PollInfo>,
    ) -> Result<Done, StoreError> {
        let r = self.insert_poll(room, creator, spec, closes_at)?;
        Ok(Done::new(reply, r))
    }

    fn insert_poll(
        &mut self,
        room: &RoomName,
        creator: &AuthUser,
        spec: &PollSpec,
        closes_at: Option<u64>,
    ) -> Result<Result<PollInfo, StoreError>, StoreError> {
        let Some(row) = self.room(room.as_str())? else {
            return Ok(Err(StoreError::NoSuchRoom));
        };
        if !self.is_member(creator.id, row.id)? {
            return Ok(Err(StoreError::NotInRoom));
        }
        let options = serde_json::to_string(spec.options())
            .map_err(|e| StoreError::Db(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        self.conn
            .prepare_cached(
                "INSERT INTO polls (room_id, creator_id, question, options, closes_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                row.id,
                creator.id.0,
                spec.question(),
                options,
                closes_at,
                now_ms()
            ])?;
        let id = u64::try_from(self.conn.last_insert_rowid()).unwrap_or_default();
        let tally = Tally {
            version: 0,
            counts: vec![0; spec.options().len()],
            voters: 0,
            closed: false,
        };
        self.polls.insert(
            id,
            PollRow {
                room_id: row.id,
                room: room.clone(),
                creator: creator.id.0,
                closes_at,
                tally: tally.clone(),
            },
        );
        Ok(Ok(PollInfo {
            id,
            room: room.clone(),
            creator: creator.name.clone(),
            question: spec.question().to_owned(),
            options: spec.options().to_vec(),
            closes_at,
            tally,
            my_vote: None,
        }))
    }

    /// The poll's cached row, loaded (with exact counts) on first use.
    fn poll(&mut self, id: u64) -> rusqlite::Result<Option<&mut PollRow>> {
        if !self.polls.contains_key(&id) {
            let row = self
                .conn
                .prepare_cached(
                    "SELECT p.room_id, r.name, p.creator_id, p.options, p.closes_at, p.closed, p.version
                     FROM polls p JOIN rooms r ON r.id = p.room_id WHERE p.id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<u64>>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, u64>(6)?,
                    ))
                })
                .optional()?;
            let Some((room_id, room, creator, options, closes_at, closed, version)) = row else {
                return Ok(None);
            };
            let n = serde_json::from_str::<Vec<String>>(&options).map_or(0, |o| o.len());
            let (counts, voters) = vote_counts(&self.conn, id, n)?;
            let Ok(room) = RoomName::parse(&room) else {
                return Ok(None);
            };
            self.polls.insert(
                id,
                PollRow {
                    room_id,
                    room,
                    creator,
                    closes_at,
                    tally: Tally {
                        version,
                        counts,
                        voters,
                        closed,
                    },
                },
            );
        }
        Ok(self.polls.get_mut(&id))
    }

    pub(super) fn vote(
        &mut self,
        poll: u64,
        user: UserId,
        option: u32,
        reply: Reply<Voted>,
    ) -> Result<Done, StoreError> {
        let r = self.record_vote(poll, user, option)?;
        Ok(done(poll, reply, r))
    }

    fn record_vote(
        &mut self,
        poll: u64,
        user: UserId,
        option: u32,
    ) -> Result<Result<Voted, StoreError>, StoreError> {
        let now = now_ms();
        let Some(row) = self.poll(poll)? else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        let (room_id, room) = (row.room_id, row.room.clone());
        let open = !row.tally.closed && row.closes_at.is_none_or(|t| now < t);
        let options = row.tally.counts.len();
        if !self.is_member(user, room_id)? {
            // Not telling a non-member anything about the poll.
            return Ok(Err(StoreError::NotInRoom));
        }
        if !open {
            return Ok(Err(StoreError::PollClosed));
        }
        let Some(index) = usize::try_from(option).ok().filter(|i| *i < options) else {
            return Ok(Err(StoreError::NoSuchOption));
        };
        let previous: Option<usize> = self
            .conn
            .prepare_cached("SELECT option FROM votes WHERE poll_id = ?1 AND user_id = ?2")?
            .query_row(params![poll, user.0], |r| r.get(0))
            .optional()?;
        let key = ChannelKey::Room(room);
        let Some(row) = self.polls.get_mut(&poll) else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        if previous == Some(index) {
            return Ok(Ok(Voted {
                key,
                tally: row.tally.clone(),
                changed: false,
            }));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO votes (poll_id, user_id, option, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (poll_id, user_id) DO UPDATE SET option = excluded.option,
                                                           updated_at = excluded.updated_at",
            )?
            .execute(params![poll, user.0, index, now])?;
        match previous.and_then(|p| row.tally.counts.get_mut(p)) {
            Some(old) => *old = old.saturating_sub(1),
            None => row.tally.voters += 1,
        }
        if let Some(new) = row.tally.counts.get_mut(index) {
            *new += 1;
        }
        Ok(Ok(changed(row, &mut self.dirty_polls, poll, key)))
    }

    pub(super) fn close_poll(
        &mut self,
        poll: u64,
        by: Option<UserId>,
        reply: Reply<Voted>,
    ) -> Result<Done, StoreError> {
        let r = self.close(poll, by)?;
        Ok(done(poll, reply, r))
    }

    fn close(
        &mut self,
        poll: u64,
        by: Option<UserId>,
    ) -> Result<Result<Voted, StoreError>, StoreError> {
        let Some(row) = self.poll(poll)? else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        let (room_id, creator, closed) = (row.room_id, row.creator, row.tally.closed);
        if let Some(user) = by {
            if !self.is_member(user, room_id)? {
                return Ok(Err(StoreError::NotInRoom));
            }
            if user.0 != creator {
                return Ok(Err(StoreError::NotPollCreator));
            }
        }
        let Some(row) = self.polls.get_mut(&poll) else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        let key = ChannelKey::Room(row.room.clone());
        if closed {
            return Ok(match by {
                Some(_) => Err(StoreError::PollClosed),
                None => Ok(Voted {
                    key,
                    tally: row.tally.clone(),
                    changed: false,
                }),
            });
        }
        row.tally.closed = true;
        Ok(Ok(changed(row, &mut self.dirty_polls, poll, key)))
    }

    /// The version (and closed flag) of each poll whose tally changed in this
    /// batch; the votes themselves were written as they came.
    pub(super) fn flush_tallies(&mut self) -> Result<(), StoreError> {
        for poll in self.dirty_polls.drain() {
            if let Some(row) = self.polls.get(&poll) {
                self.conn
                    .prepare_cached("UPDATE polls SET version = ?1, closed = ?2 WHERE id = ?3")?
                    .execute(params![row.tally.version, row.tally.closed, poll])?;
            }
        }
        Ok(())
    }
}

//! Writes of read markers: how far a user has read each channel. A marker only
//! moves forward, and is written once per batch (sending moves it too, see
//! `messages.rs`).

use parley_common::Channel;
use rusqlite::{OptionalExtension, params};

use super::{Done, Reply, Tables};
use crate::store::{AuthUser, StoreError};

impl Tables {
    pub(super) fn mark_read(
        &mut self,
        channel: &Channel,
        user: &AuthUser,
        seq: u64,
        reply: Reply<(Channel, u64)>,
    ) -> Result<Done, StoreError> {
        let r = self.move_marker(channel, user, seq)?;
        Ok(Done::new(reply, r))
    }

    fn move_marker(
        &mut self,
        channel: &Channel,
        user: &AuthUser,
        seq: u64,
    ) -> Result<Result<(Channel, u64), StoreError>, StoreError> {
        let (_, peer, row) = match self.resolve(channel, user)? {
            Ok(resolved) => resolved,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(row) = row else {
            return Ok(Err(match channel {
                Channel::Room(_) => StoreError::NoSuchRoom,
                Channel::Dm(_) => StoreError::BadReadMarker("there are no messages yet"),
            }));
        };
        let current: Option<u64> = self
            .conn
            .prepare_cached(
                "SELECT last_read FROM memberships WHERE user_id = ?1 AND room_id = ?2",
            )?
            .query_row(params![user.id.0, row.id], |r| r.get(0))
            .optional()?;
        let Some(current) = current else {
            return Ok(Err(StoreError::NotInRoom));
        };
        let current = current.max(
            self.dirty_reads
                .get(&(user.id.0, row.id))
                .copied()
                .unwrap_or(0),
        );
        if seq > row.last_seq {
            return Ok(Err(StoreError::BadReadMarker("beyond the latest message")));
        }
        if seq < current {
            return Ok(Err(StoreError::BadReadMarker(
                "behind the current read marker",
            )));
        }
        self.dirty_reads.insert((user.id.0, row.id), seq);
        let channel = match peer {
            Some(peer) => Channel::Dm(peer.name),
            None => channel.clone(),
        };
        Ok(Ok((channel, seq)))
    }

    /// The markers moved in this batch; `max` keeps a marker from going back.
    pub(super) fn flush_read_markers(&mut self) -> Result<(), StoreError> {
        for ((user, room_id), seq) in self.dirty_reads.drain() {
            self.conn
                .prepare_cached(
                    "UPDATE memberships SET last_read = max(last_read, ?1)
                     WHERE user_id = ?2 AND room_id = ?3",
                )?
                .execute(params![seq, user, room_id])?;
        }
        Ok(())
    }
}

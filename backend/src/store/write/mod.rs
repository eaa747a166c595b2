//! The write requests and what runs them: one file per kind of data written,
//! each adding its part to [`Tables`], which the writer thread ([`super::writer`])
//! drives inside its batch transaction.
//!
//! A request's function runs inside the open transaction and returns a [`Done`]:
//! how to answer its caller once the batch has committed (or rolled back), and
//! what to hand the fan-out after the commit. Rows that many requests of a batch
//! touch (a room's latest seq, read markers, poll versions) are kept in memory
//! while the batch runs and written once, by [`Tables::flush`], before the commit.

mod accounts;
mod messages;
mod polls;
mod read_markers;
mod resume;
mod rooms;

use std::collections::{HashMap, HashSet};

use parley_common::{
    Channel, ClientMsgId, MessageBody, PollInfo, PollSpec, ResumeFrom, RoomName, ServerMsg, Tally,
    Username,
};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{Appended, AuthUser, ChannelKey, StoreError, TokenHash, UserId, Voted};
use polls::PollRow;
use rooms::RoomRow;

pub use resume::{MAX_RESUME_CHANNELS, ReplayTarget, missed_frames};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

#[derive(Debug)]
pub enum Op {
    CreateUser {
        name: Username,
        password_hash: String,
        reply: Reply<UserId>,
    },
    CreateSession {
        token: TokenHash,
        user: UserId,
        expires_at: u64,
        reply: Reply<()>,
    },
    DeleteSession {
        token: TokenHash,
        reply: Reply<()>,
    },
    CreateRoom {
        room: RoomName,
        creator: UserId,
        reply: Reply<()>,
    },
    Join {
        room: RoomName,
        user: UserId,
        reply: Reply<u64>,
    },
    Leave {
        room: RoomName,
        user: UserId,
        reply: Reply<()>,
    },
    MarkRead {
        channel: Channel,
        user: AuthUser,
        seq: u64,
        reply: Reply<(Channel, u64)>,
    },
    CreatePoll {
        room: RoomName,
        creator: AuthUser,
        spec: PollSpec,
        closes_at: Option<u64>,
        reply: Reply<PollInfo>,
    },
    Vote {
        poll: u64,
        user: UserId,
        option: u32,
        reply: Reply<Voted>,
    },
    /// `by: None` is the server closing a poll whose time is up.
    ClosePoll {
        poll: u64,
        by: Option<UserId>,
        reply: Reply<Voted>,
    },
    Append {
        channel: Channel,
        sender: AuthUser,
        client_id: ClientMsgId,
        body: MessageBody,
        reply: Reply<Appended>,
    },
    /// Replays what `user` missed since each point and runs `attach` with it, at
    /// this op's place in the commit order (see [`Store::resume`](super::Store::resume)).
    Resume {
        user: AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
        reply: Reply<()>,
    },
}

/// Called on the writer thread with the replay (`missed` / `too_far_behind`
/// frames), between two publishes: it must attach the connection to the fan-out
/// before returning, and must not block.
pub struct Attach(pub Box<dyn FnOnce(Vec<ServerMsg>) + Send>);

impl std::fmt::Debug for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attach(..)")
    }
}

/// What the fan-out must hear about once a batch has committed.
pub enum Publish {
    Message(Appended),
    Tally(ChannelKey, u64, Tally),
    Resume(Vec<ReplayTarget>, Attach),
}

/// The outcome of one op inside a batch, waiting for the commit: how to answer
/// its caller (`true`: committed, send the result; `false`: rolled back), and
/// what to publish after the commit.
pub struct Done {
    pub answer: Box<dyn FnOnce(bool) + Send>,
    pub publish: Option<Publish>,
}

impl Done {
    fn new<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> Self {
        Self {
            answer: Box::new(move |committed| {
                // A caller that went away (connection closed) no longer needs it.
                let _ = reply.send(if committed {
                    result
                } else {
                    Err(StoreError::Aborted)
                });
            }),
            publish: None,
        }
    }

    fn publishing(mut self, publish: Option<Publish>) -> Self {
        self.publish = publish;
        self
    }
}

/// The writer's connection and what it remembers about the tables. Every write
/// goes through this one connection, so the caches are never stale; a failed
/// commit [forgets](Tables::forget) them.
pub struct Tables {
    pub conn: Connection,
    /// Cache of rooms and conversations by `rooms.name` (never deleted, so never
    /// stale) with their latest seq.
    rooms: HashMap<String, RoomRow>,
    /// Cache of known (user, room) memberships.
    members: HashSet<(i64, i64)>,
    /// Rooms whose latest (seq, ts) changed in the open transaction.
    dirty_rooms: HashMap<i64, (u64, u64)>,
    /// Read markers moved in the open transaction: (user, room) → seq.
    dirty_reads: HashMap<(i64, i64), u64>,
    /// Cache of polls touched since start, with their exact counts.
    polls: HashMap<u64, PollRow>,
    /// Polls whose version changed in the open transaction.
    dirty_polls: HashSet<u64>,
}

impl Tables {
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            rooms: HashMap::new(),
            members: HashSet::new(),
            dirty_rooms: HashMap::new(),
            dirty_reads: HashMap::new(),
            polls: HashMap::new(),
            dirty_polls: HashSet::new(),
        }
    }

    /// Applies one op inside the open transaction. `Err` only for database
    /// failures (which abort the batch); refusals are the op's own result.
    pub fn apply(&mut self, op: Op) -> Result<Done, StoreError> {
        match op {
            Op::CreateUser {
                name,
                password_hash,
                reply,
            } => self.create_user(&name, &password_hash, reply),
            Op::CreateSession {
                token,
                user,
                expires_at,
                reply,
            } => self.create_session(token, user, expires_at, reply),
            Op::DeleteSession { token, reply } => self.delete_session(token, reply),
            Op::CreateRoom {
                room,
                creator,
                reply,
            } => self.create_room(&room, creator, reply),
            Op::Join { room, user, reply } => self.join(&room, user, reply),
            Op::Leave { room, user, reply } => self.leave(&room, user, reply),
            Op::CreatePoll {
                room,
                creator,
                spec,
                closes_at,
                reply,
            } => self.create_poll(&room, &creator, &spec, closes_at, reply),
            Op::Vote {
                poll,
                user,
                option,
                reply,
            } => self.vote(poll, user, option, reply),
            Op::ClosePoll { poll, by, reply } => self.close_poll(poll, by, reply),
            Op::Append {
                channel,
                sender,
                client_id,
                body,
                reply,
            } => self.append(channel, sender, client_id, body, reply),
            Op::MarkRead {
                channel,
                user,
                seq,
                reply,
            } => self.mark_read(&channel, &user, seq, reply),
            Op::Resume {
                user,
                from,
                attach,
                reply,
            } => self.resume(&user, from, attach, reply),
        }
    }

    /// Writes the rows the batch kept in memory, just before the commit.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.flush_latest_seqs()?;
        self.flush_read_markers()?;
        self.flush_tallies()?;
        Ok(())
    }

    /// After a rollback: what the caches say may not be in the database, so
    /// everything is read again.
    pub fn forget(&mut self) {
        self.rooms.clear();
        self.members.clear();
        self.dirty_rooms.clear();
        self.dirty_reads.clear();
        self.polls.clear();
        self.dirty_polls.clear();
    }
}

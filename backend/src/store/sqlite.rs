//! The SQLite backend of [`Store`](super::Store): one writer thread with group
//! commit ([`super::writer`]) and a pool of read threads ([`super::read`]).
//! Each method is what the `Store` method of the same name does on SQLite.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parley_common::{
    Channel, ChatMessage, ClientMsgId, MessageBody, MyRoom, PollInfo, PollSpec, ResumeFrom,
    RoomInfo, RoomName, Username,
};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::oneshot;

use super::{
    Appended, Attach, AuthUser, ChannelKey, DmParties, Fanout, HistoryPage, MyConversation,
    QueueLimits, StoreError, StoredUser, TokenHash, UserId, Voted, read, sessions, write, writer,
};
use crate::clock::now_ms;

#[derive(Clone, Debug)]
pub struct Sqlite {
    pub writer: writer::Handle,
    pub reads: Arc<read::Pool>,
    pub path: PathBuf,
}

impl Sqlite {
    /// Opens the database (creating it and its directory), migrates it, loads
    /// the live sessions into `sessions` and starts the writer thread.
    pub fn open(
        path: &Path,
        fanout: Arc<dyn Fanout>,
        queues: QueueLimits,
        commit_seconds: Histogram,
    ) -> Result<(Self, sessions::SessionCache), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Db(rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
            })?;
        }
        let mut conn = writer::open_connection(path)?;
        super::migrate::apply(&mut conn)?;
        let sessions = sessions::SessionCache::load(&conn, now_ms())?;
        tracing::debug!(sessions = sessions.len(), "live sessions loaded");
        // One read thread per core (2 to 8): more only switch between each other.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let reads = Arc::new(read::Pool::open(path, threads, queues.reads)?);
        let writer = writer::spawn(conn, path, fanout, queues.writes, commit_seconds)?;
        Ok((
            Self {
                writer,
                reads,
                path: path.to_owned(),
            },
            sessions,
        ))
    }

    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> write::Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer.submit(op(tx)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn create_user(
        &self,
        name: Username,
        password_hash: String,
    ) -> Result<UserId, StoreError> {
        self.write(|reply| write::Op::CreateUser {
            name,
            password_hash,
            reply,
        })
        .await
    }

    pub async fn create_session(
        &self,
        token: TokenHash,
        user: UserId,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.write(|reply| write::Op::CreateSession {
            token,
            user,
            expires_at,
            reply,
        })
        .await
    }

    pub async fn delete_session(&self, token: TokenHash) -> Result<(), StoreError> {
        self.write(|reply| write::Op::DeleteSession { token, reply })
            .await
    }

    pub async fn user_by_name(&self, name: &Username) -> Result<Option<StoredUser>, StoreError> {
        let key = name.key();
        self.reads
            .run(move |c| read::accounts::user_by_name(c, &key))
            .await
    }

    pub async fn create_room(&self, room: RoomName, creator: UserId) -> Result<(), StoreError> {
        self.write(|reply| write::Op::CreateRoom {
            room,
            creator,
            reply,
        })
        .await
    }

    pub async fn join(&self, room: RoomName, user: UserId) -> Result<u64, StoreError> {
        self.write(|reply| write::Op::Join { room, user, reply })
            .await
    }

    pub async fn leave(&self, room: RoomName, user: UserId) -> Result<(), StoreError> {
        self.write(|reply| write::Op::Leave { room, user, reply })
            .await
    }

    pub async fn rooms_and_conversations(
        &self,
        user: UserId,
    ) -> Result<(Vec<MyRoom>, Vec<MyConversation>), StoreError> {
        self.reads
            .run(move |c| read::rooms::rooms_and_conversations(c, user))
            .await
    }

    pub async fn mark_read(
        &self,
        channel: Channel,
        user: AuthUser,
        seq: u64,
    ) -> Result<(Channel, u64), StoreError> {
        self.write(|reply| write::Op::MarkRead {
            channel,
            user,
            seq,
            reply,
        })
        .await
    }

    pub async fn room_list(&self, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
        self.reads
            .run(move |c| read::rooms::room_list(c, user))
            .await
    }

    pub async fn append(
        &self,
        channel: Channel,
        sender: AuthUser,
        client_id: ClientMsgId,
        body: MessageBody,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let submitted = self
            .writer
            .submit(write::Op::Append {
                channel,
                sender,
                client_id,
                body,
                reply,
            })
            .await;
        async move {
            submitted?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
    }

    pub async fn resume(
        &self,
        user: AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
    ) -> Result<(), StoreError> {
        self.write(|reply| write::Op::Resume {
            user,
            from,
            attach,
            reply,
        })
        .await
    }

    pub async fn history(
        &self,
        channel: Channel,
        user: UserId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        self.reads
            .run(move |c| read::messages::history(c, &channel, user, before, limit))
            .await
    }

    pub async fn create_poll(
        &self,
        room: RoomName,
        creator: AuthUser,
        spec: PollSpec,
        closes_at: Option<u64>,
    ) -> Result<PollInfo, StoreError> {
        self.write(|reply| write::Op::CreatePoll {
            room,
            creator,
            spec,
            closes_at,
            reply,
        })
        .await
    }

    pub async fn vote(&self, poll: u64, user: UserId, option: u32) -> Result<Voted, StoreError> {
        self.write(|reply| write::Op::Vote {
            poll,
            user,
            option,
            reply,
        })
        .await
    }

    pub async fn close_poll(&self, poll: u64, by: Option<UserId>) -> Result<Voted, StoreError> {
        self.write(|reply| write::Op::ClosePoll { poll, by, reply })
            .await
    }

    pub async fn poll(&self, poll: u64, user: UserId) -> Result<PollInfo, StoreError> {
        self.reads
            .run(move |c| read::polls::poll(c, poll, user))
            .await
    }

    pub async fn polls(&self, room: RoomName, user: UserId) -> Result<Vec<PollInfo>, StoreError> {
        self.reads
            .run(move |c| read::polls::polls(c, &room, user))
            .await
    }

    pub async fn poll_deadlines(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        self.reads.run(read::polls::poll_deadlines).await
    }

    pub async fn heads(&self, keys: Vec<ChannelKey>) -> Result<Vec<(ChannelKey, u64)>, StoreError> {
        self.reads
            .run(move |c| read::messages::heads(c, keys))
            .await
    }

    pub async fn published(
        &self,
        key: ChannelKey,
        after: u64,
        upto: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        self.reads
            .run(move |c| read::messages::published(c, &key, after, upto))
            .await
    }

    pub async fn close(&self) {
        self.writer.close().await;
    }
}

/// A stored message as the writer handed it to the fan-out: named as its sender
/// sees it, with the parties of a private one (shared with PostgreSQL).
pub fn as_published(
    key: &ChannelKey,
    msg: ChatMessage,
    parties: Option<(&AuthUser, &AuthUser)>,
) -> Appended {
    let (msg, dm) = match parties {
        None => (msg, None),
        Some((a, b)) => {
            // The sender is one of the two; the conversation is named after the
            // other.
            let (sender, recipient) = if a.name == msg.sender {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            let msg = ChatMessage {
                channel: Channel::Dm(recipient.name.clone()),
                ..msg
            };
            (msg, Some(DmParties { sender, recipient }))
        }
    };
    Appended {
        msg,
        key: key.clone(),
        dm,
        duplicate: false,
    }
}

//! Polls on PostgreSQL: reads, and the vote and close transactions the
//! writer task runs. Several nodes may vote in one poll at once, so a vote
//! locks the poll's row (`FOR UPDATE`), bumps its version and counts the
//! tally from the votes table: no node keeps counts in memory.

use parley_common::{PollInfo, RoomName, Tally, Username};
use tokio_postgres::GenericClient;

use super::read::text;
use super::{Pg, i, u};
use crate::clock::now_ms;
use crate::store::{ChannelKey, StoreError, UserId, Voted};

/// Votes per option of `poll` (which has `options` options) and the number of
/// voters, counted from the stored votes.
async fn vote_counts(
    c: &impl GenericClient,
    poll: i64,
    options: usize,
) -> Result<(Vec<u64>, u64), StoreError> {
    let rows = c
        .query(
            "SELECT option, COUNT(*) FROM votes WHERE poll_id = $1 GROUP BY option",
            &[&poll],
        )
        .await?;
    let mut counts = vec![0u64; options];
    let mut voters = 0;
    for r in &rows {
        let (option, count) = (r.try_get::<_, i32>(0)?, u(r.try_get(1)?));
        if let Some(c) = usize::try_from(option).ok().and_then(|o| counts.get_mut(o)) {
            *c = count;
        }
        voters += count;
    }
    Ok((counts, voters))
}

fn options_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

const POLLS: &str = "SELECT p.id, r.name, u.name, p.question, p.options, p.closes_at, p.closed,
            p.version, (SELECT v.option FROM votes v WHERE v.poll_id = p.id AND v.user_id = $1)
     FROM polls p JOIN rooms r ON r.id = p.room_id JOIN users u ON u.id = p.creator_id
     WHERE WHERE_CLAUSE
       AND EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = p.room_id AND m.user_id = $1)
     ORDER BY p.id DESC LIMIT 50";

impl Pg {
    async fn polls_where(
        &self,
        clause: &str,
        user: UserId,
        param: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Vec<PollInfo>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let stmt = c
            .prepare_cached(&POLLS.replace("WHERE_CLAUSE", clause))
            .await?;
        let rows = c.query(&stmt, &[&user.0, param]).await?;
        let mut polls = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let options = options_of(r.try_get(4)?);
            let closes_at = r.try_get::<_, Option<i64>>(5)?.map(u);
            let (counts, voters) = vote_counts(&**c, id, options.len()).await?;
            let closed = r.try_get::<_, bool>(6)? || closes_at.is_some_and(|t| t <= now_ms());
            polls.push(PollInfo {
                id: u(id),
                room: text(r, 1, RoomName::parse)?,
                creator: text(r, 2, Username::parse)?,
                question: r.try_get(3)?,
                options,
                closes_at,
                tally: Tally {
                    version: u(r.try_get(7)?),
                    counts,
                    voters,
                    closed,
                },
                my_vote: r
                    .try_get::<_, Option<i32>>(8)?
                    .and_then(|v| u32::try_from(v).ok()),
            });
        }
        Ok(polls)
    }

    pub async fn poll(&self, poll: u64, user: UserId) -> Result<PollInfo, StoreError> {
        self.polls_where("p.id = $2", user, &i(poll))
            .await?
            .pop()
            .ok_or(StoreError::NoSuchPoll)
    }

    pub async fn polls(&self, room: RoomName, user: UserId) -> Result<Vec<PollInfo>, StoreError> {
        self.polls_where("r.name = $2", user, &room.as_str()).await
    }

    pub async fn poll_deadlines(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let (_permit, c) = self.reader().await?;
        let rows = c
            .query(
                "SELECT id, closes_at FROM polls WHERE NOT closed AND closes_at IS NOT NULL",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((u(r.try_get(0)?), u(r.try_get(1)?))))
            .collect()
    }
}

/// A poll's row, locked for the rest of the transaction.
struct Locked {
    room_id: i64,
    key: ChannelKey,
    creator: i64,
    options: usize,
    closes_at: Option<u64>,
    closed: bool,
}

async fn lock(
    tx: &tokio_postgres::Transaction<'_>,
    poll: i64,
) -> Result<Option<Locked>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT p.room_id, r.name, p.creator_id, p.options, p.closes_at, p.closed
             FROM polls p JOIN rooms r ON r.id = p.room_id WHERE p.id = $1 FOR UPDATE OF p",
            &[&poll],
        )
        .await?;
    row.map(|r| {
        Ok(Locked {
            room_id: r.try_get(0)?,
            key: ChannelKey::Room(text(&r, 1, RoomName::parse)?),
            creator: r.try_get(2)?,
            options: options_of(r.try_get(3)?).len(),
            closes_at: r.try_get::<_, Option<i64>>(4)?.map(u),
            closed: r.try_get(5)?,
        })
    })
    .transpose()
}

async fn is_member(
    tx: &tokio_postgres::Transaction<'_>,
    user: UserId,
    room_id: i64,
) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM memberships WHERE user_id = $1 AND room_id = $2",
            &[&user.0, &room_id],
        )
        .await?
        .is_some())
}

/// The poll's tally now (inside the transaction), at `version`.
async fn tally(
    tx: &tokio_postgres::Transaction<'_>,
    poll: i64,
    p: &Locked,
    closed: bool,
) -> Result<Tally, StoreError> {
    let version = tx
        .query_one("SELECT version FROM polls WHERE id = $1", &[&poll])
        .await?;
    let (counts, voters) = vote_counts(tx, poll, p.options).await?;
    Ok(Tally {
        version: u(version.try_get(0)?),
        counts,
        voters,
        closed,
    })
}

/// Records a vote (replacing the voter's earlier one) and commits. `Ok(Err)`
/// is a refusal (rolled back, nothing written).
pub(super) async fn vote(
    c: &mut deadpool_postgres::Object,
    poll: u64,
    user: UserId,
    option: u32,
) -> Result<Result<Voted, StoreError>, StoreError> {
    let tx = c.transaction().await?;
    let poll = i(poll);
    let Some(p) = lock(&tx, poll).await? else {
        return Ok(Err(StoreError::NoSuchPoll));
    };
    let now = now_ms();
    if !is_member(&tx, user, p.room_id).await? {
        // Not telling a non-member anything about the poll.
        return Ok(Err(StoreError::NotInRoom));
    }
    if p.closed || p.closes_at.is_some_and(|t| now >= t) {
        return Ok(Err(StoreError::PollClosed));
    }
    let Some(index) = usize::try_from(option).ok().filter(|o| *o < p.options) else {
        return Ok(Err(StoreError::NoSuchOption));
    };
    let index = i32::try_from(index).unwrap_or(i32::MAX);
    let previous = tx
        .query_opt(
            "SELECT option FROM votes WHERE poll_id = $1 AND user_id = $2",
            &[&poll, &user.0],
        )
        .await?
        .map(|r| r.try_get::<_, i32>(0))
        .transpose()?;
    let changed = previous != Some(index);
    if changed {
        tx.execute(
            "INSERT INTO votes (poll_id, user_id, option, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (poll_id, user_id) DO UPDATE SET option = excluded.option,
                                                       updated_at = excluded.updated_at",
            &[&poll, &user.0, &index, &i(now)],
        )
        .await?;
        tx.execute(
            "UPDATE polls SET version = version + 1 WHERE id = $1",
            &[&poll],
        )
        .await?;
    }
    let tally = tally(&tx, poll, &p, false).await?;
    tx.commit().await?;
    Ok(Ok(Voted {
        key: p.key,
        tally,
        changed,
    }))
}

/// Closes a poll (by its creator, or `None`: its time is up) and commits.
pub(super) async fn close(
    c: &mut deadpool_postgres::Object,
    poll: u64,
    by: Option<UserId>,
) -> Result<Result<Voted, StoreError>, StoreError> {
    let tx = c.transaction().await?;
    let poll = i(poll);
    let Some(p) = lock(&tx, poll).await? else {
        return Ok(Err(StoreError::NoSuchPoll));
    };
    if let Some(user) = by {
        if !is_member(&tx, user, p.room_id).await? {
            return Ok(Err(StoreError::NotInRoom));
        }
        if user.0 != p.creator {
            return Ok(Err(StoreError::NotPollCreator));
        }
    }
    if p.closed {
        return Ok(match by {
            Some(_) => Err(StoreError::PollClosed),
            None => Ok(Voted {
                tally: tally(&tx, poll, &p, true).await?,
                key: p.key,
                changed: false,
            }),
        });
    }
    tx.execute(
        "UPDATE polls SET closed = true, version = version + 1 WHERE id = $1",
        &[&poll],
    )
    .await?;
    let tally = tally(&tx, poll, &p, true).await?;
    tx.commit().await?;
    Ok(Ok(Voted {
        key: p.key,
        tally,
        changed: true,
    }))
}

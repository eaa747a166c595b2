//! Reads of polls: one poll or a room's polls as a user sees them, the open
//! polls' deadlines, and the vote counts the writer loads a poll with.

use parley_common::{PollInfo, RoomName, Tally, Username};
use rusqlite::{Connection, params};

use super::text;
use crate::store::{StoreError, UserId};

/// Reads polls by a `WHERE` clause over `polls p` with `?1` = user id and `?2` =
/// the clause's parameter; the user must be a member of each poll's room.
fn polls_where(
    c: &Connection,
    clause: &str,
    user: UserId,
    param: &dyn rusqlite::ToSql,
) -> Result<Vec<PollInfo>, StoreError> {
    let sql = format!(
        "SELECT p.id, r.name, u.name, p.question, p.options, p.closes_at, p.closed, p.version,
                (SELECT v.option FROM votes v WHERE v.poll_id = p.id AND v.user_id = ?1)
         FROM polls p JOIN rooms r ON r.id = p.room_id JOIN users u ON u.id = p.creator_id
         WHERE {clause}
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = p.room_id AND m.user_id = ?1)
         ORDER BY p.id DESC LIMIT 50"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![user.0, param], |r| {
        let options: String = r.get(4)?;
        Ok((
            r.get::<_, u64>(0)?,
            text(r, 1, RoomName::parse)?,
            text(r, 2, Username::parse)?,
            r.get::<_, String>(3)?,
            serde_json::from_str::<Vec<String>>(&options).unwrap_or_default(),
            r.get::<_, Option<u64>>(5)?,
            r.get::<_, bool>(6)?,
            r.get::<_, u64>(7)?,
            r.get::<_, Option<u32>>(8)?,
        ))
    })?;
    let mut polls = Vec::new();
    for row in rows {
        let (id, room, creator, question, options, closes_at, closed, version, my_vote) = row?;
        let (counts, voters) = vote_counts(c, id, options.len())?;
        let closed = closed || closes_at.is_some_and(|t| t <= crate::clock::now_ms());
        polls.push(PollInfo {
            id,
            room,
            creator,
            question,
            options,
            closes_at,
            tally: Tally {
                version,
                counts,
                voters,
                closed,
            },
            my_vote,
        });
    }
    Ok(polls)
}

pub fn poll(c: &Connection, poll: u64, user: UserId) -> Result<PollInfo, StoreError> {
    polls_where(c, "p.id = ?2", user, &poll)?
        .pop()
        .ok_or(StoreError::NoSuchPoll)
}

pub fn polls(c: &Connection, room: &RoomName, user: UserId) -> Result<Vec<PollInfo>, StoreError> {
    polls_where(c, "r.name = ?2", user, &room.as_str())
}

pub fn poll_deadlines(c: &Connection) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, closes_at FROM polls WHERE closed = 0 AND closes_at IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Votes per option of `poll` (which has `options` options) and the number of
/// voters, counted from the stored votes. The writer uses it too, to load a
/// poll's counts the first time it sees the poll.
pub fn vote_counts(c: &Connection, poll: u64, options: usize) -> rusqlite::Result<(Vec<u64>, u64)> {
    let mut counts = vec![0u64; options];
    let mut voters = 0;
    let mut stmt =
        c.prepare_cached("SELECT option, COUNT(*) FROM votes WHERE poll_id = ?1 GROUP BY option")?;
    let rows = stmt.query_map(params![poll], |r| {
        Ok((r.get::<_, usize>(0)?, r.get::<_, u64>(1)?))
    })?;
    for row in rows {
        let (option, count) = row?;
        if let Some(c) = counts.get_mut(option) {
            *c = count;
        }
        voters += count;
    }
    Ok((counts, voters))
}

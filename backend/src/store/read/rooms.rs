//! Reads of rooms and membership: what `welcome` lists on every connect, and
//! the list of rooms to join.

use parley_common::{Conversation, MyRoom, RoomInfo, RoomName, Username};
use rusqlite::{Connection, params};

use super::text;
use crate::store::{MyConversation, StoreError, UserId};

/// The welcome's one statement. A conversation's peer is looked up in a `CASE`
/// (evaluated lazily, so only for conversations): a join would walk the lobby's
/// whole member index for every user who connects.
const ROOMS_AND_CONVERSATIONS: &str = "
    SELECT r.kind, r.name, r.last_seq, m.last_read, r.last_ts,
           CASE WHEN r.kind = 'dm' THEN
               (SELECT o.user_id FROM memberships o
                WHERE o.room_id = r.id AND o.user_id != m.user_id) END,
           CASE WHEN r.kind = 'dm' THEN
               (SELECT u.name FROM memberships o JOIN users u ON u.id = o.user_id
                WHERE o.room_id = r.id AND o.user_id != m.user_id) END,
           r.id
    FROM memberships m JOIN rooms r ON r.id = m.room_id
    WHERE m.user_id = ?1";

/// The user's rooms (by name) and private conversations (most recent first),
/// as `welcome` lists them: one statement, so one read transaction, on every
/// connect.
pub fn rooms_and_conversations(
    c: &Connection,
    user: UserId,
) -> Result<(Vec<MyRoom>, Vec<MyConversation>), StoreError> {
    let mut stmt = c.prepare_cached(ROOMS_AND_CONVERSATIONS)?;
    let mut rows = stmt.query(params![user.0])?;
    let (mut rooms, mut conversations) = (Vec::new(), Vec::new());
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        if kind == "room" {
            rooms.push(MyRoom {
                room: text(r, 1, RoomName::parse)?,
                last_seq: r.get(2)?,
                last_read: r.get(3)?,
            });
        } else if kind == "dm" {
            // A conversation whose other member is gone has no peer: not listed.
            let Some(peer) = r.get::<_, Option<i64>>(5)? else {
                continue;
            };
            let id: i64 = r.get(7)?;
            conversations.push((
                id,
                MyConversation {
                    peer: UserId(peer),
                    summary: Conversation {
                        with: text(r, 6, Username::parse)?,
                        last_seq: r.get(2)?,
                        last_read: r.get(3)?,
                        last_ts: r.get(4)?,
                        online: false,
                    },
                },
            ));
        }
    }
    rooms.sort_unstable_by(|a, b| a.room.as_str().cmp(b.room.as_str()));
    // Most recent first; at the same millisecond, the newer conversation.
    conversations.sort_unstable_by(|(a_id, a), (b_id, b)| {
        (b.summary.last_ts, b_id).cmp(&(a.summary.last_ts, a_id))
    });
    Ok((rooms, conversations.into_iter().map(|(_, c)| c).collect()))
}

pub fn room_list(c: &Connection, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT r.name,
                (SELECT COUNT(*) FROM memberships m WHERE m.room_id = r.id),
                EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?1)
         FROM rooms r WHERE r.kind = 'room' ORDER BY r.name",
    )?;
    let rows = stmt.query_map(params![user.0], |r| {
        Ok(RoomInfo {
            room: text(r, 0, RoomName::parse)?,
            members: r.get(1)?,
            joined: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// The welcome's read must not grow with the size of the user's rooms: with
    /// a join on the other members it stepped through the lobby's whole member
    /// index (1 ms per connect with 10,000 members). Counted in SQLite's virtual
    /// machine steps, not timed.
    #[test]
    fn the_welcome_read_does_not_walk_a_big_rooms_members() {
        let dir = std::env::temp_dir().join(format!("parley-welcome-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let mut c = crate::store::writer::open_connection(&db).unwrap();
        crate::store::migrate::apply(&mut c).unwrap();
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
             INSERT INTO users (id, name, name_key, password_hash, created_at)
                 SELECT i, 'u' || i, 'u' || i, '', 0 FROM n;
             INSERT INTO memberships (user_id, room_id, joined_at)
                 SELECT id, (SELECT id FROM rooms WHERE name = 'lobby'), 0 FROM users;
             INSERT INTO rooms (name, kind, created_at) VALUES ('@1:2', 'dm', 0);
             INSERT INTO memberships (user_id, room_id, joined_at)
                 SELECT u, (SELECT id FROM rooms WHERE name = '@1:2'), 0
                 FROM (SELECT 1 AS u UNION ALL SELECT 2);",
        )
        .unwrap();
        let (rooms, conversations) = rooms_and_conversations(&c, UserId(1)).unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(conversations.len(), 1);
        assert_eq!(conversations[0].peer, UserId(2));
        let steps = c
            .prepare_cached(ROOMS_AND_CONVERSATIONS)
            .unwrap()
            .get_status(StatementStatus::VmStep);
        assert!(steps < 1000, "{steps} steps for two rooms");
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

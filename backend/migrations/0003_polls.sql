-- Live polls. One row per (poll, user) in votes: changing a vote is an upsert,
-- so concurrent votes are counted exactly and nobody counts twice.

CREATE TABLE polls (
    id         INTEGER PRIMARY KEY,
    room_id    INTEGER NOT NULL REFERENCES rooms(id),
    creator_id INTEGER NOT NULL REFERENCES users(id),
    question   TEXT    NOT NULL,
    -- JSON array of the option texts, in order
    options    TEXT    NOT NULL,
    closes_at  INTEGER,
    closed     INTEGER NOT NULL DEFAULT 0,
    -- bumped by every change of the tally; clients detect gaps with it
    version    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE INDEX polls_by_room ON polls(room_id, id);

CREATE TABLE votes (
    poll_id    INTEGER NOT NULL REFERENCES polls(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    option     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (poll_id, user_id)
) WITHOUT ROWID;

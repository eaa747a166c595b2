-- Accounts, sessions, rooms, memberships and messages.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- lower-cased name: "Alice" and "alice" are one account
    name_key      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Only a hash of each session token is stored: a copy of the database does not
-- let anyone log in.
CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    -- the sequence number of the room's latest message (0: none yet)
    last_seq   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE memberships (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    room_id   INTEGER NOT NULL REFERENCES rooms(id),
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;

CREATE INDEX memberships_by_room ON memberships(room_id);

CREATE TABLE messages (
    room_id   INTEGER NOT NULL REFERENCES rooms(id),
    seq       INTEGER NOT NULL,
    sender_id INTEGER NOT NULL REFERENCES users(id),
    body      TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    client_id TEXT    NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;

-- A retried send (same sender, same client message id) is stored once.
CREATE UNIQUE INDEX messages_dedup ON messages(sender_id, client_id);

INSERT INTO rooms (name, created_by, created_at) VALUES ('lobby', NULL, 0);

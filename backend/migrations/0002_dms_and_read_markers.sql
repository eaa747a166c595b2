-- Private conversations and read markers.

-- A private conversation is a room of kind 'dm' with exactly its two users as
-- members, named '@<lower user id>:<higher user id>' (a name no user-created room
-- can have), so messages, sequence numbers and history work the same for both.
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'room';
-- Time of the latest message, for ordering conversations by recency.
ALTER TABLE rooms ADD COLUMN last_ts INTEGER NOT NULL DEFAULT 0;

-- The member's read marker: every message up to this sequence number was read.
ALTER TABLE memberships ADD COLUMN last_read INTEGER NOT NULL DEFAULT 0;

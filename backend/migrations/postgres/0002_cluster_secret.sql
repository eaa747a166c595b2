-- A secret shared by every node of a cluster (through the database they share):
-- it signs long-poll connection ids, so a node forwards a request only for an
-- id a node of this cluster made. 32 bytes from two random UUIDs
-- (gen_random_uuid is built in since PostgreSQL 13 and uses a strong source).
CREATE TABLE cluster_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret BYTEA   NOT NULL
);

INSERT INTO cluster_secret (id, secret)
VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

-- The audit ledger (shipgate-ledger). `body` is the canonical JSON text that was hashed
-- (TEXT, not JSONB, which would not keep the exact bytes); time, actor, action, subject
-- and env are copies of its fields for filtering, and `shipgate audit verify` checks that
-- they still agree with it.
CREATE TABLE ledger_entries (
    seq       BIGINT PRIMARY KEY,
    time      TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    env       TEXT,
    body      TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE INDEX ledger_entries_time ON ledger_entries (time);
CREATE INDEX ledger_entries_actor ON ledger_entries (actor);
CREATE INDEX ledger_entries_action ON ledger_entries (action);
CREATE INDEX ledger_entries_env ON ledger_entries (env);

-- One row: the number of entries and the ledger's Merkle frontier, updated with them.
-- Appenders lock it (SELECT … FOR UPDATE), which keeps the sequence gap-free.
CREATE TABLE ledger_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  BIGINT NOT NULL,
    state BYTEA NOT NULL
);
INSERT INTO ledger_head (id, size, state) VALUES (1, 0, '\x'::bytea);

-- Signed checkpoints (C2SP signed notes), written every N entries, at the end of every
-- deployment and on demand.
CREATE TABLE ledger_checkpoints (
    id        BIGSERIAL PRIMARY KEY,
    tree_size BIGINT NOT NULL,
    note      TEXT NOT NULL,
    created   TEXT NOT NULL
);
CREATE INDEX ledger_checkpoints_size ON ledger_checkpoints (tree_size);

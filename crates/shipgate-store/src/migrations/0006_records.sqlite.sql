-- Small versioned documents that need no table of their own: secrets (encrypted),
-- per-environment flag settings, approvals. Every write is a new version; a NULL value
-- is a removal (a tombstone), so the history is never lost.
CREATE TABLE records (
    kind    TEXT NOT NULL,
    scope   TEXT NOT NULL,
    name    TEXT NOT NULL,
    version INTEGER NOT NULL,
    value   TEXT,
    actor   TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (kind, scope, name, version)
);

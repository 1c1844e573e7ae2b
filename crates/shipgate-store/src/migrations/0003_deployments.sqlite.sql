-- Deployments: one row per deployment (or rollback) of a release to an environment. `plan` is
-- the engine's plan as JSON, opaque here; `finished` is NULL while the deployment is in flight,
-- and `next_step` is where its executor resumes after a restart. Ids are 1, 2, 3… across all
-- environments, assigned by the store.
CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY,
    environment  TEXT NOT NULL,
    version      TEXT NOT NULL,
    from_version TEXT,
    kind         TEXT NOT NULL,
    plan         TEXT NOT NULL,
    plan_digest  TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    actor        TEXT NOT NULL,
    created      TEXT NOT NULL,
    finished     TEXT,
    next_step    INTEGER NOT NULL
);
CREATE INDEX deployments_environment ON deployments (environment, id);
-- At most one deployment in flight per environment, whoever inserts it.
CREATE UNIQUE INDEX deployments_one_in_flight ON deployments (environment) WHERE finished IS NULL;

-- Each deployment's timeline: seq is 1, 2, 3… per deployment; `data` is JSON text, opaque here.
CREATE TABLE deployment_events (
    deployment INTEGER NOT NULL REFERENCES deployments (id),
    seq        INTEGER NOT NULL,
    time       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    step_index INTEGER,
    message    TEXT NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (deployment, seq)
);

-- What each environment runs, and what ran before it (for rollback, and whose instances stay
-- warm until `warm_until`).
CREATE TABLE environments (
    name             TEXT PRIMARY KEY,
    active_version   TEXT,
    active_since     TEXT,
    previous_version TEXT,
    warm_until       TEXT
);

-- API tokens: only the hex sha256 of each secret is stored.
CREATE TABLE api_tokens (
    id      TEXT PRIMARY KEY,
    hash    TEXT NOT NULL UNIQUE,
    name    TEXT NOT NULL,
    role    TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
);
CREATE INDEX api_tokens_created ON api_tokens (created, id);

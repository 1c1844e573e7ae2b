CREATE TABLE IF NOT EXISTS audit (id bigint PRIMARY KEY, at timestamptz NOT NULL);

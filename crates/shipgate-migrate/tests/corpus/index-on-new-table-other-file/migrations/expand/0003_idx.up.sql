CREATE INDEX IF NOT EXISTS events_kind ON events (kind);

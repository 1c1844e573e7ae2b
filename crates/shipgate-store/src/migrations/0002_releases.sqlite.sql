-- Releases: an immutable version label bound to the sha256 of its artifact, the commit it was
-- built from, who created it and when, and the shipgate.toml it was created with.
CREATE TABLE releases (
    version       TEXT PRIMARY KEY,
    digest        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    source_commit TEXT,
    creator       TEXT NOT NULL,
    created       TEXT NOT NULL,
    spec          TEXT NOT NULL
);

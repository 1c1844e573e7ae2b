-- Evidence stored with a release: the `[pipeline] test` result (exit status, JUnit summary) as
-- JSON, opaque to the store. NULL when the release was created without any.
ALTER TABLE releases ADD COLUMN evidence TEXT;

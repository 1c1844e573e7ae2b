ALTER TABLE plans ALTER COLUMN price TYPE bigint;

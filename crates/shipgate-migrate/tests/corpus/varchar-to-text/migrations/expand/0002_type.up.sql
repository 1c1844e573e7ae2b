ALTER TABLE accounts ALTER COLUMN email TYPE text;

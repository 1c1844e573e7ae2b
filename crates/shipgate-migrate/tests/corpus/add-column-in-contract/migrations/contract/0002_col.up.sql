ALTER TABLE accounts ADD COLUMN IF NOT EXISTS legacy_flag boolean;

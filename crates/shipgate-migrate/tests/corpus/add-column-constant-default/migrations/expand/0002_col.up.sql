ALTER TABLE accounts ADD COLUMN IF NOT EXISTS active boolean DEFAULT true;

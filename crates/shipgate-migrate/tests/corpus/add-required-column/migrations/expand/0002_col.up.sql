ALTER TABLE accounts ADD COLUMN plan text NOT NULL;

ALTER TABLE accounts RENAME COLUMN name TO full_name;

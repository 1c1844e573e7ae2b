CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100), name text, created_at timestamptz);
CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint, total numeric);

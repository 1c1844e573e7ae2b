CREATE INDEX IF NOT EXISTS orders_account ON orders (account_id);

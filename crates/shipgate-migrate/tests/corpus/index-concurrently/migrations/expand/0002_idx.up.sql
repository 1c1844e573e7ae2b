CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_account ON orders (account_id);

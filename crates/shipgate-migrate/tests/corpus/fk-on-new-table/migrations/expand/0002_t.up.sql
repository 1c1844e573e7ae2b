CREATE TABLE IF NOT EXISTS invoices (id bigint PRIMARY KEY, order_id bigint);

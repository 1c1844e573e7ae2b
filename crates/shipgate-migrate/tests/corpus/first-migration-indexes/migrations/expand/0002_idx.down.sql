DROP INDEX IF EXISTS orders_account;

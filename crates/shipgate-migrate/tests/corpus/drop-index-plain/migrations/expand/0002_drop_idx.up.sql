DROP INDEX orders_pkey;

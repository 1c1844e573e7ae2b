CREATE TABLE IF NOT EXISTS plans (id bigint PRIMARY KEY, price int);

CREATE TABLE IF NOT EXISTS tags (id int PRIMARY KEY, label text);

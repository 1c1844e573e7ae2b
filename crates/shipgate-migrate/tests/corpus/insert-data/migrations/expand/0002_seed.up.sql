INSERT INTO accounts (id, email) VALUES (1, 'ops@example.com') ON CONFLICT DO NOTHING;
